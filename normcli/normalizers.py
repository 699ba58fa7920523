"""One class per normalization method, with scikit-learn's interface.

Every method is an affine map per slice of the data::

    y = (x - center) / divisor + offset

with ``center``, ``divisor`` and ``offset`` arrays of the *kept* shape (the data's
shape without the reduce axes). What differs is where they come from:

==========  ===============  ==================  ======================
method      center           divisor             offset
==========  ===============  ==================  ======================
minmax      min              (max-min)/(hi-lo)   lo
per-image   min per sample   (max-min)/(hi-lo)   lo
zscore      mean             std                 0
lp          0                the p-norm          0
scale       0                1/factor            0
==========  ===============  ==================  ======================

A constant slice gets divisor 1 (scikit-learn's ``_handle_zeros_in_scale``), so it
maps to ``lo`` for minmax and to 0 for zscore, and a zero norm leaves the slice
unchanged (keras.utils.normalize). The written form divides, as the familiar
formulas do: ``(img - img.min()) / np.ptp(img)``, ``x / 255``, ``x / norm``.

When the reduce axes include 0 the statistic spans samples: :meth:`partial_fit` is
fed every chunk (pass 1), the fitted state ends in ``_`` and :meth:`transform`
applies it (pass 2). Otherwise each sample is normalized with its own statistics
inside :meth:`transform` and there is nothing to fit.
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

import numpy as np

from normcli import __version__
from normcli.axes import ALL, AxisSpec, format_axis, kept_shape, parse_axis, resolve_axes
from normcli.errors import ParameterError
from normcli.stats import BLOCK, Accumulator, GridFold, Moments, grid_state, group_rows

PARAMS_FORMAT = "normcli-params/1"
_EPS = np.finfo(np.float64).eps


def parse_factor(text: str | float) -> tuple[float, float]:
    """``"1/255"`` -> ``(1/255, 255.0)``: the factor and the exact divisor it means."""
    if isinstance(text, (int, float)):
        frac = Fraction(text).limit_denominator(10**12) if text else Fraction(0)
        value = float(text)
    else:
        try:
            frac = Fraction(text.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{text!r} is not a number or a fraction such as 1/255") from None
        value = float(frac)
    if frac == 0 or not math.isfinite(value):
        raise ValueError(f"--factor {text} would destroy the data; give a nonzero factor")
    return value, float(1 / frac)


def parse_order(text: str | float) -> float:
    """``--order``: 0, 1, 2, inf or any p > 0, as numpy's vector norms."""
    if isinstance(text, str):
        value = text.strip().lower()
        if value in ("inf", "infinity", "max"):
            return math.inf
        try:
            p = float(value)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a norm order; use 1, 2, inf, 0 or any p > 0"
            ) from None
    else:
        p = float(text)
    if not (p >= 0) or (math.isinf(p) and p < 0):
        raise ValueError(f"--order {text}: use 1, 2, inf, 0 or any p > 0")
    return p


class Normalizer:
    """Base class: fit/partial_fit, transform, inverse_transform, params."""

    method = "?"
    #: The axis rule's default for this method.
    default_axis: AxisSpec = ALL
    #: Options the method accepts (for validation and params files).
    option_names: tuple[str, ...] = ()
    #: True when merging two parts' states is not exact (sums): fitting then folds the
    #: states of fixed groups of rows in order (a GridFold), so that the fitted state
    #: does not depend on the chunks.
    grid_fit = False

    def __init__(self, axis: AxisSpec | None = None, *, nan_policy: str = "raise"):
        self.axis: AxisSpec = self.default_axis if axis is None else axis
        self.nan_policy = nan_policy
        self.axes_: tuple[int, ...] | None = None
        self.shape_: tuple[int, ...] | None = None
        self.state_ = None
        self._coefficients_of: tuple | None = None  # (state, expanded coefficients)

    @property
    def state_(self):
        """The fitted state (None before fitting)."""
        if self._fold is not None and self._fold_open:
            self._state = self._fold.result()
            self._fold_open = False
        return self._state

    @state_.setter
    def state_(self, value) -> None:
        self._state = value
        self._fold: GridFold | None = None
        self._fold_open = False
        self._fed = 0  # rows given to partial_fit

    # -- binding to an array --------------------------------------------------------------

    def bind(self, shape: tuple[int, ...], where: str = "the array") -> Normalizer:
        """Resolve the axes for arrays of ``shape`` (axis 0 is the sample axis)."""
        axes = resolve_axes(self.axis, len(shape), where)
        self._check_axes(axes, where)
        fitted = self.axes_ is not None and self.state_ is not None
        if fitted and (axes != self.axes_ or self._kept(shape) != self._kept(self.shape_)):
            raise ParameterError(
                f"the {self.method} parameters were fitted on shape {tuple(self.shape_)} "
                f"over axes {format_axis(self.axes_)}; they do not fit {where} of shape "
                f"{tuple(shape)}"
            )
        self.axes_ = axes
        if self.shape_ is None or self.state_ is None:
            self.shape_ = tuple(shape)
        return self

    def _check_axes(self, axes, where):
        pass

    def _kept(self, shape) -> tuple[int, ...]:
        return kept_shape(tuple(shape), self.axes_)[0 if self.spans_samples else 1 :]

    @property
    def spans_samples(self) -> bool:
        """True when the statistic is computed across samples (two passes)."""
        return self.axes_ is not None and 0 in self.axes_

    @property
    def needs_fit(self) -> bool:
        """True when pass 1 must see every chunk before transform can run."""
        return self.spans_samples

    @property
    def is_fitted(self) -> bool:
        return self.state_ is not None or not self.spans_samples

    # -- fitting ---------------------------------------------------------------------------

    def reset(self) -> Normalizer:
        self.state_ = None
        return self

    def fit(self, x: np.ndarray) -> Normalizer:
        """Fit on a whole in-memory array (reset, then partial_fit)."""
        self.reset()
        self.bind(np.shape(x))
        return self.partial_fit(x)

    def partial_fit(self, chunk: np.ndarray) -> Normalizer:
        """Fold the statistics of the next chunk of rows into the fitted state."""
        if self.axes_ is None:
            self.bind(chunk.shape)
        if not self.spans_samples:
            return self
        start = self._fed
        state = self.chunk_state(chunk, start)
        self.absorb(state)
        self._fed = start + chunk.shape[0]
        return self

    def chunk_state(self, chunk: np.ndarray, start: int):
        """The fitted state of one chunk of rows, whose first row is row ``start`` of
        the array, alone (None when there is nothing to fit).

        A pure function of the chunk, ``start`` and the bound configuration, so workers
        may call it concurrently; :meth:`absorb` merges the results in chunk order.
        """
        if not self.spans_samples:
            return None
        if self.grid_fit:
            return grid_state(chunk, start, group_rows(chunk.shape), self._group_state)
        state = None
        for block in _row_blocks(chunk):
            part = self._group_state(block)
            state = part if state is None else self._merge(state, part)
        return state

    def _group_state(self, rows: np.ndarray):
        return self._block_state(self._state_input(rows))

    def _fold_merge(self, a, b):
        return b if a is None else self._merge(a, b)

    def absorb(self, state) -> Normalizer:
        """Merge the :meth:`chunk_state` of the next chunk into the fitted state."""
        if state is None:
            return self
        if self.grid_fit:
            if self._fold is None:
                fed = self._fed
                self.state_ = None
                self._fold, self._fed = GridFold(self._group_state, self._fold_merge), fed
            self._fold.absorb(state)
            self._fold_open = True
        else:
            self.state_ = state if self.state_ is None else self._merge(self.state_, state)
        return self

    #: True when the fitted state over all axes is part of the whole-array Moments.
    fits_from_moments = False

    def fit_from_moments(self, m: Moments) -> bool:
        """Take the fitted state from whole-array Moments (over all axes), if the
        method's statistic is one of them; returns False when it must see the data."""
        return False

    def _global_and_finite(self, m: Moments) -> bool:
        all_axes = self.axes_ == tuple(range(len(self.shape_ or ())))
        return all_axes and int(m.nan) == 0 and int(m.inf) == 0

    # -- applying --------------------------------------------------------------------------

    def transform(
        self, chunk: np.ndarray, out: np.ndarray | None = None, dtype=np.float32
    ) -> np.ndarray:
        """Normalize a chunk of rows; returns ``out`` (allocated as ``dtype`` if None)."""
        if self.axes_ is None:
            self.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        if self.spans_samples:
            if self.state_ is None:
                raise RuntimeError(f"{self.method} must be fitted before transform")
            coeffs = self._fitted_coefficients()
        for start, block in _row_blocks(chunk, with_start=True):
            if not self.spans_samples:
                state = self._block_state(self._state_input(block))
                coeffs = self._expanded(self._coefficients(state))
            self._apply(block, coeffs, out[start : start + block.shape[0]])
        return out

    def inverse_transform(
        self, chunk: np.ndarray, out: np.ndarray | None = None, dtype=np.float32
    ) -> np.ndarray:
        """Undo :meth:`transform` with the fitted state."""
        if not self.invertible:
            raise ParameterError(self.not_invertible_reason())
        if self.axes_ is None:
            self.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        center, divisor, offset = self._fitted_coefficients()
        for start, block in _row_blocks(chunk, with_start=True):
            x = _scratch(block)
            if offset is not None:
                np.subtract(x, offset, out=x)
            np.multiply(x, divisor, out=x)
            if center is not None:
                np.add(x, center, out=x)
            _store(x, out[start : start + block.shape[0]])
        return out

    def _fitted_coefficients(self) -> tuple:
        """The fitted state's coefficients, expanded to broadcast over chunks; kept
        while the state is the same (transform is called once per group of rows)."""
        state = self.state_
        cached = self._coefficients_of
        if cached is None or cached[0] is not state:
            cached = self._coefficients_of = (state, self._expanded(self._coefficients(state)))
        return cached[1]

    @property
    def invertible(self) -> bool:
        return self.spans_samples

    def not_invertible_reason(self) -> str:
        return (
            f"{self.method} over axes {format_axis(self.axes_)} normalizes each sample with "
            "its own statistics, which are not saved: it cannot be inverted"
        )

    def _state_input(self, block: np.ndarray) -> np.ndarray:
        """The values statistics are taken from: with --nan omit, infinities are left
        out like NaN (they stay in the data, transformed)."""
        if self.nan_policy == "omit" and block.dtype.kind == "f":
            finite = np.isfinite(block)
            if not finite.all():
                return np.where(np.isinf(block), np.nan, block)
        return block

    # -- the per-method parts ---------------------------------------------------------------

    def _block_state(self, block: np.ndarray):
        raise NotImplementedError

    def _merge(self, a, b):
        raise NotImplementedError

    def _coefficients(self, state) -> tuple:
        """(center, divisor, offset) of the kept shape; None where not used."""
        raise NotImplementedError

    def _expanded(self, coeffs):
        return tuple(None if c is None else self._expand(c) for c in coeffs)

    def _expand(self, c) -> np.ndarray:
        c = np.asarray(c, dtype=np.float64)
        # a scalar (minmax's LO) broadcasts as it is; expanding it to the reduce axes
        # fails when they are not the leading ones (--axis 1 on (N, F) data)
        return c if c.ndim == 0 else np.expand_dims(c, self.axes_)

    def _apply(self, block, coeffs, out):
        center, divisor, offset = coeffs
        x = _scratch(block)  # a private float64 copy: uint8 never wraps
        if center is not None:
            np.subtract(x, center, out=x)
        np.divide(x, divisor, out=x)
        if offset is not None:
            np.add(x, offset, out=x)
        self._post(x)
        _store(x, out)

    def _post(self, x: np.ndarray) -> None:
        pass

    # -- parameters ----------------------------------------------------------------------

    def options(self) -> dict:
        return {}

    def statistics(self) -> dict[str, np.ndarray]:
        """The fitted statistics (kept shape), for params files and reports."""
        return {}

    def params(self) -> dict:
        """A JSON-ready description: method, axis, options and fitted statistics."""
        doc = {
            "method": self.method,
            "axis": format_axis(self.axis) if self.axis == ALL else list(self.axis),
            "axes": None if self.axes_ is None else list(self.axes_),
            "options": self.options(),
        }
        if self.spans_samples and self.state_ is not None:
            doc["statistics"] = {k: _to_list(v) for k, v in self.statistics().items()}
        return doc

    def _load_statistics(self, stats: dict) -> None:
        raise NotImplementedError


# -- helpers ---------------------------------------------------------------------------


def _row_blocks(chunk: np.ndarray, with_start: bool = False):
    """Blocks of whole rows of about BLOCK elements (at least one row)."""
    rows = chunk.shape[0]
    per_row = max(1, math.prod(chunk.shape[1:]))
    step = max(1, BLOCK // per_row)
    for start in range(0, rows, step):
        block = chunk[start : start + step]
        yield (start, block) if with_start else block


_scratch_space = threading.local()


def _scratch(block: np.ndarray) -> np.ndarray:
    """``block`` as float64 in a buffer reused by this thread (a block is at most about
    BLOCK values, or one row)."""
    size = block.size
    buf = getattr(_scratch_space, "buf", None)
    if buf is None or buf.size < size:
        buf = _scratch_space.buf = np.empty(max(size, BLOCK))
    x = buf[:size].reshape(block.shape)
    np.copyto(x, block)
    return x


def _store(x: np.ndarray, out: np.ndarray) -> None:
    if out.dtype.kind in "iu":
        info = np.iinfo(out.dtype)
        np.rint(x, out=x)
        np.clip(x, info.min, info.max, out=x)
    np.copyto(out, x, casting="unsafe")


def _to_list(value) -> object:
    arr = np.asarray(value)
    return arr.tolist() if arr.dtype.kind in "iu" else arr.astype(np.float64).tolist()


def _from_list(value, kept: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != kept:
        raise ParameterError(
            f"params statistic {name!r} has shape {arr.shape}, expected {kept}; "
            "the params file does not match"
        )
    return arr


def _powers_fit(dtype: np.dtype) -> bool:
    """True when squares of the values, and sums of them, are finite and normal in
    float64: floats of at most 32 bits, integers and booleans."""
    dtype = np.dtype(dtype)
    return dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 4)


def _nan_reduce(kind: str, nan_policy: str):
    if kind == "min":
        return np.minimum.reduce if nan_policy == "propagate" else np.fmin.reduce
    return np.maximum.reduce if nan_policy == "propagate" else np.fmax.reduce


# -- the methods ------------------------------------------------------------------------


class MinMax(Normalizer):
    """(x - min) / (max - min) * (hi - lo) + lo; a constant slice maps to lo."""

    method = "minmax"
    fits_from_moments = True
    option_names = ("feature_range", "clip")

    def __init__(self, axis=None, *, feature_range=(0.0, 1.0), clip=False, nan_policy="raise"):
        super().__init__(axis, nan_policy=nan_policy)
        lo, hi = (float(v) for v in feature_range)
        if not lo < hi:
            raise ParameterError(f"--range {lo:g} {hi:g}: LO must be smaller than HI")
        self.feature_range = (lo, hi)
        self.clip = bool(clip)

    def _block_state(self, block):
        with np.errstate(invalid="ignore"):
            lo = _nan_reduce("min", self.nan_policy)(block, axis=self.axes_)
            hi = _nan_reduce("max", self.nan_policy)(block, axis=self.axes_)
        return (np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))

    def _merge(self, a, b):
        if self.nan_policy == "propagate":
            return (np.minimum(a[0], b[0]), np.maximum(a[1], b[1]))
        return (np.fmin(a[0], b[0]), np.fmax(a[1], b[1]))

    def _coefficients(self, state):
        data_min, data_max = state
        lo, hi = self.feature_range
        with np.errstate(invalid="ignore", over="ignore"):
            data_range = data_max - data_min
            data_range = np.where(data_range < 10 * _EPS, 1.0, data_range)
            divisor = data_range / (hi - lo) if (hi - lo) != 1.0 else data_range
        return (data_min, divisor, lo if lo != 0.0 else None)

    def fit_from_moments(self, m: Moments) -> bool:
        if not self._global_and_finite(m) or not self.spans_samples:
            return False
        self.state_ = (np.asarray(m.min, dtype=np.float64), np.asarray(m.max, dtype=np.float64))
        return True

    def _post(self, x):
        if self.clip:
            np.clip(x, *self.feature_range, out=x)

    def options(self):
        return {"range": list(self.feature_range), "clip": self.clip}

    def statistics(self):
        return {"min": self.state_[0], "max": self.state_[1]}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        self.state_ = (_from_list(stats["min"], kept, "min"), _from_list(stats["max"], kept, "max"))


class PerImage(MinMax):
    """(x - min) / (max - min) per sample: the familiar (img - img.min()) / np.ptp(img)."""

    method = "per-image"

    def __init__(self, axis=None, **kwargs):
        super().__init__(axis, **kwargs)

    def bind(self, shape, where="the array"):
        if self.axis == ALL:
            if len(shape) < 2:
                raise ParameterError(
                    f"-m per-image needs samples with at least one axis; {where} has shape "
                    f"{tuple(shape)} (use -m minmax for one range over all values)"
                )
            self.axis = tuple(range(1, len(shape)))  # the default: all but the sample axis
        return super().bind(shape, where)

    def _check_axes(self, axes, where):
        if 0 in axes:
            raise ParameterError(
                "-m per-image normalizes each sample on its own, so --axis cannot include 0; "
                f"use -m minmax --axis {format_axis(axes)} for statistics across samples"
            )


class ZScore(Normalizer):
    """(x - mean) / std; a constant slice maps to 0 (std taken as 1)."""

    method = "zscore"
    fits_from_moments = True
    grid_fit = True
    option_names = ("ddof", "eps")

    def __init__(self, axis=None, *, ddof=0, eps=None, nan_policy="raise"):
        super().__init__(axis, nan_policy=nan_policy)
        self.ddof = int(ddof)
        if self.ddof < 0:
            raise ParameterError("--ddof must be 0 or more")
        self.eps = None if eps is None else float(eps)
        if self.eps is not None and not self.eps >= 0:
            raise ParameterError("--eps must be 0 or more")

    def _block_state(self, block):
        acc = Accumulator(block.shape, block.dtype, self.axes_)
        acc.update(block)
        return acc.result()

    def _merge(self, a: Moments, b: Moments) -> Moments:
        return a.merge(b)

    def fit_from_moments(self, m: Moments) -> bool:
        if not self._global_and_finite(m):
            return False
        self.state_ = m
        return True

    def _mean_std(self, m: Moments):
        n = m.n.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, m.mean, np.nan)
            var0 = m.m2 / n
            var = m.m2 / np.maximum(n - self.ddof, 0)
            var = np.where(n - self.ddof > 0, var, 0.0)
        if self.nan_policy == "propagate":
            mean = np.where(m.nan > 0, np.nan, mean)
            var = np.where(m.nan > 0, np.nan, var)
        return mean, var, var0, n

    def _coefficients(self, state: Moments):
        mean, var, var0, n = self._mean_std(state)
        if self.eps is not None:
            std = np.sqrt(var + self.eps)
        else:
            std = np.sqrt(var)
        # scikit-learn's test for features indistinguishable from constants
        with np.errstate(invalid="ignore", over="ignore"):
            constant = var0 <= n * _EPS * var0 + (n * mean * _EPS) ** 2
        if self.eps is None:
            std = np.where(constant, 1.0, std)
        std = np.where(std == 0, 1.0, std)
        return (mean, std, None)

    def options(self):
        return {"ddof": self.ddof, "eps": self.eps}

    def statistics(self):
        mean, var, _, n = self._mean_std(self.state_)
        return {"mean": mean, "std": np.sqrt(var), "n": n.astype(np.int64)}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        mean = _from_list(stats["mean"], kept, "mean")
        std = _from_list(stats["std"], kept, "std")
        n = _from_list(stats.get("n", np.full(kept, 2.0)), kept, "n")
        # Rebuild Moments that give back exactly this mean and std.
        denom = np.maximum(n - self.ddof, 0)
        m = Moments.empty(kept)
        m.n = n.astype(np.int64)
        m.shift = mean.copy()
        m.dmean = np.zeros(kept)
        m.m2 = std * std * denom
        self.state_ = m


class Lp(Normalizer):
    """x / ||x||_p over the reduce axes; a zero norm leaves the slice unchanged."""

    method = "lp"
    default_axis = (-1,)
    grid_fit = True
    option_names = ("order",)

    def __init__(self, axis=None, *, order=2.0, nan_policy="raise"):
        super().__init__(axis, nan_policy=nan_policy)
        self.order = parse_order(order)

    # state: (scale m = max|x|, s = sum((|x|/m)**p)) so that norm = m * s**(1/p) never
    # overflows (values near 1e200 are fine); order inf keeps m, order 0 keeps a count.
    def _block_state(self, block):
        if self.order in (1, 2) and _powers_fit(block.dtype):
            state = self._unscaled_state(block)
            if state is not None:
                return state
        x = np.abs(np.asarray(block, dtype=np.float64))
        nan_mask = None
        if x.dtype.kind == "f" and self.nan_policy != "propagate":
            nan_mask = np.isnan(x)
            if nan_mask.any():
                x[nan_mask] = 0.0
        p = self.order
        if p == 0:
            return (np.count_nonzero(x, axis=self.axes_).astype(np.float64), None)
        with np.errstate(invalid="ignore"):
            m = x.max(axis=self.axes_)
        if math.isinf(p):
            return (m, None)
        safe = np.where(m > 0, m, 1.0)
        x /= np.expand_dims(safe, self.axes_)
        if p == 2:
            np.multiply(x, x, out=x)
        elif p != 1:
            np.power(x, p, out=x)
        s = x.sum(axis=self.axes_)
        return (m, s)

    def _unscaled_state(self, block):
        """Orders 1 and 2 of values of at most 32 bits (or integers): sum(|x|**p) in
        float64 directly, as (1, s), one pass and no scaling (neither the squares nor
        their sum can overflow or underflow). None when a slice holds NaN or infinity:
        the scaled state treats those."""
        x = np.asarray(block, dtype=np.float64)
        if self.order == 2:
            letters = "abcdefghijklmnopqrstuvwxyz"[: x.ndim]
            kept = "".join(c for i, c in enumerate(letters) if i not in self.axes_)
            s = np.einsum(f"{letters},{letters}->{kept}", x, x)
        else:
            s = np.abs(x).sum(axis=self.axes_)
        if not np.isfinite(s).all():
            return None
        return (np.ones_like(s), s)

    def _max(self, a, b):
        return np.maximum(a, b) if self.nan_policy == "propagate" else np.fmax(a, b)

    def _merge(self, a, b):
        p = self.order
        if p == 0:
            return (a[0] + b[0], None)
        m = self._max(a[0], b[0])
        if math.isinf(p):
            return (m, None)
        safe = np.where(m > 0, m, 1.0)
        with np.errstate(invalid="ignore"):
            s = a[1] * (a[0] / safe) ** p + b[1] * (b[0] / safe) ** p
        return (m, s)

    def norm(self, state) -> np.ndarray:
        m, s = state
        p = self.order
        if p == 0 or math.isinf(p):
            return np.asarray(m, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            return m * s ** (1.0 / p)

    def slice_norms(self, chunk: np.ndarray) -> np.ndarray:
        """The norm of every slice of a chunk of rows, for axes without 0 (per sample):
        shaped as the axes kept, the chunk's rows first."""
        if self.axes_ is None:
            self.bind(chunk.shape)
        if self.spans_samples:
            raise ValueError("slice_norms is per sample; fit across samples with partial_fit")
        parts = [self.norm(self._block_state(self._state_input(b))) for b in _row_blocks(chunk)]
        return np.concatenate(parts, axis=0)

    def _coefficients(self, state):
        norm = self.norm(state)
        return (None, np.where(norm == 0, 1.0, norm), None)

    def options(self):
        return {"order": "inf" if math.isinf(self.order) else self.order}

    def statistics(self):
        return {"norm": self.norm(self.state_)}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        norm = _from_list(stats["norm"], kept, "norm")
        self.state_ = (norm, np.ones(kept)) if self.order not in (0, math.inf) else (norm, None)


class Scale(Normalizer):
    """x * factor (``--factor 1/255`` divides by 255 exactly)."""

    method = "scale"
    default_axis = ALL
    option_names = ("factor",)

    def __init__(self, axis=None, *, factor="1/255", nan_policy="raise"):
        super().__init__(ALL, nan_policy=nan_policy)
        self.factor_text = str(factor)
        self.factor, self.divisor = parse_factor(factor)
        self.state_ = ()

    @property
    def spans_samples(self):
        return True

    @property
    def needs_fit(self):
        return False

    @property
    def invertible(self):
        return True

    def partial_fit(self, chunk):
        if self.axes_ is None:
            self.bind(chunk.shape)
        return self

    def chunk_state(self, chunk, start):
        return None

    def absorb(self, state):
        return self

    def reset(self):
        return self

    def _coefficients(self, state):
        return (None, np.asarray(self.divisor), None)

    def _expanded(self, coeffs):
        return coeffs

    def options(self):
        return {"factor": self.factor_text, "value": self.factor}

    def _load_statistics(self, stats):
        self.state_ = ()


METHODS: dict[str, type[Normalizer]] = {
    "minmax": MinMax,
    "zscore": ZScore,
    "lp": Lp,
    "per-image": PerImage,
    "scale": Scale,
}

#: Which command-line options each method takes (others are an error).
METHOD_OPTIONS = {
    "minmax": {"feature_range", "clip"},
    "per-image": {"feature_range", "clip"},
    "zscore": {"ddof", "eps"},
    "lp": {"order"},
    "scale": {"factor"},
}


#: Modules that add methods (imported on first use): each has METHODS, METHOD_OPTIONS,
#: FLAGS, and WRAPPERS (options that wrap another method's normalizer) with WRAPPED
#: (the methods each wrapper takes).
METHOD_MODULES = ("normcli.normalizers_robust",)
_WRAPPERS: dict = {}


def _load_methods() -> None:
    if _WRAPPERS:
        return
    import importlib

    for name in METHOD_MODULES:
        module = importlib.import_module(name)
        METHODS.update(module.METHODS)
        METHOD_OPTIONS.update(module.METHOD_OPTIONS)
        _OPTION_FLAGS.update(module.FLAGS)
        for option, wrapper in module.WRAPPERS.items():
            _WRAPPERS[option] = wrapper
            for method in module.WRAPPED[option]:
                METHOD_OPTIONS[method] = METHOD_OPTIONS[method] | {option}


def _wrap(norm: Normalizer, wrappers: dict) -> Normalizer:
    for option, value in wrappers.items():
        norm = _WRAPPERS[option](norm, value)
    return norm


def make_normalizer(
    method: str, axis: AxisSpec | None = None, *, nan_policy: str = "raise", **options
) -> Normalizer:
    """Build a normalizer from a method name and only the options it accepts."""
    _load_methods()
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    given = {k: v for k, v in options.items() if v is not None}
    extra = set(given) - METHOD_OPTIONS[method]
    if extra:
        names = ", ".join(sorted("--" + _OPTION_FLAGS.get(e, e) for e in extra))
        raise ParameterError(f"{names} does not apply to -m {method}")
    if method == "scale" and axis is not None:
        raise ParameterError("--axis does not apply to -m scale (it multiplies every value)")
    wrappers = {k: given.pop(k) for k in list(given) if k in _WRAPPERS}
    return _wrap(METHODS[method](axis, nan_policy=nan_policy, **given), wrappers)


_OPTION_FLAGS = {
    "feature_range": "range",
    "clip": "clip",
    "ddof": "ddof",
    "eps": "eps",
    "order": "order",
    "factor": "factor",
}


# -- params files ------------------------------------------------------------------------


def params_document(norm: Normalizer, *, source: str, key: str, shape, dtype) -> dict:
    """The params file: what a person needs to read and what normcli needs to apply."""
    doc = {"format": PARAMS_FORMAT, "normcli": __version__}
    doc.update(norm.params())
    doc["ndim"] = len(shape)
    doc["fitted_on"] = {"file": source, "key": key, "shape": list(shape), "dtype": str(dtype)}
    return doc


def normalizer_from_params(doc: dict, where: str, nan_policy: str = "raise") -> Normalizer:
    """Rebuild a fitted normalizer from a params document (see :func:`params_document`)."""
    if not isinstance(doc, dict) or doc.get("format") != PARAMS_FORMAT:
        raise ParameterError(f"{where} is not a normcli params file (no format {PARAMS_FORMAT})")
    _load_methods()
    method = doc.get("method")
    if method not in METHODS:
        raise ParameterError(f"{where}: unknown method {method!r}")
    opts = doc.get("options") or {}
    axis = doc.get("axis")
    axis_spec = parse_axis(axis) if isinstance(axis, str) else tuple(axis or ())
    kwargs = {}
    if method in ("minmax", "per-image"):
        kwargs = {
            "feature_range": tuple(opts.get("range", (0, 1))),
            "clip": opts.get("clip", False),
        }
    elif method == "zscore":
        kwargs = {"ddof": opts.get("ddof", 0), "eps": opts.get("eps")}
    elif method == "lp":
        kwargs = {"order": opts.get("order", 2)}
    elif method == "scale":
        kwargs = {"factor": opts.get("factor", "1")}
    elif hasattr(METHODS[method], "kwargs_from_options"):
        kwargs = METHODS[method].kwargs_from_options(opts)
    try:
        norm = METHODS[method](
            None if method == "scale" else axis_spec, nan_policy=nan_policy, **kwargs
        )
        norm = _wrap(norm, {k: opts[k] for k in _WRAPPERS if opts.get(k) is not None})
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{where}: its options are invalid ({exc})") from None
    fitted = doc.get("fitted_on") or {}
    shape = tuple(fitted.get("shape") or ())
    if method != "scale":
        norm.bind(shape, where)
        if "statistics" not in doc:
            raise ParameterError(
                f"{where} holds no fitted statistics ({method} over axes "
                f"{format_axis(norm.axes_)} uses each sample's own)"
            )
        try:
            norm._load_statistics(doc["statistics"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: its statistics are incomplete ({exc})") from None
    return norm
