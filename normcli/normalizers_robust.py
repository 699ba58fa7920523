"""Normalizations built on exact percentiles: robust, quantile, quantile-match, and the
percentile clipping and channel groups that wrap minmax and zscore.

* robust: (x - median) / (q_hi - q_lo), as scikit-learn's RobustScaler;
* quantile: each value to its quantile (uniform) or on to the normal distribution, as
  scikit-learn's QuantileTransformer(subsample=None);
* quantile-match: each sample's values by rank to the mean sorted sample (Bolstad 2003);
* --clip-percentiles LO HI: clip to percentiles, then minmax/zscore fitted on the
  clipped values;
* --groups G: per-sample statistics over groups of C/G channels (group normalization:
  ``x.reshape(N, H, W, G, C // G)`` reduced over (1, 2, 4)).

Fits that span samples take several passes (:class:`Passes`): the engine feeds pass 1
through ``chunk_state``/``absorb`` as for any normalizer, then asks :meth:`next_pass`
for the consumer of the next pass until it returns None. The percentiles are exact
(normcli.quantiles), so the fitted figures equal scikit-learn's in memory.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from normcli.axes import ALL, format_axis
from normcli.errors import ParameterError
from normcli.normalizers import _EPS, MinMax, Normalizer, ZScore, _from_list, _row_blocks
from normcli.quantiles import PercentileScan, in_memory

#: sklearn.preprocessing.QuantileTransformer's margin at the ends of the table.
BOUNDS_THRESHOLD = 1e-7


class Passes:
    """Mixin: a fit over samples in several passes, each a scan of the data.

    :meth:`prepare_fit` (with the data's dtype) starts it; pass 1 goes through
    ``chunk_state``/``absorb``; :meth:`next_pass` ends a pass and returns the consumer
    (``chunk_state``/``absorb``) of the next one, or None once the fit is complete.
    """

    def prepare_fit(self, dtype) -> None:
        raise NotImplementedError

    def next_pass(self):
        raise NotImplementedError

    def fit(self, x: np.ndarray):
        """Fit on a whole in-memory array (every pass over it)."""
        x = np.asarray(x)
        self.reset()
        self.bind(x.shape)
        if not self.needs_fit:
            return self
        self.prepare_fit(x.dtype)
        consumer = self
        while consumer is not None:
            consumer.absorb(consumer.chunk_state(x, 0))
            consumer = self.next_pass()
        return self


def _scan(norm, dtype, q) -> PercentileScan:
    policy = "omit" if norm.nan_policy == "omit" else "propagate"
    return PercentileScan(
        norm.shape_, dtype, norm.axes_, q, "linear", nan_policy=policy, in_float64=True
    )


def _percent_q(percents) -> np.ndarray:
    """Fractions exactly as numpy.percentile makes them (q / 100)."""
    return np.true_divide(np.asarray(percents, dtype=np.float64), 100)


def _pair(value, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (0.0 <= lo < hi <= 100.0):
        raise ParameterError(f"{name} {lo:g} {hi:g}: give 0 <= LO < HI <= 100")
    return lo, hi


# -- robust ------------------------------------------------------------------------------


class Robust(Passes, Normalizer):
    """(x - median) / (q_hi - q_lo), scikit-learn's RobustScaler over any axes."""

    method = "robust"
    option_names = ("quantile_range", "no_centering", "no_scaling", "unit_variance")

    def __init__(
        self,
        axis=None,
        *,
        quantile_range=(25.0, 75.0),
        no_centering=False,
        no_scaling=False,
        unit_variance=False,
        nan_policy="raise",
    ):
        super().__init__(axis, nan_policy=nan_policy)
        self.quantile_range = _pair(quantile_range, "--quantile-range")
        self.with_centering = not no_centering
        self.with_scaling = not no_scaling
        self.unit_variance = bool(unit_variance)
        if not (self.with_centering or self.with_scaling):
            raise ParameterError("--no-centering with --no-scaling leaves nothing to do")
        self._percents = (self.quantile_range[0], 50.0, self.quantile_range[1])
        self._scanner = None

    def reset(self):
        self._scanner = None
        return super().reset()

    def prepare_fit(self, dtype):
        self._scanner = _scan(self, dtype, _percent_q(self._percents))

    def chunk_state(self, chunk, start):
        if not self.spans_samples:
            return None
        if self._scanner is None:
            self.prepare_fit(chunk.dtype)
        return self._scanner.chunk_state(chunk, start)

    def absorb(self, state):
        if state is not None:
            self._scanner.absorb(state)
        return self

    def partial_fit(self, chunk):
        if self.axes_ is None:
            self.bind(chunk.shape)
        if self.spans_samples:
            self.absorb(self.chunk_state(chunk, 0))
        return self

    def next_pass(self):
        scanner = self._scanner
        scanner.end_pass()
        if not scanner.done:
            return self
        self.state_ = self._from_percentiles(scanner.result())
        self._scanner = None
        return None

    def _from_percentiles(self, values):
        lo, median, hi = values[0], values[1], values[2]
        center = median if self.with_centering else None
        scale = None
        if self.with_scaling:
            scale = np.asarray(hi - lo, dtype=np.float64)
            scale = np.where(scale < 10 * _EPS, 1.0, scale)  # _handle_zeros_in_scale
            if self.unit_variance:
                normal = statistics.NormalDist()
                adjust = normal.inv_cdf(self.quantile_range[1] / 100.0) - normal.inv_cdf(
                    self.quantile_range[0] / 100.0
                )
                scale = scale / adjust
        return (center, scale)

    def _state_input(self, block):
        return block  # infinities are values at the ends

    def _block_state(self, block):
        values = in_memory(
            block, _percent_q(self._percents), self.axes_, "linear", self._policy, True
        )
        return self._from_percentiles(values)

    @property
    def _policy(self):
        return "omit" if self.nan_policy == "omit" else "propagate"

    def _coefficients(self, state):
        center, scale = state
        return (center, 1.0 if scale is None else scale, None)

    def _expanded(self, coeffs):
        center, divisor, offset = coeffs
        return (
            None if center is None else self._expand(center),
            np.asarray(divisor) if np.ndim(divisor) == 0 else self._expand(divisor),
            offset,
        )

    def options(self):
        return {
            "quantile_range": list(self.quantile_range),
            "with_centering": self.with_centering,
            "with_scaling": self.with_scaling,
            "unit_variance": self.unit_variance,
        }

    @staticmethod
    def kwargs_from_options(opts: dict) -> dict:
        return {
            "quantile_range": tuple(opts.get("quantile_range", (25.0, 75.0))),
            "no_centering": not opts.get("with_centering", True),
            "no_scaling": not opts.get("with_scaling", True),
            "unit_variance": bool(opts.get("unit_variance", False)),
        }

    def statistics(self):
        center, scale = self.state_
        out = {}
        if center is not None:
            out["center"] = center
        if scale is not None:
            out["scale"] = scale
        return out

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        center = _from_list(stats["center"], kept, "center") if self.with_centering else None
        scale = _from_list(stats["scale"], kept, "scale") if self.with_scaling else None
        self.state_ = (center, scale)


# -- quantile ----------------------------------------------------------------------------


def _norm_functions():
    try:
        from scipy.special import ndtr, ndtri
    except ImportError:
        raise ParameterError(
            "--output-distribution normal needs scipy: pip install 'normcli[stats]'"
        ) from None
    return ndtr, ndtri


def _kept_indices(shape, axes):
    """(index into the kept statistic, index into the data) for every kept slice."""
    kept = [d for d in range(len(shape)) if d not in axes]
    for idx in np.ndindex(*(shape[d] for d in kept)):
        where = [slice(None)] * len(shape)
        for d, i in zip(kept, idx, strict=True):
            where[d] = i
        yield idx, tuple(where)


class Quantile(Passes, Normalizer):
    """Each value to its quantile, then to the uniform (default) or normal distribution:
    scikit-learn's QuantileTransformer(n_quantiles, subsample=None) over any axes.
    Over axes without 0 (``--axis 1,2`` per image) it is each sample's histogram
    equalization."""

    method = "quantile"
    option_names = ("n_quantiles", "output_distribution")

    def __init__(
        self, axis=None, *, n_quantiles=1000, output_distribution="uniform", nan_policy="raise"
    ):
        super().__init__(axis, nan_policy=nan_policy)
        self.n_quantiles = int(n_quantiles)
        if self.n_quantiles < 2:
            raise ParameterError("--n-quantiles must be at least 2")
        if output_distribution not in ("uniform", "normal"):
            raise ParameterError("--output-distribution is uniform or normal")
        self.output_distribution = output_distribution
        if output_distribution == "normal":
            _norm_functions()
        self.references = np.linspace(0, 1, self.n_quantiles, endpoint=True)
        self._scanner = None

    def bind(self, shape, where="the array"):
        super().bind(shape, where)
        if not self.spans_samples:
            values = math.prod(shape[a] for a in self.axes_)
            if values < self.n_quantiles:
                raise ParameterError(
                    f"--n-quantiles {self.n_quantiles} is more than the {values} values of "
                    f"each slice of {where}; give at most {values}"
                )
        return self

    def reset(self):
        self._scanner = None
        return super().reset()

    def prepare_fit(self, dtype):
        self._scanner = _scan(self, dtype, _percent_q(self.references * 100))
        plan = self._scanner.search.plan

        def checked(n):
            low = int(n.min()) if n.size else 0
            if low < self.n_quantiles:
                raise ParameterError(
                    f"--n-quantiles {self.n_quantiles} is more than the {low} values of a "
                    f"slice of the data; give at most {low}"
                )
            return plan(n)

        self._scanner.search.plan = checked

    chunk_state = Robust.chunk_state
    absorb = Robust.absorb
    partial_fit = Robust.partial_fit

    def next_pass(self):
        scanner = self._scanner
        scanner.end_pass()
        if not scanner.done:
            return self
        self.state_ = np.maximum.accumulate(scanner.result(), axis=0)
        self._scanner = None
        return None

    @property
    def _policy(self):
        return "omit" if self.nan_policy == "omit" else "propagate"

    def _forward(self, x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
        refs = self.references
        lo_x, hi_x = quantiles[0], quantiles[-1]
        with np.errstate(invalid="ignore"):
            if self.output_distribution == "normal":
                lower = x - BOUNDS_THRESHOLD < lo_x
                upper = x + BOUNDS_THRESHOLD > hi_x
            else:
                lower = x == lo_x
                upper = x == hi_x
        finite = ~np.isnan(x)
        xf = x[finite]
        x[finite] = 0.5 * (
            np.interp(xf, quantiles, refs) - np.interp(-xf, -quantiles[::-1], -refs[::-1])
        )
        x[upper] = 1
        x[lower] = 0
        if self.output_distribution == "normal":
            _, ndtri = _norm_functions()
            with np.errstate(invalid="ignore", divide="ignore"):
                x = ndtri(x)
                clip_min = ndtri(BOUNDS_THRESHOLD - np.spacing(1))
                clip_max = ndtri(1 - (BOUNDS_THRESHOLD - np.spacing(1)))
                x = np.clip(x, clip_min, clip_max)
        return x

    def _inverse(self, x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
        refs = self.references
        if self.output_distribution == "normal":
            ndtr, _ = _norm_functions()
            with np.errstate(invalid="ignore"):
                x = ndtr(x)
        with np.errstate(invalid="ignore"):
            if self.output_distribution == "normal":
                lower = x - BOUNDS_THRESHOLD < 0
                upper = x + BOUNDS_THRESHOLD > 1
            else:
                lower = x == 0
                upper = x == 1
        finite = ~np.isnan(x)
        x[finite] = np.interp(x[finite], refs, quantiles)
        x[upper] = quantiles[-1]
        x[lower] = quantiles[0]
        return x

    def _map(self, chunk, out, dtype, inverse: bool):
        if self.axes_ is None:
            self.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        func = self._inverse if inverse else self._forward
        for start, block in _row_blocks(chunk, with_start=True):
            target = out[start : start + block.shape[0]]
            if self.spans_samples:
                if self.state_ is None:
                    raise RuntimeError("quantile must be fitted before transform")
                table = self.state_
            else:
                table = self._own_quantiles(block)
            for kept, where in _kept_indices(block.shape, self.axes_):
                x = np.array(block[where], dtype=np.float64)
                target[where] = func(x, table[(slice(None), *kept)])
        return out

    def _own_quantiles(self, block):
        q = _percent_q(self.references * 100)
        table = in_memory(block, q, self.axes_, "linear", self._policy, True)
        return np.maximum.accumulate(table, axis=0)

    def transform(self, chunk, out=None, dtype=np.float32):
        return self._map(chunk, out, dtype, inverse=False)

    def inverse_transform(self, chunk, out=None, dtype=np.float32):
        if not self.invertible:
            raise ParameterError(self.not_invertible_reason())
        return self._map(chunk, out, dtype, inverse=True)

    def options(self):
        return {
            "n_quantiles": self.n_quantiles,
            "output_distribution": self.output_distribution,
        }

    @staticmethod
    def kwargs_from_options(opts: dict) -> dict:
        return {
            "n_quantiles": int(opts.get("n_quantiles", 1000)),
            "output_distribution": opts.get("output_distribution", "uniform"),
        }

    def statistics(self):
        return {"quantiles": self.state_}

    def _load_statistics(self, stats):
        kept = (self.n_quantiles, *self._kept(self.shape_))
        self.state_ = _from_list(stats["quantiles"], kept, "quantiles")


# -- quantile-match (Bolstad 2003) ---------------------------------------------------------


class QuantileMatch(Normalizer):
    """Every sample's values replaced, rank for rank, by the mean sorted sample (quantile
    normalization as in genomics, histogram matching): pass 1 sums the sorted samples,
    pass 2 maps. Ties get the mean of their ranks (the mean of the two reference values
    around it when that is half way), as preprocessCore's normalize.quantiles does."""

    method = "quantile-match"

    def __init__(self, axis=None, *, nan_policy="raise"):
        if axis not in (None, ALL):
            raise ParameterError(
                "--axis does not apply to -m quantile-match (samples are the rows along "
                "axis 0, each matched as a whole)"
            )
        if nan_policy != "raise":
            raise ParameterError("-m quantile-match takes no NaN: use --nan raise")
        super().__init__(ALL, nan_policy=nan_policy)

    @property
    def spans_samples(self):
        return self.axes_ is not None

    def _kept(self, shape):
        return tuple(shape[1:])

    def chunk_state(self, chunk, start):
        rows = chunk.reshape(chunk.shape[0], -1)
        total = np.sort(rows, axis=1).astype(np.float64).sum(axis=0)
        return (total, rows.shape[0])

    def absorb(self, state):
        if state is None:
            return self
        if self.state_ is None:
            self.state_ = (state[0].copy(), state[1])
        else:
            self.state_ = (self.state_[0] + state[0], self.state_[1] + state[1])
        return self

    def partial_fit(self, chunk):
        if self.axes_ is None:
            self.bind(chunk.shape)
        return self.absorb(self.chunk_state(chunk, 0))

    def reference(self) -> np.ndarray:
        total, n = self.state_
        return total / n

    def transform(self, chunk, out=None, dtype=np.float32):
        if self.axes_ is None:
            self.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        ref = self.reference()
        for start, block in _row_blocks(chunk, with_start=True):
            rows = block.reshape(block.shape[0], -1)
            mapped = match_ranks(rows, ref)
            out[start : start + block.shape[0]] = mapped.reshape(block.shape)
        return out

    @property
    def invertible(self):
        return False

    def not_invertible_reason(self):
        return "quantile-match keeps only the ranks of each sample: it cannot be inverted"

    def statistics(self):
        _, n = self.state_
        return {"reference": self.reference().reshape(self.shape_[1:]), "samples": n}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        ref = _from_list(stats["reference"], kept, "reference").reshape(-1)
        n = int(stats.get("samples", 1))
        self.state_ = (ref * n, n)


def match_ranks(rows: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each row's values by rank to ``ref`` (sorted); ties take the mean of their ranks."""
    order = np.argsort(rows, axis=1, kind="stable")
    ranked = np.take_along_axis(rows, order, axis=1)
    n = rows.shape[1]
    positions = np.broadcast_to(np.arange(n), rows.shape)
    starts = np.ones(rows.shape, dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    ends = np.ones(rows.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, positions, n - 1)[:, ::-1], axis=1)[:, ::-1]
    twice = first + last  # twice the mean rank of the tie group
    value = 0.5 * (ref[twice // 2] + ref[(twice + 1) // 2])
    out = np.empty(rows.shape, dtype=np.float64)
    np.put_along_axis(out, order, value, axis=1)
    return out


# -- wrappers of minmax and zscore -----------------------------------------------------------


class _Wrapper:
    """Delegates everything it does not define to the wrapped normalizer."""

    def __init__(self, inner: Normalizer):
        self.inner = inner

    def __getattr__(self, name):
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)


class ClipPercentiles(Passes, _Wrapper):
    """Clip to the LO and HI percentiles (over the method's axes), then minmax or zscore
    fitted on the clipped values: pass 1 (and more) the percentiles, then a pass that
    fits the method on the clipped data, then the transform of the clipped data.
    ``invert`` undoes the scaling only: what was clipped stays clipped."""

    fits_from_moments = False

    def __init__(self, inner: Normalizer, clip_percentiles):
        super().__init__(inner)
        self.clip_percentiles = _pair(clip_percentiles, "--clip-percentiles")
        self.bounds = None
        self._scanner = None
        self._phase = "percentiles"

    @property
    def state_(self):
        return self.inner.state_

    def bind(self, shape, where="the array"):
        self.inner.bind(shape, where)
        return self

    def reset(self):
        self.inner.reset()
        self.bounds = None
        self._scanner = None
        self._phase = "percentiles"
        return self

    def prepare_fit(self, dtype):
        self._scanner = _scan(self.inner, dtype, _percent_q(self.clip_percentiles))
        self._phase = "percentiles"

    def _clip(self, chunk, bounds):
        lo, hi = bounds
        x = np.asarray(chunk, dtype=np.float64)
        return np.clip(x, lo, hi)

    def _expanded_bounds(self):
        axes = self.inner.axes_
        return tuple(np.expand_dims(b, axes) if np.ndim(b) else b for b in self.bounds)

    def chunk_state(self, chunk, start):
        if not self.inner.spans_samples:
            return None
        if self._phase == "percentiles":
            if self._scanner is None:
                self.prepare_fit(chunk.dtype)
            return self._scanner.chunk_state(chunk, start)
        return self.inner.chunk_state(self._clip(chunk, self._expanded_bounds()), start)

    def absorb(self, state):
        if state is None:
            return self
        if self._phase == "percentiles":
            self._scanner.absorb(state)
        else:
            self.inner.absorb(state)
        return self

    def next_pass(self):
        if self._phase == "percentiles":
            self._scanner.end_pass()
            if not self._scanner.done:
                return self
            values = self._scanner.result()
            self.bounds = (values[0], values[1])
            self._scanner = None
            self._phase = "fit"
            return self
        self._phase = "done"
        return None

    def _own_bounds(self, block):
        policy = "omit" if self.inner.nan_policy == "omit" else "propagate"
        axes = self.inner.axes_
        values = in_memory(block, _percent_q(self.clip_percentiles), axes, "linear", policy, True)
        return tuple(np.expand_dims(v, axes) for v in values)

    def transform(self, chunk, out=None, dtype=np.float32):
        inner = self.inner
        if inner.axes_ is None:
            inner.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        for start, block in _row_blocks(chunk, with_start=True):
            bounds = self._expanded_bounds() if inner.spans_samples else self._own_bounds(block)
            inner.transform(self._clip(block, bounds), out=out[start : start + block.shape[0]])
        return out

    def params(self):
        doc = self.inner.params()
        doc["options"]["clip_percentiles"] = list(self.clip_percentiles)
        if "statistics" in doc and self.bounds is not None:
            doc["statistics"]["clip_lo"] = np.asarray(self.bounds[0]).tolist()
            doc["statistics"]["clip_hi"] = np.asarray(self.bounds[1]).tolist()
        return doc

    def _load_statistics(self, stats):
        self.inner._load_statistics(stats)
        kept = self.inner._kept(self.inner.shape_)
        self.bounds = (
            _from_list(stats["clip_lo"], kept, "clip_lo"),
            _from_list(stats["clip_hi"], kept, "clip_hi"),
        )


class Groups(_Wrapper):
    """Group normalization's statistics: the last (channel) axis split into G groups of
    C/G channels, statistics per sample per group (``--axis 1,2,3 --groups G`` on (N,
    H, W, C) reduces ``x.reshape(N, H, W, G, C // G)`` over (1, 2, 4))."""

    def __init__(self, inner: Normalizer, groups: int):
        super().__init__(inner)
        self.groups = int(groups)
        if self.groups < 1:
            raise ParameterError("--groups must be 1 or more")
        self.shape_ = None
        self.axes_ = None

    def bind(self, shape, where="the array"):
        shape = tuple(shape)
        ndim = len(shape)
        from normcli.axes import resolve_axes

        axes = resolve_axes(self.inner.axis, ndim, where)
        last = ndim - 1
        if 0 in axes or last not in axes or ndim < 2:
            raise ParameterError(
                f"--groups splits the channels of each sample: give per-sample axes that "
                f"include the last axis (e.g. --axis {','.join(map(str, range(1, ndim)))}); "
                f"got --axis {format_axis(axes)} on {where} of shape {shape}"
            )
        channels = shape[-1]
        if channels % self.groups:
            raise ParameterError(
                f"--groups {self.groups} does not divide the {channels} channels (last axis) "
                f"of {where} of shape {shape}"
            )
        self.shape_ = shape
        self.axes_ = axes
        split = (*shape[:-1], self.groups, channels // self.groups)
        self.inner.axis = (*(a for a in axes if a != last), last + 1)
        self.inner.axes_ = None
        self.inner.bind(split, where)
        return self

    def _split(self, a):
        return a.reshape(*a.shape[:-1], self.groups, a.shape[-1] // self.groups)

    def transform(self, chunk, out=None, dtype=np.float32):
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        self.inner.transform(self._split(chunk), out=self._split(out))
        return out

    def params(self):
        doc = self.inner.params()
        doc["options"]["groups"] = self.groups
        return doc


#: The methods this module adds, the options each takes, and their flags.
METHODS = {"robust": Robust, "quantile": Quantile, "quantile-match": QuantileMatch}
METHOD_OPTIONS = {
    "robust": {"quantile_range", "no_centering", "no_scaling", "unit_variance"},
    "quantile": {"n_quantiles", "output_distribution"},
    "quantile-match": set(),
}
#: Options that wrap a method's normalizer, and the methods that take them.
WRAPPERS = {"clip_percentiles": ClipPercentiles, "groups": Groups}
WRAPPED = {"clip_percentiles": ("minmax", "zscore"), "groups": ("minmax", "zscore")}
FLAGS = {
    "quantile_range": "quantile-range",
    "no_centering": "no-centering",
    "no_scaling": "no-scaling",
    "unit_variance": "unit-variance",
    "n_quantiles": "n-quantiles",
    "output_distribution": "output-distribution",
    "clip_percentiles": "clip-percentiles",
    "groups": "groups",
}
_ = (MinMax, ZScore)  # the methods wrapped
