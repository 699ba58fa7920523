"""The kernels: a block of values reduced to its moments, in float64, exactly.

The flat path (statistics over all axes) sums powers of values centred on a provisional
centre, piece by piece, as Python numbers; :func:`_nd_block` reduces over any axes.
Each is a pure function of its block: the accumulation order is the caller's.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from normcli.grid import BLOCK
from normcli.moments import Moments, _central, _combine

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


_buffers = threading.local()


def _work_buffers(need: int) -> tuple[np.ndarray, np.ndarray]:
    """Reused float64 work space and a bool mask for the flat kernel, one per thread."""
    work = getattr(_buffers, "work", None)
    if work is None or work.shape[1] < need:
        size = max(need, min(BLOCK, 1 << 16))
        _buffers.work = work = np.empty((2, size))
        _buffers.mask = np.empty(size, dtype=bool)
    return work, _buffers.mask
