"""The Accumulator: exact, mergeable statistics of an array streamed in chunks.

It folds the :class:`~normcli.moments.Moments` of fixed groups of rows (the grid of
:mod:`normcli.grid`) in order, so every chunking gives the same figures to the bit;
8- and 16-bit integers over all axes are counted exactly instead
(:mod:`normcli.inthist`). The kernels that reduce a block are in
:mod:`normcli.kernels`; the precision argument is in :mod:`normcli.moments`.
"""

from __future__ import annotations

import numpy as np

from normcli import channels
from normcli.grid import GridFold, grid_state, group_rows
from normcli.inthist import IntHistogram, histogram_supported
from normcli.kernels import _EMPTY_FLAT, _flat_group, _flat_moments, _fold_flat, _nd_block
from normcli.moments import Moments

# -- accumulation over chunks ---------------------------------------------------------


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
        if (
            self.hist is None
            and exact_integers
            and channels.supported(self.shape, self.dtype, self.axes, exclude_zeros)
        ):
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
