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
unchanged (keras.utils.normalize). For zscore "constant" is decided on normcli's exact
moments: variance exactly 0, or a std of at most :data:`CONSTANT_RELATIVE` times the
mean's magnitude (a spread of a few float64 steps at that magnitude, i.e. rounding
noise); scikit-learn's looser test, which grows with the number of values, treated
timestamps a second apart as constant. The written form divides, as the familiar
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

from normcli.axes import ALL, AxisSpec, format_axis, kept_shape, parse_axis, resolve_axes
from normcli.errors import ParameterError
from normcli.grid import BLOCK, GridFold, grid_state, group_rows
from normcli.moments import Moments

_EPS = np.finfo(np.float64).eps
#: zscore: a slice whose std is at most this times |mean| is constant (2**-48: 16 ulps).
CONSTANT_RELATIVE = 2.0**-48


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
        self.axis: AxisSpec = self.default_axis if axis is None else _axis_spec(axis)
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

    def _fitted(self, what: str):
        """The fitted state, or AttributeError naming the attribute asked for (so that
        ``hasattr(n, "mean_")`` tells whether ``n`` is fitted, as in scikit-learn)."""
        state = self.state_
        if state is None or not self.spans_samples:
            raise AttributeError(
                f"{type(self).__name__}.{what} exists once fitted over axes that include 0 "
                "(call fit or partial_fit)"
            )
        return state

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

    # -- scikit-learn's estimator interface ----------------------------------------------

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments (scikit-learn's ``get_params``):
        ``type(n)(**n.get_params())`` is an unfitted copy."""
        params = {"axis": self.axis, "nan_policy": self.nan_policy}
        for name in self.option_names:
            params[name] = getattr(self, name)
        return params

    def set_params(self, **params) -> Normalizer:
        """Change constructor arguments (the fitted state is dropped)."""
        merged = {**self.get_params(), **params}
        unknown = set(params) - set(self.get_params())
        if unknown:
            raise ParameterError(
                f"{type(self).__name__} takes no parameter {', '.join(sorted(unknown))}"
            )
        self.__init__(**merged)
        return self

    def fit_transform(self, x: np.ndarray, dtype=None) -> np.ndarray:
        """:meth:`fit` on ``x``, then :meth:`transform` of ``x``."""
        return self.fit(x).transform(x, dtype=dtype)

    @property
    def n_samples_seen_(self) -> int:
        """Rows (samples) given to :meth:`fit` / :meth:`partial_fit` since the last reset."""
        self.state_  # noqa: B018 - completes a pending fold, which keeps the count
        return self._fed

    def fit(self, x: np.ndarray) -> Normalizer:
        """Fit on a whole in-memory array (reset, then partial_fit)."""
        x = np.asarray(x)
        self.reset()
        self.bind(x.shape)
        return self.partial_fit(x)

    def partial_fit(self, chunk: np.ndarray) -> Normalizer:
        """Fold the statistics of the next chunk of rows into the fitted state."""
        chunk = np.asarray(chunk)
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
        if getattr(self, "_kept_moments", False):  # fit_from_kept_moments
            all_axes = True
        return all_axes and int(np.sum(m.nan)) == 0 and int(np.sum(m.inf)) == 0

    def fit_from_kept_moments(self, m: Moments) -> bool:
        """:meth:`fit_from_moments` with Moments over this normalizer's own axes (one
        per kept slice, e.g. per channel: normcli.channels counts them exactly)."""
        self._kept_moments = True
        try:
            return self.fit_from_moments(m)
        finally:
            self._kept_moments = False

    # -- applying --------------------------------------------------------------------------

    def transform(self, chunk: np.ndarray, out: np.ndarray | None = None, dtype=None) -> np.ndarray:
        """Normalize a chunk of rows; returns ``out`` (allocated as ``dtype`` if None:
        float64 for float64 data, float32 otherwise, as the command line's default)."""
        chunk = np.asarray(chunk)
        if self.axes_ is None:
            self.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=_default_dtype(chunk, dtype))
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
        self, chunk: np.ndarray, out: np.ndarray | None = None, dtype=None
    ) -> np.ndarray:
        """Undo :meth:`transform` with the fitted state."""
        chunk = np.asarray(chunk)
        if not self.invertible:
            raise ParameterError(self.not_invertible_reason())
        if self.axes_ is None:
            self.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=_default_dtype(chunk, dtype))
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

    def notes(self) -> list[str]:
        """What the fitted normalizer decided that a user should hear (constant slices)."""
        return []

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


def _axis_spec(axis) -> AxisSpec:
    """``axis`` as numpy takes it (an int, a sequence of ints) or as the command line
    writes it ("all", "0,1,2")."""
    if isinstance(axis, str):
        try:
            return parse_axis(axis)
        except ValueError as exc:
            raise ParameterError(f"axis={axis!r}: {exc}") from None
    if isinstance(axis, (int, np.integer)):
        return (int(axis),)
    return tuple(int(a) for a in axis)


def _default_dtype(chunk: np.ndarray, dtype) -> np.dtype:
    """The dtype of a new output: ``dtype``, else float64 for float64 data, else float32."""
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.float64 if chunk.dtype == np.float64 else np.float32)


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
