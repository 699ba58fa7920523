"""-m quantile (scikit-learn's QuantileTransformer(subsample=None), exact, over any axes;
per sample it is histogram equalization) and -m quantile-match (Bolstad 2003)."""

from __future__ import annotations

import math

import numpy as np

from normcli.axes import ALL
from normcli.errors import ParameterError
from normcli.normalizers.base import Normalizer, _from_list, _row_blocks
from normcli.normalizers.robust import Passes, Robust, _percent_q, _scan
from normcli.quantiles import in_memory

#: sklearn.preprocessing.QuantileTransformer's margin at the ends of the table.
BOUNDS_THRESHOLD = 1e-7


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
