"""What every engine shares: the Runner protocol, pass 2's ApplyStep on one chunk, and
the chunk stream of one array.

The statistics fold fixed groups of rows whatever the chunks, so every engine and chunk
size gives the same figures and the same values written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from normcli.grid import GridState, grid_pieces
from normcli.io import ArrayInfo, Reader, rows_per_chunk
from normcli.reporting import Reporter
from normcli.signals import check_signals
from normcli.stats import Accumulator

DEFAULT_CHUNK = 64 * 1024 * 1024


@contextlib.contextmanager
def single_blas_thread():
    """Run the kernels with one BLAS thread (faster here, and fair to the other core)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class ApplyStep:
    """Pass 2 on one chunk: the before-statistics (when pass 1 did not take them), the
    transform (or its inverse) into ``out``, and the statistics of the values stored.

    :meth:`start` and :meth:`run` read only the fitted normalizer and the accumulators'
    configuration, so they may run on any worker; their results are absorbed here in
    chunk order. ``after`` is made by :meth:`set_output` once the stored dtype is known
    (an image folder quantizes).
    """

    def __init__(self, norm, *, invert: bool, out_dtype, before: Accumulator | None, shape):
        self.norm, self.invert, self.out_dtype = norm, invert, np.dtype(out_dtype)
        self.before, self.shape = before, tuple(shape)
        self.after: Accumulator | None = None
        norm.state_  # noqa: B018 - the fit completed here, once, not by every worker

    def set_output(self, stored_dtype) -> None:
        self.after = Accumulator(self.shape, stored_dtype, tuple(range(len(self.shape))))

    def _transform(self, chunk: np.ndarray, out: np.ndarray) -> None:
        if self.invert:
            self.norm.inverse_transform(chunk, out=out)
        else:
            self.norm.transform(chunk, out=out)

    def start(self, chunk: np.ndarray, out: np.ndarray, row: int):
        """The before-state of the chunk whose first row is row ``row`` (None when pass
        1 took it), and ``out`` filled."""
        before = self.before.chunk_state(chunk, row) if self.before is not None else None
        self._transform(chunk, out)
        return before

    def run(self, chunk: np.ndarray, out: np.ndarray, row: int) -> tuple:
        """:meth:`start`, and the after-state of ``out`` (stored as it is).

        One group of the statistics' grid at a time: its before-statistics, its
        transform and the statistics of what it became, while its rows are in cache.
        ``out`` may be ``chunk`` itself (transformed in place).
        """
        after, before_acc = self.after, self.before
        step = after.step
        if step is None:  # integer output, counted exactly
            return self.start(chunk, out, row), after.chunk_state(out, row)
        with_before = before_acc is not None and before_acc.step == step
        before = None
        if before_acc is not None and not with_before:  # 8/16-bit input: counted first
            before = before_acc.chunk_state(chunk, row)
        rows = chunk.shape[0]
        before_grid, after_grid = GridState(row, rows), GridState(row, rows)
        for a, b in grid_pieces(row, rows, step):
            x, y = chunk[a:b], out[a:b]
            whole = b - a == step
            if with_before:
                before_grid.add(a, b, step, before_acc.group_state(x) if whole else x.copy())
            self._transform(x, y)
            after_grid.add(a, b, step, after.group_state(y) if whole else y.copy())
        return (before_grid if with_before else before), after_grid

    def absorb_before(self, state, check) -> None:
        """The next chunk's before-state, then ``check()`` (--nan raise)."""
        if self.before is not None:
            self.before.absorb(state)
        if check is not None:
            check()


def finish_chunk(step: ApplyStep, sink, info, chunk, out, before_state, check, watch, row):
    """The in-order end of pass 2 for one chunk (its first row ``row``), when the sink
    encodes what it stores or ``watch`` looks on: the checks, what the format stores
    and its statistics, ``watch``; returns what to write."""
    step.absorb_before(before_state, check)
    stored = sink.encode(out)  # what the format keeps (an image folder quantizes)
    step.after.absorb(step.after.chunk_state(stored, row))
    if watch is not None:
        watch(chunk, stored.reshape(chunk.shape))  # (N, H, W, 1) images store (N, H, W)
    return stored.reshape(()) if not info.shape else stored


class Runner:
    """Runs the plan's passes over an array's chunks.

    ``scan``: each consumer (an :class:`Accumulator` or a normalizer) takes the
    ``chunk_state`` of every chunk, absorbed in chunk order, ``check()`` after each.
    ``apply``: an :class:`ApplyStep` over every chunk, written as a new array of
    ``writer``; returns the stored dtype. ``copy``: the array written unchanged.
    The statistics fold fixed groups of rows whatever the chunks, so every engine and
    chunk size gives the same figures and the same values written.
    """

    name = "?"

    def scan(self, reader, info, consumers, *, chunk_bytes, progress, label, check=None):
        raise NotImplementedError

    def apply(
        self, reader, info, step, writer, *, chunk_bytes, progress, label, check=None, watch=None
    ) -> np.dtype:
        raise NotImplementedError

    def copy(self, reader, info, writer, *, chunk_bytes, progress):
        raise NotImplementedError


def chunk_states(consumers, chunk: np.ndarray, row: int) -> list:
    return [consumer.chunk_state(chunk, row) for consumer in consumers]


def as_stream_shape(chunk: np.ndarray) -> np.ndarray:
    return chunk.reshape(1) if chunk.ndim == 0 else chunk


def stream_shape(info: ArrayInfo) -> tuple[int, ...]:
    return tuple(info.shape) if info.shape else (1,)


def stream_chunks(
    reader: Reader, info: ArrayInfo, chunk_bytes: int, progress: Reporter, label: str
) -> Iterator[np.ndarray]:
    """The chunks of one array (at least 1-d), with progress."""

    rows = rows_per_chunk(info, chunk_bytes)
    with progress.task(label, info.nbytes) as task:
        for chunk in reader.iter_chunks(info.name, rows):
            check_signals()  # a Ctrl-C whose exception was swallowed (see there)
            yield as_stream_shape(chunk)
            task.advance(chunk.nbytes)
