"""Exact, mergeable statistics over any set of reduce axes.

A :class:`Moments` holds, for every element of the *kept* shape (the array's shape
without the reduce axes), the count ``n``, the mean and the central sums
``M2 = sum((x - mean)**2)``, ``M3`` and ``M4``, plus min, max and counts of NaN,
infinities and zeros. Two Moments over disjoint parts of the data merge into the
Moments of their union with the formulas of Chan, Golub & LeVeque (M2) and Pébay
(M3, M4), so any chunking gives the figures of one pass over the whole array.

Precision, all in float64:

* The data are cut into fixed groups of rows (about 256K values, counted from the
  array's first row, whatever the chunks: see :class:`GridFold`), whose figures are
  merged in order; so every chunking gives the same figures to the bit.
* Each piece of at most 256K values is centred on its own approximate mean before
  the powers are summed, and the residual of that centre is folded back exactly,
  so badly conditioned data (values near 1e8 with unit spread) lose nothing.
* Means are kept relative to a common ``shift`` (an early value of the data), so the
  difference of two block means, which the merge multiplies by large counts, is
  computed between small numbers rather than between two values near 1e8.
* 8- and 16-bit integers over all axes are counted exactly (:class:`IntHistogram`)
  and their moments computed from at most 65536 distinct values.

NaN is left out of every moment and counted; min and max ignore it. Whether NaN
should raise, propagate or be omitted is the caller's policy (:func:`describe`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Values per group of the grid and per piece of the kernels (a float64 piece, 2 MiB,
#: stays in the last-level cache; smaller pieces were no faster here, where the cost
#: is numpy's calls rather than memory).
BLOCK = 1 << 18

#: The fields of a described statistic, in scipy.stats.describe's order, then counts.
STAT_FIELDS = (
    "nobs",
    "min",
    "max",
    "mean",
    "variance",
    "skewness",
    "kurtosis",
    "std",
    "nan",
    "inf",
    "zeros",
)
#: Fields that are counts (integers) rather than floats.
COUNT_FIELDS = ("nobs", "nan", "inf", "zeros")

_EPS = np.finfo(np.float64).eps


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


@dataclass
class Moments:
    """Mergeable statistics; every field is an array of the kept shape."""

    n: np.ndarray  # int64: values counted (NaN left out)
    shift: np.ndarray  # float64: the origin means are kept relative to
    dmean: np.ndarray  # float64: mean - shift
    m2: np.ndarray
    m3: np.ndarray
    m4: np.ndarray
    min: np.ndarray
    max: np.ndarray
    nan: np.ndarray  # int64
    inf: np.ndarray  # int64
    zeros: np.ndarray  # int64

    # -- construction -------------------------------------------------------------

    @classmethod
    def empty(cls, shape: tuple[int, ...] = ()) -> Moments:
        """The Moments of no data: the identity of :meth:`merge`."""
        z = np.zeros(shape, dtype=np.float64)
        i = np.zeros(shape, dtype=np.int64)
        return cls(
            n=i.copy(),
            shift=z.copy(),
            dmean=z.copy(),
            m2=z.copy(),
            m3=z.copy(),
            m4=z.copy(),
            min=np.full(shape, np.nan),
            max=np.full(shape, np.nan),
            nan=i.copy(),
            inf=i.copy(),
            zeros=i.copy(),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.n.shape

    @property
    def mean(self) -> np.ndarray:
        return self.shift + self.dmean

    def rebase(self, shift: np.ndarray) -> Moments:
        """The same Moments with means kept relative to ``shift``."""
        shift = np.broadcast_to(_f64(shift), self.shape)
        if np.array_equal(shift, self.shift, equal_nan=True):
            return self
        dmean = np.where(self.n > 0, (self.shift - shift) + self.dmean, 0.0)
        return Moments(
            self.n,
            shift.copy(),
            dmean,
            self.m2,
            self.m3,
            self.m4,
            self.min,
            self.max,
            self.nan,
            self.inf,
            self.zeros,
        )

    # -- combination --------------------------------------------------------------

    def merge(self, other: Moments) -> Moments:
        """The Moments of the union of the data behind ``self`` and ``other``.

        Both must have the same kept shape (they describe different samples of the
        same statistic). ``other`` is rebased onto ``self``'s shift when they differ.
        """
        if other.shape != self.shape:
            raise ValueError(f"cannot merge statistics of shape {self.shape} and {other.shape}")
        a = self
        b = other.rebase(np.where(a.n > 0, a.shift, other.shift))
        a = a.rebase(b.shift)
        na = a.n.astype(np.float64)
        nb = b.n.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            both = (na > 0) & (nb > 0)
            # an empty side contributes nothing; keep the other's mean exactly
            da = np.where(na > 0, a.dmean, b.dmean)
            db = np.where(nb > 0, b.dmean, a.dmean)
            dmean, m2, m3, m4 = _combine(na, nb, da, db, a.m2, b.m2, a.m3, b.m3, a.m4, b.m4)
            empty = ~both
            dmean = np.where(empty, da, dmean)
            m2 = np.where(empty, a.m2 + b.m2, m2)
            m3 = np.where(empty, a.m3 + b.m3, m3)
            m4 = np.where(empty, a.m4 + b.m4, m4)
        return Moments(
            n=a.n + b.n,
            shift=b.shift,
            dmean=dmean,
            m2=m2,
            m3=m3,
            m4=m4,
            min=np.fmin(a.min, b.min),
            max=np.fmax(a.max, b.max),
            nan=a.nan + b.nan,
            inf=a.inf + b.inf,
            zeros=a.zeros + b.zeros,
        )

    @classmethod
    def concat(cls, parts: Sequence[Moments]) -> Moments:
        """Stack Moments of consecutive rows along the kept axis 0 (no reduction)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        fields = {}
        for name in cls.__dataclass_fields__:
            fields[name] = np.concatenate([getattr(p, name) for p in parts], axis=0)
        return cls(**fields)

    @classmethod
    def merge_all(cls, parts: Iterable[Moments]) -> Moments:
        result = None
        for part in parts:
            result = part if result is None else result.merge(part)
        if result is None:
            raise ValueError("nothing to merge")
        return result


# -- kernels ------------------------------------------------------------------------


def _central(n, s1, s2, s3, s4):
    """Central sums about the mean from power sums about an approximate centre."""
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(n > 0, s1 / np.maximum(n, 1), 0.0)
    m2 = s2 - d * s1
    m3 = s3 - 3.0 * d * s2 + 2.0 * n * d**3
    m4 = s4 - 4.0 * d * s3 + 6.0 * d * d * s2 - 3.0 * n * d**4
    return d, m2, m3, m4


def _combine(na, nb, da, db, a2, b2, a3, b3, a4, b4):
    """Chan, Golub & LeVeque (M2) and Pébay (M3, M4): the union of two parts.

    ``na``/``nb`` are counts (both > 0), ``da``/``db`` the means relative to one
    common origin, ``a2``..``b4`` the central sums. Plain arithmetic, so it serves
    Python floats (the per-block fast path) and numpy arrays (kept axes) alike.
    Returns the union's mean (same origin) and its M2, M3, M4.
    """
    n = na + nb
    fa = na / n
    fb = nb / n
    delta = db - da
    nab = na * fb  # na * nb / n
    d2 = delta * delta
    m2 = a2 + b2 + d2 * nab
    m3 = a3 + b3 + d2 * delta * nab * (fa - fb) + 3.0 * delta * (fa * b2 - fb * a2)
    m4 = (
        a4
        + b4
        + d2 * d2 * nab * (fa * fa - fa * fb + fb * fb)
        + 6.0 * d2 * (fa * fa * b2 + fb * fb * a2)
        + 4.0 * delta * (fa * b3 - fb * a3)
    )
    return da + delta * fb, m2, m3, m4


#: Stride of the subsample a piece's provisional centre is taken from.
_CENTRE_STRIDE = 61


#: The running figures of the flat path, as Python numbers (cheap to merge per block).
#: Fields: n, dmean (relative to an origin), m2, m3, m4, min, max, nan, inf, zeros.
FlatStats = tuple

_EMPTY_FLAT: FlatStats = (0, 0.0, 0.0, 0.0, 0.0, math.nan, math.nan, 0, 0, 0)

#: A group's (or a running) flat figures with the origin their mean is relative to.
FlatState = tuple  # (origin: float | None, FlatStats)


def _flat_piece(xb: np.ndarray, finite: bool = False) -> FlatState | None:
    """Figures of a 1-D piece of at most BLOCK values, relative to its own centre.

    The fast path: the values as float64 minus a provisional centre (the mean of a
    strided subsample) in one reused buffer, then a sum and three BLAS dot products
    for the power sums; the residual of the centre (``s1 / n``) is folded back exactly
    by :func:`_central`, so the centre only has to be near the data for the powers to
    keep their digits. NaN and infinities (seen as a sum that is not finite) take
    :func:`_flat_piece_nonfinite`. ``finite`` says the values are known finite: if
    their centred sum still overflows (values near the float64 limit), None is returned.
    """
    size = xb.size
    work, mask = _work_buffers(size)
    d = work[0, :size]
    lo, hi = float(xb.min()), float(xb.max())
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf: handled just below
        c0 = float(np.add.reduce(xb[::_CENTRE_STRIDE], dtype=np.float64)) / len(
            range(0, size, _CENTRE_STRIDE)
        )
        if lo == hi:  # constant: centred exactly (a rounded mean of 1e300s overflows M2)
            c0 = lo
        s1 = math.nan
        if math.isfinite(c0):
            if xb.dtype == np.float64:
                np.subtract(xb, c0, out=d)
            else:
                np.copyto(d, xb)  # the cast alone is much faster than a mixed subtract
                np.subtract(d, c0, out=d)
            s1 = float(np.add.reduce(d))
    if not math.isfinite(s1):
        if finite:
            return None
        return _flat_piece_nonfinite(xb)
    d2 = work[1, :size]
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e154: powers overflow
        s2 = float(np.dot(d, d))
        np.multiply(d, d, out=d2)
        s3 = float(np.dot(d2, d))
        s4 = float(np.dot(d2, d2))
    delta, m2, m3, m4 = _central(size, s1, s2, s3, s4)
    zeros = 0 if lo > 0 or hi < 0 else int(np.count_nonzero(np.equal(xb, 0, out=mask[:size])))
    return c0, (size, float(delta), float(m2), float(m3), float(m4), lo, hi, 0, 0, zeros)


def _flat_piece_nonfinite(xb: np.ndarray) -> FlatState:
    """A 1-D piece holding NaN or infinities: NaN is left out, infinities propagate."""
    nan_mask = np.isnan(xb)
    values = xb[~nan_mask].astype(np.float64)
    n_nan = int(nan_mask.sum())
    if values.size == 0:
        return 0.0, (*_EMPTY_FLAT[:7], n_nan, 0, 0)
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf is NaN: fine here
        total = values.sum()
    state = _flat_piece(values, finite=True) if np.isfinite(total) else None
    if state is None:  # infinities, or finite values whose spread overflows float64
        with np.errstate(invalid="ignore", over="ignore"):
            mean = values.mean()
            d = values - mean
            m2, m3, m4 = (d**2).sum(), (d**3).sum(), (d**4).sum()
        state = 0.0, (values.size, float(mean), float(m2), float(m3), float(m4),
                      float(values.min()), float(values.max()), 0,
                      int(np.count_nonzero(np.isinf(values))),
                      int(values.size - np.count_nonzero(values)))  # fmt: skip
    origin, stats = state
    return origin, (*stats[:7], n_nan, stats[8], stats[9])


def _fold_flat(running: FlatState, part: FlatState) -> FlatState:
    """``part``'s figures merged into ``running``'s, kept relative to the first origin
    seen (an origin near the data, so merged means are differences of small numbers)."""
    shift, stats = running
    origin, more = part
    if more[0]:
        if shift is None:
            shift = origin
        elif origin != shift:
            more = (more[0], (origin - shift) + more[1], *more[2:])
    return shift, _merge_flat(stats, more)


def _flat_group(flat: np.ndarray, exclude_zeros: bool = False) -> FlatState:
    """The flat figures of one group's values (1-D): pieces of BLOCK values in order."""
    running: FlatState = (None, _EMPTY_FLAT)
    for start in range(0, flat.size, BLOCK):
        xb = flat[start : start + BLOCK]
        zeros = 0
        if exclude_zeros:
            zeros = xb.size - np.count_nonzero(xb)
            xb = xb[xb != 0]
        piece = _flat_piece(xb) if xb.size else (None, _EMPTY_FLAT)
        if exclude_zeros:
            piece = (piece[0], (*piece[1][:9], zeros))
        running = _fold_flat(running, piece)
    return running


def _merge_flat(a: FlatStats, b: FlatStats) -> FlatStats:
    """Merge the running figures of the flat path (same shift)."""
    if b[0] == 0 or a[0] == 0:
        base = b if a[0] == 0 else a
        mean_part = base[:5]
    else:
        with np.errstate(all="ignore"):
            dmean, m2, m3, m4 = _combine(
                float(a[0]), float(b[0]), a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4]
            )
        mean_part = (a[0] + b[0], dmean, m2, m3, m4)
    return (
        *mean_part,
        _fmin(a[5], b[5]),
        _fmax(a[6], b[6]),
        a[7] + b[7],
        a[8] + b[8],
        a[9] + b[9],
    )


def _fmin(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else min(a, b)


def _fmax(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


def _flat_moments(stats: FlatStats, shift: float) -> Moments:
    n, dmean, m2, m3, m4, mn, mx, nan, inf, zeros = stats
    return Moments(
        n=np.array(n, dtype=np.int64),
        shift=np.array(shift if n else 0.0),
        dmean=np.array(dmean if n else 0.0),
        m2=np.array(m2),
        m3=np.array(m3),
        m4=np.array(m4),
        min=np.array(mn),
        max=np.array(mx),
        nan=np.array(nan, dtype=np.int64),
        inf=np.array(inf, dtype=np.int64),
        zeros=np.array(zeros, dtype=np.int64),
    )


def _nd_block(x: np.ndarray, axes: tuple[int, ...], shift: np.ndarray | None) -> Moments:
    """Moments of a block over ``axes`` (not all axes): numpy reductions in float64.

    ``shift`` has the kept shape, or is None to centre every kept element on its own
    mean (right when axis 0 is kept and the block's rows are final).
    """
    counted = math.prod(x.shape[a] for a in axes)
    xf = np.array(x, dtype=np.float64)  # a private copy we may overwrite
    floating = x.dtype.kind == "f"
    with np.errstate(invalid="ignore", over="ignore"):
        total = xf.sum(axis=axes, keepdims=True)
    # NaN or an infinity makes its slice's sum non-finite: only then are they looked for
    careful = floating and not np.isfinite(total).all()
    nan_mask = np.isnan(xf) if careful else None
    has_nan = bool(nan_mask.any()) if careful else False
    if has_nan:
        keep = ~nan_mask
        n = np.count_nonzero(keep, axis=axes)
        np.copyto(xf, 0.0, where=nan_mask)
        n_nan = np.count_nonzero(nan_mask, axis=axes)
    else:
        n = np.full(tuple(s for i, s in enumerate(x.shape) if i not in axes), counted)
        n_nan = np.zeros(n.shape, dtype=np.int64)
    n_keep = np.expand_dims(n, axes)
    if floating:
        with np.errstate(invalid="ignore"):
            mn = np.fmin.reduce(x, axis=axes).astype(np.float64)
            mx = np.fmax.reduce(x, axis=axes).astype(np.float64)
    else:
        mn = x.min(axis=axes).astype(np.float64)
        mx = x.max(axis=axes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if has_nan:
            total = xf.sum(axis=axes, keepdims=True)
        c0 = total / np.maximum(n_keep, 1)
        # a constant slice is centred exactly (a rounded mean of 1e300s overflows M2)
        c0 = np.where(np.expand_dims(mn == mx, axes), np.expand_dims(mn, axes), c0)
        c0 = np.where(np.isfinite(c0), c0, 0.0) if floating else c0
        np.subtract(xf, c0, out=xf)
        if has_nan:
            np.copyto(xf, 0.0, where=nan_mask)
        s1 = xf.sum(axis=axes)
        d2 = xf * xf
        s2 = d2.sum(axis=axes)
        np.multiply(xf, d2, out=xf)
        s3 = xf.sum(axis=axes)
        np.multiply(d2, d2, out=d2)
        s4 = d2.sum(axis=axes)
    c0 = np.squeeze(c0, axis=axes)
    nf = n.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        delta, m2, m3, m4 = _central(nf, s1, s2, s3, s4)
    if shift is None:
        shift = c0
        dmean = delta
    else:
        dmean = (c0 - shift) + delta
    if floating and careful:
        n_inf = np.count_nonzero(np.isinf(x), axis=axes)
    else:
        n_inf = np.zeros(n.shape, dtype=np.int64)
    if has_nan:
        zeros = np.count_nonzero(x == 0, axis=axes)
    elif np.all((mn > 0) | (mx < 0)):  # no slice holds a zero
        zeros = np.zeros(n.shape, dtype=np.int64)
    else:
        zeros = counted - np.count_nonzero(x, axis=axes)
    empty = n == 0
    dmean = np.where(empty, 0.0, dmean)
    return Moments(
        n=np.asarray(n, dtype=np.int64),
        shift=np.asarray(shift, dtype=np.float64) * np.ones(n.shape),
        dmean=np.asarray(dmean, dtype=np.float64),
        m2=np.where(empty, 0.0, m2),
        m3=np.where(empty, 0.0, m3),
        m4=np.where(empty, 0.0, m4),
        min=np.asarray(mn, dtype=np.float64),
        max=np.asarray(mx, dtype=np.float64),
        nan=np.asarray(n_nan, dtype=np.int64),
        inf=np.asarray(n_inf, dtype=np.int64),
        zeros=np.asarray(zeros, dtype=np.int64),
    )


# -- exact counting for small integers ----------------------------------------------

_HIST_KINDS = {
    np.dtype(np.uint8): (256, 0),
    np.dtype(np.int8): (256, 128),
    np.dtype(np.uint16): (65536, 0),
    np.dtype(np.int16): (65536, 32768),
}


def histogram_supported(dtype: np.dtype) -> bool:
    """True for the 8- and 16-bit integer dtypes counted exactly by IntHistogram."""
    return np.dtype(dtype).newbyteorder("=") in _HIST_KINDS


class IntHistogram:
    """Exact counts of every value of an 8- or 16-bit integer array."""

    def __init__(self, dtype: np.dtype):
        dtype = np.dtype(dtype).newbyteorder("=")
        self.bins, self.offset = _HIST_KINDS[dtype]
        self.dtype = dtype
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.values = np.arange(self.bins, dtype=np.int64) - self.offset

    def update(self, x: np.ndarray) -> None:
        flat = np.ascontiguousarray(x).reshape(-1)
        if flat.dtype != self.dtype:
            flat = flat.astype(self.dtype)
        unsigned = flat.view(np.uint8 if self.bins == 256 else np.uint16)
        counts = np.zeros(self.bins, dtype=np.int64)
        if self.bins == 256:
            # Count pairs of bytes as uint16 (half the elements for bincount), then
            # fold the 256 x 256 table of pairs onto single values.
            even = unsigned.size - unsigned.size % 2
            pairs = unsigned[:even].view(np.uint16)
            table = np.zeros(65536, dtype=np.int64)
            for start in range(0, pairs.size, 4 * BLOCK):
                table += np.bincount(pairs[start : start + 4 * BLOCK], minlength=65536)
            square = table.reshape(256, 256)
            counts += square.sum(axis=0) + square.sum(axis=1)
            counts += np.bincount(unsigned[even:], minlength=256)
        else:
            for start in range(0, unsigned.size, 4 * BLOCK):
                counts += np.bincount(unsigned[start : start + 4 * BLOCK], minlength=self.bins)
        # int8 viewed as uint8 puts -128..-1 at 128..255; roll them to sorted order.
        self.counts += np.roll(counts, self.offset) if self.offset else counts

    def merge(self, other: IntHistogram) -> IntHistogram:
        self.counts += other.counts
        return self

    def moments(self) -> Moments:
        """Moments computed from the exact counts (no chunking can change them)."""
        present = np.nonzero(self.counts)[0]
        if present.size == 0:
            return Moments.empty(())
        h = self.counts[present]
        v = self.values[present]
        n = int(h.sum())
        total = sum(int(a) * int(b) for a, b in zip(h.tolist(), v.tolist(), strict=False))
        k = round(total / n)  # an integer origin near the mean
        dmean = (total - k * n) / n  # exact integers, one rounding
        d = (v - k).astype(np.float64) - dmean
        hf = h.astype(np.float64)
        d2 = d * d
        zero_index = self.offset
        return Moments(
            n=np.array(n, dtype=np.int64),
            shift=np.array(float(k)),
            dmean=np.array(dmean),
            m2=np.array(float(np.dot(hf, d2))),
            m3=np.array(float(np.dot(hf, d2 * d))),
            m4=np.array(float(np.dot(hf, d2 * d2))),
            min=np.array(float(v[0])),
            max=np.array(float(v[-1])),
            nan=np.array(0, dtype=np.int64),
            inf=np.array(0, dtype=np.int64),
            zeros=np.array(int(self.counts[zero_index]), dtype=np.int64),
        )


# -- the grid: fixed groups of rows, whatever the chunks ---------------------------------


def group_rows(shape: Sequence[int]) -> int:
    """Rows per group of the grid (about BLOCK values, at least one row)."""
    return max(1, BLOCK // max(1, math.prod(tuple(shape)[1:])))


def grid_pieces(start: int, rows: int, step: int) -> Iterator[tuple[int, int]]:
    """The chunk of ``rows`` rows starting at row ``start`` of the array, cut at the lines
    of the grid of ``step`` rows: ``(a, b)`` row ranges relative to the chunk. Only the
    first piece can start off a line (it ends one group) and only the last can be short
    (it starts the next)."""
    a = 0
    while a < rows:
        b = min(rows, a + step - (start + a) % step)
        yield a, b
        a = b


@dataclass
class GridState:
    """What one chunk contributes to a grid-folded statistic: the states of the whole
    groups it holds, and copies of the rows of the groups it shares with its
    neighbours (``head`` ends a group begun before it, when ``head_closes``; ``tail``
    begins one that goes on after it). :class:`GridFold` completes those in order."""

    start: int
    rows: int
    head: np.ndarray | None = None
    head_closes: bool = False
    groups: list = field(default_factory=list)
    tail: np.ndarray | None = None

    def add(self, a: int, b: int, step: int, part) -> None:
        """Piece ``(a, b)`` of :func:`grid_pieces`: a whole group's state, or its rows."""
        if b - a == step:
            self.groups.append(part)
        elif (self.start + a) % step:
            self.head, self.head_closes = part, (self.start + b) % step == 0
        else:
            self.tail = part


def grid_state(chunk: np.ndarray, start: int, step: int, group_state) -> GridState:
    """The :class:`GridState` of a chunk whose first row is row ``start`` of the array."""
    state = GridState(start, chunk.shape[0])
    for a, b in grid_pieces(start, chunk.shape[0], step):
        rows = chunk[a:b]
        state.add(a, b, step, group_state(rows) if b - a == step else rows.copy())
    return state


class GridFold:
    """Folds the states of the grid's groups in order, ``merge(running, group)``, from
    :class:`GridState` s absorbed in chunk order. Every chunking of the same rows folds
    the same groups in the same order, so the result is the same to the bit."""

    def __init__(self, group_state, merge, initial=None):
        self.group_state, self.merge = group_state, merge
        self.running = initial
        self.pending: list[np.ndarray] = []  # rows of the group not yet complete
        self.next_row = 0

    def absorb(self, state: GridState) -> None:
        if state.start != self.next_row:
            raise ValueError(f"chunk at row {state.start} absorbed at row {self.next_row}")
        if state.head is not None:
            self.pending.append(state.head)
            if state.head_closes:
                self.running = self.merge(self.running, self.group_state(self._take()))
        for part in state.groups:
            self.running = self.merge(self.running, part)
        if state.tail is not None:
            self.pending = [state.tail]
        self.next_row += state.rows

    def _pending_rows(self) -> np.ndarray:
        return self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)

    def _take(self) -> np.ndarray:
        rows, self.pending = self._pending_rows(), []
        return rows

    def result(self):
        """The fold so far with the last, incomplete group (the fold itself unchanged)."""
        if not self.pending:
            return self.running
        return self.merge(self.running, self.group_state(self._pending_rows()))


# -- accumulation over chunks ---------------------------------------------------------


_buffers = threading.local()


def _work_buffers(need: int) -> tuple[np.ndarray, np.ndarray]:
    """Reused float64 work space and a bool mask for the flat kernel, one per thread."""
    work = getattr(_buffers, "work", None)
    if work is None or work.shape[1] < need:
        size = max(need, min(BLOCK, 1 << 16))
        _buffers.work = work = np.empty((2, size))
        _buffers.mask = np.empty(size, dtype=bool)
    return work, _buffers.mask


def _merge_moments(a: Moments | None, b: Moments) -> Moments:
    return b if a is None else a.merge(b)


class Accumulator:
    """Statistics of an array fed to :meth:`update` as consecutive chunks of rows.

    ``shape`` is the whole array's shape, ``axes`` the sorted reduce axes. When the
    axes include 0, the statistics of fixed groups of rows (:func:`group_rows`, counted
    from the array's first row) are merged in order; otherwise each row's statistics
    are final and the chunks' results are stacked. 8- and 16-bit integers over all
    axes are counted exactly. ``exclude_zeros`` leaves zeros out of the moments (they
    are still counted in ``zeros``).

    :meth:`update` is :meth:`chunk_state` (the statistics of one chunk, a pure
    function of the chunk, its first row and this accumulator's configuration, so it
    can run anywhere: another thread, a Dask worker) followed by :meth:`absorb` (the
    merge into the running result, in the order of the chunks). The groups do not
    depend on the chunks, so neither do the figures: every chunk size and every engine
    gives the same figures to the bit.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype,
        axes: tuple[int, ...],
        *,
        exclude_zeros: bool = False,
        exact_integers: bool = True,
    ):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.axes = tuple(axes)
        self.ndim = len(self.shape)
        self.exclude_zeros = exclude_zeros
        self.flat = self.axes == tuple(range(self.ndim))
        self.hist = (
            IntHistogram(self.dtype)
            if self.flat and exact_integers and histogram_supported(self.dtype)
            else None
        )
        #: Per channel of 8/16-bit images: exact counts per channel (normcli.channels).
        self.channels = None
        if self.hist is None and exact_integers:
            from normcli import channels

            if channels.supported(self.shape, self.dtype, self.axes, exclude_zeros):
                self.channels = channels.ChannelHistogram(self.dtype, self.shape[-1])
                self._channel_counts = self.channels.empty()
        #: Rows per group of the grid; None when chunks need no grid (exact counts,
        #: or rows whose statistics are final).
        self.step: int | None = None
        self._fold: GridFold | None = None
        if self.hist is None and self.channels is None and (self.flat or 0 in self.axes):
            self.step = group_rows(self.shape or (1,))
            if self.flat:
                self._fold = GridFold(self.group_state, _fold_flat, (None, _EMPTY_FLAT))
            else:
                self._fold = GridFold(self.group_state, _merge_moments)
        self._parts: list[Moments] = []
        self._fed = 0

    def update(self, chunk: np.ndarray) -> None:
        start = self._fed
        self._fed += chunk.shape[0] if np.ndim(chunk) else 1
        self.absorb(self.chunk_state(chunk, start))

    def chunk_state(self, chunk: np.ndarray, start: int):
        """The statistics of one chunk of rows whose first row is row ``start`` of the
        array, independent of every other chunk.

        Reads nothing but the configuration (never the running result), so workers
        may call it concurrently on a shared accumulator.
        """
        if self.ndim == 0:
            chunk = np.asarray(chunk).reshape(1)
        if self.hist is not None:
            hist = IntHistogram(self.dtype)
            hist.update(chunk)  # zeros are dropped in result() if excluded
            return hist.counts
        if self.channels is not None:
            return self.channels.counts_of(chunk)
        if self.step is not None:
            return grid_state(chunk, start, self.step, self.group_state)
        return self._nd(chunk)

    def group_state(self, rows: np.ndarray):
        """The statistics of one group of the grid (``step`` rows; the last may be
        shorter)."""
        if self.flat:
            return _flat_group(rows.reshape(-1), self.exclude_zeros)
        return self._nd(rows)

    def absorb(self, state) -> None:
        """Merge the :meth:`chunk_state` of the next chunk into the running result."""
        if self.hist is not None:
            self.hist.counts += state
        elif self.channels is not None:
            self._channel_counts += state
        elif self._fold is not None:
            self._fold.absorb(state)
        else:
            self._parts.append(state)

    def nonfinite(self) -> int:
        """NaN and infinite values seen so far (integers have none)."""
        if self.hist is not None or self.channels is not None:
            return 0
        pending = 0
        if self._fold is not None and self.dtype.kind == "f":
            pending = sum(int(np.count_nonzero(~np.isfinite(p))) for p in self._fold.pending)
        if self.flat:
            stats = self._fold.running[1]
            return stats[7] + stats[8] + pending
        parts = list(self._parts)
        if self._fold is not None and self._fold.running is not None:
            parts.append(self._fold.running)
        return pending + int(sum(int(np.sum(p.nan)) + int(np.sum(p.inf)) for p in parts))

    def _nd(self, chunk: np.ndarray) -> Moments:
        """Moments over ``axes`` (not all) of a chunk of rows: each group of ``step``
        rows on its own, then merged (axis 0 reduced) or stacked (rows kept)."""
        rows = chunk.shape[0]
        step = group_rows(chunk.shape)
        parts = []
        for start in range(0, rows, step):
            xb = chunk[start : start + step]
            if self.exclude_zeros:
                zero_mask = xb == 0
                zeros = np.count_nonzero(zero_mask, axis=self.axes)
                nans = np.count_nonzero(np.isnan(xb), axis=self.axes) if xb.dtype.kind == "f" else 0
                xb = np.where(zero_mask, np.nan, xb.astype(np.float64))
                m = _nd_block(xb, self.axes, None)
                m.zeros = np.asarray(zeros, dtype=np.int64)
                m.nan = np.asarray(nans, dtype=np.int64) * np.ones_like(m.nan)
            else:
                m = _nd_block(xb, self.axes, None)
            parts.append(m)
        if 0 in self.axes:
            return Moments.merge_all(parts)
        return Moments.concat(parts)

    def result(self) -> Moments:
        kept = tuple(s for i, s in enumerate(self.shape) if i not in self.axes)
        if self.hist is not None:
            if self.exclude_zeros:
                zeros = int(self.hist.counts[self.hist.offset])
                self.hist.counts[self.hist.offset] = 0
                m = self.hist.moments()
                self.hist.counts[self.hist.offset] = zeros
                m.zeros = np.array(zeros, dtype=np.int64)
                return m
            return self.hist.moments()
        if self.channels is not None:
            return self.channels.moments(self._channel_counts)
        if self.flat:
            shift, stats = self._fold.result()
            return _flat_moments(stats, shift or 0.0)
        if self._fold is not None:
            merged = self._fold.result()
            return merged if merged is not None else Moments.empty(kept)
        if not self._parts:
            return Moments.empty(kept)
        return Moments.concat(self._parts)


def moments(
    x: np.ndarray,
    axes: tuple[int, ...] | None = None,
    *,
    chunk_rows: int | None = None,
    exclude_zeros: bool = False,
    exact_integers: bool = True,
) -> Moments:
    """Moments of an in-memory array over ``axes`` (all by default), in chunks of rows."""
    x = np.asarray(x)
    if axes is None:
        axes = tuple(range(x.ndim))
    acc = Accumulator(
        x.shape, x.dtype, axes, exclude_zeros=exclude_zeros, exact_integers=exact_integers
    )
    if x.ndim == 0:
        acc.update(x)
        return acc.result()
    step = chunk_rows or max(1, x.shape[0])
    for start in range(0, max(x.shape[0], 1), step):
        acc.update(x[start : start + step])
    return acc.result()


# -- the described figures ------------------------------------------------------------


def describe(m: Moments, *, nan_policy: str = "omit") -> dict[str, np.ndarray]:
    """scipy.stats.describe's figures (plus std and counts) from Moments.

    ``nobs``, ``min``, ``max``, ``mean``, ``variance`` (ddof=1), ``skewness`` (biased
    g1), ``kurtosis`` (Fisher, biased g2), ``std`` (sqrt of variance), and the counts
    ``nan``, ``inf``, ``zeros``. Like scipy, skewness and kurtosis are NaN when the
    data are constant to within float64's resolution. With ``nan_policy="propagate"``
    every figure but the counts is NaN where NaN was seen.
    """
    n = m.n.astype(np.float64)
    mean = m.mean
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        variance = np.where(n > 1, m.m2 / np.maximum(n - 1, 1), np.nan)
        m2n = m.m2 / n
        zero = m2n <= (_EPS * mean) ** 2
        skew = np.where(zero | (n == 0), np.nan, (m.m3 / n) / m2n**1.5)
        kurt = np.where(zero | (n == 0), np.nan, (m.m4 / n) / (m2n * m2n) - 3.0)
        std = np.sqrt(variance)
    mean = np.where(n > 0, mean, np.nan)
    out = {
        "nobs": m.n.copy(),
        "min": m.min.copy(),
        "max": m.max.copy(),
        "mean": mean,
        "variance": variance,
        "skewness": skew,
        "kurtosis": kurt,
        "std": std,
        "nan": m.nan.copy(),
        "inf": m.inf.copy(),
        "zeros": m.zeros.copy(),
    }
    if nan_policy == "propagate":
        seen = m.nan > 0
        for key in ("min", "max", "mean", "variance", "skewness", "kurtosis", "std"):
            out[key] = np.where(seen, np.nan, out[key])
    return out


def to_python(stats: dict[str, np.ndarray]) -> dict[str, object]:
    """Plain Python numbers (nested lists for kept axes) for JSON; NaN/inf become None."""

    def convert(value, count: bool):
        arr = np.asarray(value)
        if count:
            return arr.astype(np.int64).tolist()
        listed = arr.astype(np.float64).tolist()
        return _finite_or_none(listed)

    return {k: convert(v, k in COUNT_FIELDS) for k, v in stats.items()}


def _finite_or_none(value):
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value if math.isfinite(value) else None
