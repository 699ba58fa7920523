"""The plan: stream arrays through statistics and normalizers, chunk by chunk.

``describe_arrays`` is one pass of :class:`normcli.stats.Accumulator` per array.
``normalize`` (below) is pass 1 (fit and before-statistics) when the statistic spans
samples, then pass 2 (transform, write, after-statistics on the values written).
Nothing here knows about click or rich: progress is reported to a
:class:`Progress` the caller passes in.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from normcli.axes import ALL, AxisSpec, resolve_axes
from normcli.errors import InputError, ParameterError, stopped
from normcli.histogram import DEFAULT_BINS, BinCounter, Histogram, ValueRange, needs_bounds
from normcli.io import ArrayInfo, Reader, ReadOptions, rows_per_chunk
from normcli.io.base import ArraySink, check_sample_fits
from normcli.ranks import RankCheck, RankResult
from normcli.signals import check_signals, deferred_signals
from normcli.stats import Accumulator, GridState, describe, grid_pieces, group_rows

DEFAULT_CHUNK = 64 * 1024 * 1024
NAN_POLICIES = ("raise", "omit", "propagate")


class Progress:
    """Where the engine reports progress; this base class reports nowhere."""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Progress]:
        yield self

    def advance(self, amount: int) -> None:
        pass

    def warn(self, message: str) -> None:
        """A warning for stderr (the caller decides how to show it)."""


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


def _chunk_states(consumers, chunk: np.ndarray, row: int) -> list:
    return [consumer.chunk_state(chunk, row) for consumer in consumers]


#: Bytes per piece of the local engine at most (about one group of the statistics'
#: grid): the pieces in flight stay in the last-level cache, where the kernel copies
#: them from and to the page cache and the threads compute them (with 16 MiB pieces
#: the system time of a zscore was three times as much here).
PIECE_BYTES = 1 << 20
#: ... and for formats whose every read costs a fixed time in their library (h5py,
#: zarr: about 0.2 ms here), which larger pieces spread.
LIBRARY_PIECE_BYTES = 4 << 20


def compute_threads() -> int:
    """Threads computing pieces in the local engine: the cores this process may use,
    at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class LocalRunner(Runner):
    """The default engine: every pass runs in this process, overlapping its parts.

    The input is read here, in pieces of rows (``--chunk-size`` bounds the bytes of
    all pieces held at once: being read, computed, waiting or being written), into
    reused buffers; ``threads`` threads compute the pieces (numpy and BLAS release
    the GIL) and, in pass 2, one thread writes them in order while the next are
    read and computed. Results are absorbed here, in order, so they are those of one
    piece after another.
    """

    name = "local"

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def scan(self, reader, info, consumers, *, chunk_bytes, progress, label, check=None):
        threads = self.threads or compute_threads()
        slots = threads + 2
        rows = _piece_rows(reader, info, chunk_bytes // slots, info.row_bytes)
        with progress.task(label, info.nbytes) as task, _Pipeline(threads, slots) as pipe:

            def finish(done):
                chunk, states = done
                for consumer, state in zip(consumers, states, strict=True):
                    consumer.absorb(state)
                if check is not None:
                    check()
                task.advance(chunk.nbytes)

            row = 0
            for chunk in pipe.read(reader, info, rows, finish):
                pipe.submit(finish, (chunk,), _chunk_states, consumers, chunk, row)
                row += chunk.shape[0]
            pipe.drain(finish)

    def apply(
        self, reader, info, step, writer, *, chunk_bytes, progress, label, check=None, watch=None
    ) -> np.dtype:
        threads = self.threads or compute_threads()
        with writer.add(info.name, info.shape, step.out_dtype) as sink:
            step.set_output(sink.stored_dtype)
            # The format stores ``out`` as it is (no image quantizing) and nothing looks
            # at the input afterwards: the after-statistics are taken as each group is
            # transformed, and a float32 input becomes its own float32 output.
            fused = watch is None and type(sink).encode is ArraySink.encode
            in_place = fused and step.out_dtype == info.dtype.newbyteorder("=")
            slots = 2 * threads + 1
            row_bytes = info.row_bytes + (0 if in_place else _row_bytes(info, step.out_dtype))
            rows = _piece_rows(reader, info, chunk_bytes // slots, row_bytes)
            with (
                progress.task(label, info.nbytes) as task,
                _Pipeline(threads, slots, sink=sink) as pipe,
            ):

                def finish(done):
                    chunk, out, row, result = done
                    if fused:
                        before, after = result
                        step.absorb_before(before, check)
                        step.after.absorb(after)
                        stored = out.reshape(()) if not info.shape else out
                    else:
                        stored = finish_chunk(
                            step, sink, info, chunk, out, result, check, watch, row
                        )
                    task.advance(chunk.nbytes)
                    return stored

                work = step.run if fused else step.start
                row = 0
                for chunk in pipe.read(reader, info, rows, finish):
                    out = chunk if in_place else pipe.output(chunk.shape, step.out_dtype)
                    pipe.submit(finish, (chunk, out, row), work, chunk, out, row)
                    row += chunk.shape[0]
                pipe.drain(finish)
            return sink.stored_dtype

    def copy(self, reader, info, writer, *, chunk_bytes, progress):
        rows = rows_per_chunk(info, chunk_bytes)
        with (
            writer.add(info.name, info.shape, info.dtype) as sink,
            progress.task(f"copy {info.name}", info.nbytes) as task,
        ):
            for chunk in reader.iter_chunks(info.name, rows):
                sink.write(chunk)
                task.advance(chunk.nbytes)


def _row_bytes(info: ArrayInfo, dtype) -> int:
    return math.prod(info.shape[1:]) * np.dtype(dtype).itemsize


def _piece_rows(reader, info: ArrayInfo, piece_bytes: int, row_bytes: int) -> int:
    """Rows per piece: ``piece_bytes`` (at most PIECE_BYTES) of rows of ``row_bytes``, in
    whole groups of the statistics' grid when that fits the budget (else at least one
    row), but never less than a stored chunk (HDF5, Zarr), which would be decompressed
    again for every piece that touches it; aligned to the stored chunks by the reader."""
    cap = LIBRARY_PIECE_BYTES if reader.format in ("hdf5", "zarr") else PIECE_BYTES
    rows = max(1, min(piece_bytes, cap) // max(1, row_bytes))
    group = group_rows(info.shape or (1,))
    if group * row_bytes <= piece_bytes:
        rows = max(group, rows - rows % group)
    stored = info.extra.get("chunks") if info.shape else None
    if stored:
        rows = max(rows, stored[0])
    return reader.chunk_rows(info.name, min(rows, info.rows))


def _chunks_into(reader, info: ArrayInfo, rows: int, take) -> Iterator[np.ndarray]:
    """The chunks of ``info`` (at least 1-d), each in a buffer from ``take(shape,
    dtype)``: read there directly by a format that can, else copied from its chunks."""
    read_into = getattr(reader, "iter_chunks_into", None)
    if read_into is not None:
        for chunk in read_into(info.name, rows, take):
            yield _as_stream_shape(chunk)
        return
    for chunk in reader.iter_chunks(info.name, rows):
        chunk = _as_stream_shape(chunk)
        buf = take(chunk.shape, chunk.dtype)
        np.copyto(buf, chunk)
        yield buf


class _Pipeline:
    """Pieces in flight: read here into ``slots`` reused buffers, computed by
    ``threads`` threads, finished here in order, and (with a ``sink``) written in order
    by a writer thread, which hands each buffer back once its piece is written.

    Whatever fails (reading here, a computation, the checks of ``finish``, the writer,
    Ctrl-C) stops it: nothing more is computed or written, the threads are waited for
    (each has at most one piece to finish), and the error is raised here, in the
    calling thread, as it was raised.

    Ctrl-C and SIGTERM are acted on only in the calling thread, and it waits only in C
    (``queue.SimpleQueue``): a KeyboardInterrupt raised inside the threading module's
    Python code (starting or joining a thread, a Condition) can leave its locks broken
    (a hang, or "release unlocked lock"); around starting and joining the threads they
    are held back and acted on at the end (see :func:`normcli.signals.deferred_signals`).
    """

    def __init__(self, threads: int, slots: int, *, sink=None):
        self.slots = slots
        self.free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(slots):
            self.free.put(_Slot())
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self.results: dict[int, tuple[bool, object]] = {}
        self.inflight: collections.deque = collections.deque()  # (number, done, slot)
        self.submitted = 0
        self.sink = sink
        self.writes: queue.SimpleQueue = queue.SimpleQueue()
        self.write_error: BaseException | None = None
        self.stopping = False
        self._slot: _Slot | None = None  # the slot being filled
        self.workers: list[threading.Thread] = []
        self.writer: threading.Thread | None = None
        try:
            with deferred_signals(insist=True):
                for i in range(threads):
                    self.workers.append(_thread(self._work, f"normcli-compute-{i}"))
                if sink is not None:
                    self.writer = _thread(self._write, "normcli-writer")
        except BaseException:  # Ctrl-C while they started: acted on here
            self._stop(error=True)
            raise

    # -- the calling thread ----------------------------------------------------------------

    def read(self, reader, info, rows, finish) -> Iterator[np.ndarray]:
        """The chunks of ``info``, each in a free slot (finishing pieces in order while
        none is free)."""

        def take(shape, dtype):
            check_signals()  # a Ctrl-C whose exception was swallowed (normcli.signals)
            self._slot = self._take(finish)
            return self._slot.input(shape, dtype)

        yield from _chunks_into(reader, info, rows, take)

    def output(self, shape, dtype) -> np.ndarray:
        """The output buffer of the slot just read into."""
        return self._slot.output(shape, dtype)

    def submit(self, finish, done: tuple, fn, *args) -> None:
        """Compute ``fn(*args)`` on a thread, then ``finish((*done, result))`` here, in
        order; what ``finish`` returns is written (with a sink)."""
        number = self.submitted
        self.submitted += 1
        self.tasks.put((number, fn, args))
        self.inflight.append((number, done, self._slot))
        self._slot = None
        self._collect(block=False)
        while self.inflight and self.inflight[0][0] in self.results:
            self._finish_next(finish)

    def drain(self, finish) -> None:
        """Finish every piece in flight, then wait for the writer."""
        while self.inflight:
            self._finish_next(finish)
        if self.writer is not None:
            self.writes.put(None)
            with deferred_signals(insist=True):
                self.writer.join()
            self.writer = None
        self._raise_write_error()

    def _collect(self, block: bool) -> None:
        """Results of the computations that have ended (waiting for one if ``block``)."""
        while True:
            try:
                number, result = self.done.get(block)
            except queue.Empty:
                return
            self.results[number] = result
            block = False

    def _take(self, finish) -> _Slot:
        while True:
            self._raise_write_error()
            try:
                return self.free.get_nowait()
            except queue.Empty:
                pass
            if self.inflight:
                self._finish_next(finish)
                continue
            try:
                return self.free.get(timeout=0.5)  # the writer hands slots back
            except queue.Empty:
                continue

    def _finish_next(self, finish) -> None:
        number, done, slot = self.inflight.popleft()
        while number not in self.results:
            self._collect(block=True)
        ok, result = self.results.pop(number)
        try:
            if not ok:
                raise result
            stored = finish((*done, result))
        except BaseException:
            self.free.put(slot)
            raise
        if self.writer is not None:
            self.writes.put((stored, slot))
        else:
            self.free.put(slot)
        self._raise_write_error()

    def _raise_write_error(self) -> None:
        if self.write_error is not None:
            error, self.write_error = self.write_error, None
            raise error

    # -- the other threads -------------------------------------------------------------------

    def _work(self) -> None:
        while (task := self.tasks.get()) is not None:
            number, fn, args = task
            if self.stopping:
                continue
            try:
                result = (True, fn(*args))
            except BaseException as exc:  # raised in the calling thread, in order
                result = (False, exc)
            self.done.put((number, result))

    def _write(self) -> None:
        while (item := self.writes.get()) is not None:
            stored, slot = item
            try:
                if not self.stopping and self.write_error is None:
                    self.sink.write(stored)
            except BaseException as exc:  # raised in the calling thread
                self.write_error = exc
            finally:
                self.free.put(slot)

    # -- stopping ----------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self._stop(error=exc_type is not None)
        except BaseException:
            self._stop(error=True)  # a signal came before it could be held: once more
            raise
        return False

    def _stop(self, error: bool) -> None:
        """Stop the threads (after the piece each is on) and wait for them."""
        self.stopping = self.stopping or error
        with deferred_signals(insist=True):
            for _ in self.workers:
                self.tasks.put(None)
            if self.writer is not None:
                self.writes.put(None)
            for thread in (*self.workers, self.writer):
                if thread is not None and thread.ident is not None:
                    thread.join()
            self.workers, self.writer = [], None
            self.inflight.clear()


def _thread(target, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


class _Slot:
    """One piece's buffers: its input and, unless transformed in place, its output."""

    def __init__(self):
        self._in = self._out = None

    @staticmethod
    def _view(buf, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if buf is None or buf.nbytes < nbytes:
            buf = np.empty(max(nbytes, 1), dtype=np.uint8)
        return buf, buf[:nbytes].view(dtype).reshape(shape)

    def input(self, shape, dtype) -> np.ndarray:
        self._in, view = self._view(self._in, shape, dtype)
        return view

    def output(self, shape, dtype) -> np.ndarray:
        self._out, view = self._view(self._out, shape, dtype)
        return view


LOCAL = LocalRunner()
ENGINES = ("local", "dask")


@contextlib.contextmanager
def open_runner(engine: str = "local", scheduler: str | None = None) -> Iterator[Runner]:
    """The runner of ``--engine`` (``dask`` with ``--scheduler``), for one command."""
    if engine == "local":
        if scheduler:
            raise ParameterError("--scheduler runs the dask engine; add --engine dask")
        yield LOCAL
        return
    if engine != "dask":
        raise ParameterError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    from normcli.dask_engine import dask_runner

    with dask_runner(scheduler) as runner:
        yield runner


def open_input(path, options: ReadOptions | None, progress: Progress | None = None) -> Reader:
    """Open INPUT with its reader and pass on what opening noticed (files skipped)."""
    from normcli.io import open_reader

    reader = open_reader(path, options)
    for note in reader.notes:
        (progress or Progress()).warn(note)
    return reader


def select_arrays(
    reader: Reader, keys: Sequence[str] | None, *, default_all: bool
) -> list[ArrayInfo]:
    """The arrays named by ``-k`` (in that order), or the default selection.

    Without keys, ``default_all`` selects every array (``describe``, ``ls``); otherwise a
    file holding one array uses it and a file holding several is an error listing them.
    """
    arrays = reader.arrays()
    if keys:
        by_name = {a.name: a for a in arrays}
        chosen = []
        for key in keys:
            if key not in by_name and key in reader.texts():
                raise ParameterError(
                    f"{key} in {reader.path} is a list of text (names), which is carried "
                    "through unchanged but cannot be described or normalized; choose from: "
                    f"{', '.join(by_name) or 'none'}"
                )
            if key not in by_name:
                listing = ", ".join(by_name) or "no arrays"
                raise ParameterError(f"no array {key!r} in {reader.path}; it holds: {listing}")
            if by_name[key] not in chosen:
                chosen.append(by_name[key])
        return chosen
    if not arrays:
        raise InputError(f"{reader.path} holds no arrays")
    if default_all or len(arrays) == 1:
        return arrays
    raise ParameterError(
        f"{reader.path} holds several arrays ({', '.join(a.name for a in arrays)}); "
        "choose with -k/--key NAME"
    )


def check_not_empty(reader: Reader, info: ArrayInfo) -> None:
    """Refuse an array with nothing to stream, or whose samples do not fit in memory."""
    if info.size == 0:
        raise InputError(
            f"{reader.path}:{info.name} is empty (shape {tuple(info.shape)}); "
            "there is nothing to describe or normalize"
        )
    check_sample_fits(info, f"{reader.path}:{info.name}")


@dataclass
class ArrayStats:
    """The statistics of one array, as ``describe`` reports them."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: tuple[int, ...] | None  # None: over all axes
    stats: dict[str, np.ndarray]
    extra: dict = field(default_factory=dict)
    #: With --hist/--plot: "all" values and/or "nonzero" values (Inspect.views()).
    histograms: dict[str, Histogram] | None = None
    #: With --plot, for image data: the first few samples.
    samples: np.ndarray | None = None
    #: With --percentiles: {"p50": values shaped as the axes kept, ...} and the method.
    percentiles: dict | None = None
    percentile_method: str | None = None


@dataclass
class Inspect:
    """What to look at besides the statistics: histograms, samples, rank order."""

    bins: int = DEFAULT_BINS
    hist: bool = False  # a histogram per array (terminal, JSON)
    exclude_zeros: bool = False  # ... of the nonzero values only
    plot: bool = False  # histograms with and without zeros, and samples of images
    samples: int = 8  # samples kept for the plot
    check_ranks: bool = False  # normalize: did the order within each sample change?

    def views(self) -> set[str]:
        """The histograms needed: "all" values, "nonzero" values."""
        views = set()
        if self.hist:
            views.add("nonzero" if self.exclude_zeros else "all")
        if self.plot:
            views |= {"all", "nonzero"}
        return views

    @property
    def shown(self) -> str:
        """The view the terminal and JSON show."""
        return "nonzero" if self.exclude_zeros else "all"


def is_image(shape: Sequence[int]) -> bool:
    """(N, H, W) or (N, H, W, C) with C in 1, 3, 4: samples can be shown as pictures."""
    shape = tuple(shape)
    if len(shape) == 3:
        return shape[1] >= 4 and shape[2] >= 4
    if len(shape) == 4:
        return shape[1] >= 4 and shape[2] >= 4 and shape[3] in (1, 3, 4)
    return False


def stream_chunks(
    reader: Reader, info: ArrayInfo, chunk_bytes: int, progress: Progress, label: str
) -> Iterator[np.ndarray]:
    """The chunks of one array (at least 1-d), with progress."""

    rows = rows_per_chunk(info, chunk_bytes)
    with progress.task(label, info.nbytes) as task:
        for chunk in reader.iter_chunks(info.name, rows):
            check_signals()  # a Ctrl-C whose exception was swallowed (see there)
            yield _as_stream_shape(chunk)
            task.advance(chunk.nbytes)


def accumulate(
    reader: Reader,
    info: ArrayInfo,
    axes: tuple[int, ...],
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    progress: Progress | None = None,
    label: str | None = None,
    runner: Runner | None = None,
    acc: Accumulator | None = None,
    also: Sequence = (),
) -> Accumulator:
    """One streamed pass of an :class:`Accumulator` over an array (its exact value
    counts, for 8/16-bit integers over all axes, serve the histograms too), and of the
    consumers ``also`` (a percentile pass)."""
    if acc is None:
        acc = Accumulator(info.shape, info.dtype, axes, exclude_zeros=exclude_zeros)
    (runner or LOCAL).scan(
        reader,
        info,
        [acc, *also],
        chunk_bytes=chunk_bytes,
        progress=progress or Progress(),
        label=label or f"describe {info.name}",
    )
    return acc


def stats_of(reader: Reader, info: ArrayInfo, axes: tuple[int, ...], **kwargs):
    """The Moments of one array over ``axes``, streamed (see :func:`accumulate`)."""
    return accumulate(reader, info, axes, **kwargs).result()


def first_samples(reader: Reader, info: ArrayInfo, count: int) -> np.ndarray:
    """A copy of the first ``count`` rows of an array (one small read)."""
    for chunk in reader.iter_chunks(info.name, max(1, min(count, info.rows))):
        return np.array(chunk, copy=True)
    return np.empty((0, *info.shape[1:]), dtype=info.dtype)


def _finite_bounds(stats: dict) -> tuple[float, float] | None:
    """(min, max) over every slice, when both are finite (else a range pass is needed)."""
    lo = np.asarray(stats["min"], dtype=np.float64)
    hi = np.asarray(stats["max"], dtype=np.float64)
    if np.isnan(lo).all():
        return None
    lo, hi = float(np.nanmin(lo)), float(np.nanmax(hi))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return lo, hi


def _describe_histograms(
    reader: Reader,
    info: ArrayInfo,
    acc: Accumulator,
    stats: dict,
    inspect: Inspect,
    chunk_bytes: int,
    progress: Progress,
) -> dict[str, Histogram]:
    """The histograms of one array described: no pass for 8/16-bit integers over all
    axes (their exact counts are already made), else at most a range pass (only when
    the statistics do not give the range) and one counting pass."""
    views = sorted(inspect.views())
    if acc.hist is not None:
        return {
            v: BinCounter.from_int_histogram(
                acc.hist, inspect.bins, exclude_zeros=v == "nonzero"
            ).result()
            for v in views
        }
    bounds: dict[str, tuple[float, float] | None] = {}
    if needs_bounds(info.dtype):
        described = "nonzero" if acc.exclude_zeros else "all"
        known = _finite_bounds(stats)
        if known is not None and int(np.sum(stats.get("inf", 0))) == 0:
            bounds[described] = known
        missing = [v for v in views if v not in bounds]
        if missing:
            ranges = {v: ValueRange() for v in missing}
            for chunk in stream_chunks(reader, info, chunk_bytes, progress, f"range {info.name}"):
                for v, r in ranges.items():
                    r.update(chunk, (chunk != 0) if v == "nonzero" else None)
            bounds.update({v: r.bounds() for v, r in ranges.items()})
    counters = {
        v: BinCounter(bounds.get(v), inspect.bins, info.dtype, exclude_zeros=v == "nonzero")
        for v in views
    }
    for chunk in stream_chunks(reader, info, chunk_bytes, progress, f"histogram {info.name}"):
        for counter in counters.values():
            counter.update(chunk)
    return {v: c.result() for v, c in counters.items()}


def apply_nan_policy(reader: Reader, info: ArrayInfo, stats: dict, nan_policy: str) -> None:
    n_nan = int(np.sum(stats["nan"]))
    if n_nan and nan_policy == "raise":
        raise InputError(
            f"{reader.path}:{info.name} holds {n_nan} NaN value{'s' if n_nan != 1 else ''}; "
            "use --nan omit to leave them out or --nan propagate"
        )


def describe_arrays(
    reader: Reader,
    infos: Sequence[ArrayInfo],
    axis: AxisSpec = ALL,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    nan_policy: str = "omit",
    progress: Progress | None = None,
    inspect: Inspect | None = None,
    runner: Runner | None = None,
    percentiles=None,
) -> list[ArrayStats]:
    """``describe``: scipy.stats.describe's figures for each array, streamed.

    With ``inspect``, also the histograms (``--hist``, ``--plot``) and, for image data
    and ``--plot``, the first few samples. With ``percentiles`` (a
    normcli.percentile_passes.PercentileRequest), exact percentiles too.
    """
    from normcli import percentile_passes as pp

    progress = progress or Progress()
    results = []
    with single_blas_thread():
        for info in infos:
            check_not_empty(reader, info)
            axes = resolve_axes(axis, len(info.shape), f"{reader.path}:{info.name}")
            acc = Accumulator(info.shape, info.dtype, axes, exclude_zeros=exclude_zeros)
            scan = None
            if percentiles is not None:
                scan = pp.percentile_scan(
                    _stream_shape(info), info.dtype, axes or (0,), percentiles, nan_policy,
                    exclude_zeros,
                )  # fmt: skip
            accumulate(
                reader, info, axes, chunk_bytes=chunk_bytes, progress=progress, runner=runner,
                acc=acc, also=pp.fused_consumers(scan, acc),
            )  # fmt: skip
            stats = describe(acc.result(), nan_policy=nan_policy)
            apply_nan_policy(reader, info, stats, nan_policy)
            n_nan = int(np.sum(stats["nan"]))
            if n_nan and nan_policy == "omit":
                progress.warn(
                    f"{reader.path}:{info.name} holds {n_nan} NaN value"
                    f"{'s' if n_nan != 1 else ''}; they are left out of the statistics"
                )
            item = ArrayStats(
                info.name,
                tuple(info.shape),
                info.dtype,
                None if axis == ALL or axes == tuple(range(len(info.shape))) else axes,
                stats,
            )
            if scan is not None:
                item.percentile_method = percentiles.method
                item.percentiles = pp.describe_percentiles(
                    scan, percentiles, acc, runner or LOCAL, reader, info,
                    chunk_bytes=chunk_bytes, progress=progress,
                )  # fmt: skip
            if inspect is not None and inspect.views():
                item.histograms = _describe_histograms(
                    reader, info, acc, stats, inspect, chunk_bytes, progress
                )
            if inspect is not None and inspect.plot and is_image(info.shape):
                item.samples = first_samples(reader, info, inspect.samples)
            results.append(item)
    return results


# -- normalize, fit, invert ----------------------------------------------------------------


@dataclass
class ArrayReport:
    """What ``normalize``/``invert`` did to one array (DESIGN.md's JSON contract)."""

    name: str
    shape: tuple[int, ...]
    dtype_in: np.dtype
    dtype_out: np.dtype
    method: str
    axis: list[int] | None
    params: dict
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    #: With --hist/--plot: {"before": {view: Histogram}, "after": {view: Histogram}}.
    histograms: dict[str, dict[str, Histogram]] | None = None
    #: With --plot, for image data: the first samples before and after.
    samples: tuple[np.ndarray, np.ndarray] | None = None
    #: With --check-ranks.
    ranks: RankResult | None = None


@dataclass
class NormalizeReport:
    input: str
    output: str
    arrays: list[ArrayReport]
    passed: list[str]
    dropped: list[str] = field(default_factory=list)
    params_file: str | None = None
    params: dict | None = None


@dataclass
class NormalizeOptions:
    """Everything about a run but the normalizer itself."""

    keys: Sequence[str] = ()
    fit_key: str | None = None
    dtype: str = "float32"  # float32, float64, or "original" (invert only)
    compression: str | None = None
    chunk_bytes: int = DEFAULT_CHUNK
    nan_policy: str = "raise"
    force: bool = False
    strict: bool = False
    save_params: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    #: How an image-folder OUTPUT is written (normcli.io.images.ImageOutput), if given.
    image_output: object | None = None
    inspect: Inspect | None = None


def warn(options: NormalizeOptions, progress: Progress, message: str) -> None:
    """A warning on stderr, or with --strict an error (exit 2) before anything is written."""
    if options.strict:
        raise ParameterError(f"{message} (an error because of --strict)")
    progress.warn(message)


def check_output_path(
    input_path, output_path, force: bool, fmt: str | None = None, what: str = "OUTPUT"
) -> None:
    """Refuse to write onto INPUT (also through a hard or symbolic link), into or over an
    input folder, or over an existing OUTPUT without ``force``; then check that a file
    can be created beside OUTPUT, so that an unwritable directory fails before any data
    are read. ``what`` names the path in messages (OUTPUT, --save-params, --plot, -o).

    An OUTPUT that is a symbolic link is never written through: with ``force`` the link
    itself is replaced (the new file is renamed onto it), its target stays untouched.
    """
    import os
    from pathlib import Path

    from normcli.errors import OutputError
    from normcli.io.base import probe_writable

    src, dst = Path(input_path), Path(output_path)
    real_src, real_dst = os.path.realpath(src), os.path.realpath(dst)
    another = "choose an OUTPUT outside it" if what == "OUTPUT" else f"choose another {what}"
    if src.is_dir() and (real_dst == real_src or real_dst.startswith(real_src + os.sep)):
        raise OutputError(
            f"{output_path} is inside the input folder {src}; normcli never writes into its "
            f"input: {another}"
        )
    link = ""
    if dst.is_symlink():
        link = (
            f" (a symbolic link to {os.readlink(dst)}; --force replaces the link itself, never "
            "its target)"
        )
    if fmt == "images" and dst.exists():
        if real_src.startswith(real_dst + os.sep):
            raise OutputError(
                f"{output_path} holds the input {src}; replacing it would delete the input: "
                "choose another OUTPUT"
            )
        if not force:
            raise OutputError(
                f"{output_path} already exists{link}; use --force to replace it with the image "
                f"folder (to write a file into it, give a name such as {dst}/out.npz)"
            )
        from normcli.io.images import check_replaceable

        check_replaceable(dst)
        probe_writable(dst, "folders")
        return
    if dst.exists() or dst.is_symlink():
        try:
            same = dst.exists() and os.path.samefile(src, dst)
        except OSError:
            same = False
        if same:
            raise OutputError(
                f"{dst} is the input file {src}; normcli never overwrites its input: "
                f"{'choose another OUTPUT' if what == 'OUTPUT' else another}"
            )
        if dst.is_dir() and not dst.is_symlink():
            from normcli.io.zarr import is_zarr_store

            if not (fmt == "zarr" and is_zarr_store(dst)):
                raise OutputError(
                    f"{dst} is a directory (and not a Zarr store); give a file name such as "
                    f"{dst}/out.npz"
                )
        if not force:
            raise OutputError(f"{dst} already exists{link}; use --force to replace it")
    probe_writable(dst, "folders" if fmt in ("images", "zarr") else "files")


def check_distinct_outputs(paths: dict[str, object]) -> None:
    """Refuse two outputs of one command at the same place (--save-params OUTPUT)."""
    import os

    seen: dict[str, str] = {}
    for what, path in paths.items():
        if not path:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise ParameterError(
                f"{what} and {seen[key]} are both {path}; one would overwrite the other: "
                "give them different paths"
            )
        seen[key] = what


def _nonfinite_error(reader: Reader, info: ArrayInfo, acc: Accumulator) -> InputError:
    m = acc.result()
    n_nan, n_inf = int(np.sum(m.nan)), int(np.sum(m.inf))
    what = " and ".join(
        w for w in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "") if w
    )
    return InputError(
        f"{reader.path}:{info.name} holds {what} value{'s' if n_nan + n_inf != 1 else ''}; "
        "use --nan omit to fit on the finite values and leave the others in place, or "
        "--nan propagate"
    )


def _nan_check(reader: Reader, info: ArrayInfo, options: NormalizeOptions, before):
    """With --nan raise, a check that fails as soon as a NaN or infinity has been seen."""
    if options.nan_policy != "raise" or info.dtype.kind != "f":
        return None

    def check():
        if before.nonfinite() > 0:
            raise _nonfinite_error(reader, info, before)

    return check


def _before_accumulator(info: ArrayInfo) -> Accumulator:
    return Accumulator(info.shape, info.dtype, tuple(range(len(info.shape))))


def _as_stream_shape(chunk: np.ndarray) -> np.ndarray:
    return chunk.reshape(1) if chunk.ndim == 0 else chunk


def fit_array(
    reader: Reader,
    info: ArrayInfo,
    norm,
    options: NormalizeOptions,
    progress: Progress,
    with_before: bool = True,
    runner: Runner | None = None,
):
    """Pass 1: fit ``norm`` on the array (and take its before-statistics)."""
    runner = runner or LOCAL
    before = _before_accumulator(info)
    norm.reset()
    norm.bind(_stream_shape(info), f"{reader.path}:{info.name}")
    passes = hasattr(norm, "next_pass")  # a fit in several passes (normalizers_robust)
    if passes:
        norm.prepare_fit(info.dtype)
    # A global minmax or zscore needs nothing but the before-statistics: one
    # accumulator serves both (a second is used only if non-finite values turn up).
    shared = norm.fits_from_moments and norm.axes_ == tuple(range(len(_stream_shape(info))))
    runner.scan(
        reader,
        info,
        [before] if shared else [before, norm],
        chunk_bytes=options.chunk_bytes,
        progress=progress,
        label=f"fit {info.name}",
        check=_nan_check(reader, info, options, before),
    )
    while passes and (consumer := norm.next_pass()) is not None:
        runner.scan(
            reader, info, [consumer], chunk_bytes=options.chunk_bytes, progress=progress,
            label=f"fit {info.name} (next pass)",
        )  # fmt: skip
    moments = before.result()
    if shared and not norm.fit_from_moments(moments):
        runner.scan(
            reader,
            info,
            [norm],
            chunk_bytes=options.chunk_bytes,
            progress=progress,
            label=f"fit {info.name} (finite values)",
        )
    return describe(moments) if with_before else None


def _stream_shape(info: ArrayInfo) -> tuple[int, ...]:
    return tuple(info.shape) if info.shape else (1,)


def _output_dtype(options: NormalizeOptions, info: ArrayInfo, params: dict | None) -> np.dtype:
    if options.dtype == "original":
        original = (params or {}).get("fitted_on", {}).get("dtype")
        return np.dtype(original or info.dtype)
    return np.dtype(options.dtype)


def _apply_array(
    reader, info, norm, writer, options, progress, *, invert, before_done, out_dtype, watch, runner
) -> tuple[dict, dict, np.dtype]:
    """Pass 2: transform (or invert), write, and measure what was written.

    ``watch(chunk, out)``, when given, sees every input chunk beside what it became.
    Returns the before- and after-statistics and the dtype stored.
    """
    before = _before_accumulator(info) if before_done is None else None
    step = ApplyStep(
        norm, invert=invert, out_dtype=out_dtype, before=before, shape=_stream_shape(info)
    )
    stored_dtype = runner.apply(
        reader,
        info,
        step,
        writer,
        chunk_bytes=options.chunk_bytes,
        progress=progress,
        label=f"{'invert' if invert else 'normalize'} {info.name}",
        check=_nan_check(reader, info, options, before) if before is not None else None,
        watch=watch,
    )
    before_stats = before_done if before is None else describe(before.result())
    return before_stats, describe(step.after.result()), stored_dtype


def _check_finite_output(where, norm, before: dict, after: dict, out_dtype, invert) -> None:
    """Finite data never come out as NaN or infinity: when they would (values whose
    range or variance exceeds float64, a factor that overflows float32), refuse before
    OUTPUT is committed."""
    nonfinite_in = int(np.sum(before["nan"])) + int(np.sum(before["inf"]))
    nonfinite_out = int(np.sum(after["nan"])) + int(np.sum(after["inf"]))
    if nonfinite_in or not nonfinite_out:
        return
    verb = "inverting" if invert else "normalizing"
    dtype = np.dtype(out_dtype)
    hint = " or write --dtype float64" if dtype.kind == "f" and dtype.itemsize < 8 else ""
    raise InputError(
        f"{verb} {where} with -m {norm.method} gives {nonfinite_out:,} NaN or infinite "
        f"values from finite data: the values or their spread are too large for float64 "
        f"arithmetic or for {dtype} output; scale the data first (-m scale){hint}; "
        "nothing was written"
    )


def _warn_split(norm, info: ArrayInfo, where: str, options: NormalizeOptions, progress) -> None:
    from normcli.axes import format_axis, sample_split

    what = sample_split(tuple(info.shape), norm.axes_)
    if what is None:
        return
    per_image = ",".join(str(a) for a in range(1, len(info.shape)))
    alternative = f"for one normalization per image use --axis {per_image} or -m per-image"
    if 0 in norm.axes_:
        alternative = f"for one over the whole dataset use --axis all; {alternative}"
    message = (
        f"--axis {format_axis(norm.axes_)} on {where} of shape {tuple(info.shape)} normalizes "
        f"{what} separately, which is almost never meant; {alternative}"
    )
    warn(options, progress, message)


class _Watch:
    """What pass 2 notes beside the statistics: the value ranges the histograms'
    bins need (before and after, all values and where the input is nonzero), and
    whether the order of values within each sample changed."""

    def __init__(self, inspect: Inspect):
        views = inspect.views()
        self.ranges = {
            (side, v): ValueRange() for side in ("before", "after") for v in sorted(views)
        }
        self.ranks = RankCheck() if inspect.check_ranks else None

    def __call__(self, chunk: np.ndarray, out: np.ndarray) -> None:
        nonzero = None
        for (side, view), r in self.ranges.items():
            if view == "nonzero" and nonzero is None:
                nonzero = chunk != 0
            r.update(chunk if side == "before" else out, nonzero if view == "nonzero" else None)
        if self.ranks is not None:
            self.ranks.update(chunk, out)


def _rank_warning(where: str, ranks: RankResult) -> str:
    first = ""
    if ranks.first_changed is not None:
        first = f"; the first is sample {ranks.first_changed}"
    return (
        f"the order of the values within {ranks.changed:,} of {ranks.samples:,} samples of "
        f"{where} changed ({ranks.fraction:.1%}){first}: the normalization treats parts of "
        "each sample differently (a per-image or global normalization keeps the order)"
    )


def _aligned(chunks_a, chunks_b) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The same rows of two arrays side by side, whatever chunks each reader yields
    (an HDF5 reader aligns its reads to the dataset's own chunks)."""
    a = b = None
    ia = ib = 0
    while True:
        if a is None or ia == a.shape[0]:
            a = next(chunks_a, None)
            if a is None:
                return
            a, ia = _as_stream_shape(a), 0
        if b is None or ib == b.shape[0]:
            b = next(chunks_b, None)
            if b is None:
                raise InputError("the written OUTPUT has fewer rows than INPUT")
            b, ib = _as_stream_shape(b), 0
        n = min(a.shape[0] - ia, b.shape[0] - ib)
        yield a[ia : ia + n], b[ib : ib + n]
        ia += n
        ib += n


def _normalize_histograms(
    reader: Reader,
    output_path,
    report: ArrayReport,
    info: ArrayInfo,
    watch: _Watch,
    inspect: Inspect,
    options: NormalizeOptions,
    progress: Progress,
    written_files: list[str] | None = None,
) -> None:
    """One pass over INPUT and the written OUTPUT side by side: the histograms before
    and after ("nonzero": where the input value is nonzero, so the same pixels are
    left out of both), and the first samples of image data.

    ``written_files``: for an image-folder OUTPUT, the file of each row as written;
    the folder must read back in that order for its rows to pair with INPUT's.
    """
    from normcli.io import ONE_ARRAY_FORMATS, open_reader

    views = sorted(inspect.views())
    dtypes = {"before": info.dtype, "after": report.dtype_out}
    counters = {
        side: {
            v: BinCounter(
                watch.ranges[(side, v)].bounds(),
                inspect.bins,
                dtypes[side],
                exclude_zeros=False,
            )
            for v in views
        }
        for side in ("before", "after")
    }
    want_samples = inspect.plot and is_image(info.shape)
    kept_before: list[np.ndarray] = []
    kept_after: list[np.ndarray] = []
    rows = rows_per_chunk(info, options.chunk_bytes)
    with open_reader(output_path) as written:
        out_name = info.name if written.format not in ONE_ARRAY_FORMATS else written.names()[0]
        if written_files and written.texts().get("filenames") != written_files:
            progress.warn(
                f"{output_path}: no histograms or samples of {info.name}: its image files do "
                "not read back in the order they were written"
            )
            return
        pairs = _aligned(reader.iter_chunks(info.name, rows), written.iter_chunks(out_name, rows))
        with progress.task(f"histogram {info.name}", info.nbytes) as task:
            for chunk, out in pairs:
                out = out.reshape(chunk.shape)  # an image folder reads (N, H, W, 1) as (N, H, W)
                nonzero = (chunk != 0) if "nonzero" in views else None
                for side, data in (("before", chunk), ("after", out)):
                    for v, counter in counters[side].items():
                        counter.update(data, nonzero if v == "nonzero" else None)
                if want_samples and sum(len(k) for k in kept_before) < inspect.samples:
                    need = inspect.samples - sum(len(k) for k in kept_before)
                    kept_before.append(np.array(chunk[:need], copy=True))
                    kept_after.append(np.array(out[:need], copy=True))
                task.advance(chunk.nbytes)
    report.histograms = {
        side: {v: c.result() for v, c in counters[side].items()} for side in counters
    }
    for hists in report.histograms.values():
        if "nonzero" in hists:
            hists["nonzero"].zeros_excluded = True
    if want_samples:
        report.samples = (np.concatenate(kept_before), np.concatenate(kept_after))


def normalize_file(
    input_path,
    output_path,
    make_normalizer,
    options: NormalizeOptions,
    *,
    params_doc: dict | None = None,
    params_where: str = "params",
    invert: bool = False,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> NormalizeReport:
    """Normalize (or invert) the selected arrays of INPUT into OUTPUT.

    ``make_normalizer()`` returns a fresh, unfitted normalizer. With ``params_doc`` the
    saved parameters are applied instead; with ``options.fit_key`` one normalizer is
    fitted on that array and applied to every selected one. Arrays not selected are
    copied through unchanged. OUTPUT appears only when everything is written.
    """
    from normcli.io import ONE_ARRAY_FORMATS, open_writer, output_format
    from normcli.normalizers import normalizer_from_params, params_document

    progress = progress or Progress()
    runner = runner or LOCAL
    fmt = output_format(output_path)
    if options.image_output is not None and fmt != "images":
        raise ParameterError(
            f"--image-format and --bit-depth apply to an image-folder OUTPUT (a directory, or "
            f"a path ending in /); {output_path} is a .{fmt} file"
        )
    check_distinct_outputs({"OUTPUT": output_path, "--save-params": options.save_params})
    check_output_path(input_path, output_path, options.force, fmt)
    if options.save_params:
        check_output_path(input_path, options.save_params, options.force, what="--save-params")
    with open_input(input_path, options.read, progress) as reader:
        selected = select_arrays(reader, options.keys, default_all=False)
        for info in selected:
            check_not_empty(reader, info)
        if options.fit_key is not None:
            reader.info(options.fit_key)  # a missing fit key lists the keys
        one_file = fmt in ONE_ARRAY_FORMATS
        if not one_file:  # the arrays copied through stream in whole samples too
            for info in reader.arrays():
                if info not in selected:
                    check_sample_fits(info, f"{reader.path}:{info.name}")
        if one_file and len(selected) > 1:
            raise ParameterError(
                f"{output_path}: {ONE_ARRAY_FORMATS[fmt]}; write .npz or .h5 to keep "
                f"{', '.join(a.name for a in selected)}, or choose one with -k"
            )
        inspect = None if invert else options.inspect
        watches: dict[str, _Watch] = {}
        shared = None
        before_of: dict[str, dict] = {}
        reports: list[ArrayReport] = []
        passed: list[str] = []
        dropped: list[str] = []
        with (
            open_writer(
                output_path, compression=options.compression, image_output=options.image_output
            ) as writer,
            _params_writer(options.save_params) as params_file,
            single_blas_thread(),
        ):
            texts_passed = []
            for name, values in reader.texts().items():  # class and file names
                (texts_passed if writer.add_texts(name, values) else dropped).append(name)
            not_written = dropped + (
                [a.name for a in reader.arrays() if a not in selected] if one_file else []
            )
            if not_written:
                # said before any array is written, so that --strict can refuse it
                reason = ONE_ARRAY_FORMATS.get(fmt, f"a .{fmt} OUTPUT has no place for them")
                verb = "is" if len(not_written) == 1 else "are"
                warn(options, progress, f"{', '.join(not_written)} {verb} not written: {reason}")
            if params_doc is not None:
                shared = normalizer_from_params(params_doc, params_where, options.nan_policy)
            elif options.fit_key is not None:
                shared = make_normalizer()
                fit_info = reader.info(options.fit_key)
                check_not_empty(reader, fit_info)
                shared.bind(_stream_shape(fit_info), f"{reader.path}:{fit_info.name}")
                if shared.needs_fit:
                    before_of[fit_info.name] = fit_array(
                        reader, fit_info, shared, options, progress, runner=runner
                    )
                else:
                    warn(
                        options,
                        progress,
                        f"-m {shared.method} over axes {shared.axes_} normalizes each sample "
                        f"with its own statistics; --fit-key {options.fit_key} changes nothing",
                    )
            elif len(selected) > 1:
                probe = make_normalizer().bind(
                    _stream_shape(selected[0]), f"{reader.path}:{selected[0].name}"
                )
                if probe.needs_fit:
                    names = ", ".join(a.name for a in selected)
                    warn(
                        options,
                        progress,
                        f"{names} are each normalized with their own statistics; to apply "
                        f"the training statistics to the others use --fit-key "
                        f"{selected[0].name}",
                    )
            params_out = None
            for info in reader.arrays():
                where = f"{reader.path}:{info.name}"
                if info not in selected:
                    if one_file:
                        dropped.append(info.name)
                    else:
                        runner.copy(
                            reader, info, writer, chunk_bytes=options.chunk_bytes,
                            progress=progress,
                        )  # fmt: skip
                        passed.append(info.name)
                    continue
                norm = shared if shared is not None else make_normalizer()
                norm.bind(_stream_shape(info), where)
                if invert and not norm.invertible:
                    raise ParameterError(norm.not_invertible_reason())
                if not invert:
                    _warn_split(norm, info, where, options, progress)
                before = before_of.get(info.name)
                if shared is None and norm.needs_fit:
                    before = fit_array(reader, info, norm, options, progress, runner=runner)
                out_dtype = _output_dtype(options, info, params_doc)
                watch = None
                if inspect is not None and (inspect.views() or inspect.check_ranks):
                    watch = watches[info.name] = _Watch(inspect)
                before, after, stored_dtype = _apply_array(
                    reader,
                    info,
                    norm,
                    writer,
                    options,
                    progress,
                    invert=invert,
                    before_done=before,
                    out_dtype=out_dtype,
                    watch=watch,
                    runner=runner,
                )
                _check_finite_output(where, norm, before, after, out_dtype, invert)
                ranks = watch.ranks.result() if watch is not None and watch.ranks else None
                if ranks is not None and ranks.changed:
                    warn(options, progress, _rank_warning(where, ranks))
                fitted_on = info
                if options.fit_key is not None:
                    fitted_on = reader.info(options.fit_key)
                doc = (
                    params_document(
                        norm,
                        source=str(reader.path),
                        key=fitted_on.name,
                        shape=_stream_shape(fitted_on),
                        dtype=fitted_on.dtype,
                    )
                    if params_doc is None
                    else params_doc
                )
                params_out = params_out or doc
                reports.append(
                    ArrayReport(
                        name=info.name,
                        shape=tuple(info.shape),
                        dtype_in=info.dtype,
                        dtype_out=stored_dtype,
                        method=norm.method,
                        axis=list(norm.axes_) if norm.axes_ is not None else None,
                        params=doc,
                        before=before,
                        after=after,
                        ranks=ranks,
                    )
                )
            passed.extend(texts_passed)
            if params_file is not None:
                if shared is None and len(reports) > 1:
                    raise ParameterError(
                        "--save-params saves one set of parameters, but each array was fitted "
                        "on itself; add --fit-key NAME"
                    )
                # written before OUTPUT is committed: a full disk fails both, not one
                params_file.write_text(params_json(params_out, options.save_params))
            commit_together(
                [writer] + ([params_file] if params_file is not None else []), output_path
            )
        if inspect is not None and inspect.views():
            try:
                for report in reports:
                    _normalize_histograms(
                        reader,
                        output_path,
                        report,
                        reader.info(report.name),
                        watches[report.name],
                        inspect,
                        options,
                        progress,
                        getattr(writer, "files", None),
                    )
            except BaseException as exc:
                # Ctrl-C (or SIGTERM) now: OUTPUT is complete and stays; say so
                stop = stopped(
                    exc, f" while counting the histograms; {output_path} was written completely"
                )
                if stop is None:
                    raise
                raise stop from None
    return NormalizeReport(
        input=str(input_path),
        output=str(output_path),
        arrays=reports,
        passed=passed,
        dropped=dropped,
        params_file=options.save_params,
        params=params_out,
    )


def _params_writer(path):
    """The --save-params file as a writer (nothing is created until it is written)."""
    if not path:
        return contextlib.nullcontext(None)
    from pathlib import Path

    from normcli.io.base import FileWriter

    return FileWriter(Path(path))


def commit_together(writers, output_path) -> None:
    """Move every finished output into place, with Ctrl-C and SIGTERM held until all are
    (a signal then stops the command saying OUTPUT was written completely)."""

    check_signals()  # never commit after a Ctrl-C, even one whose exception was lost
    done = False
    try:
        with deferred_signals():
            for writer in writers:
                writer.commit()
            done = True
    except BaseException as exc:
        stop = stopped(exc, f"; {output_path} was written completely") if done else None
        if stop is None:
            raise
        raise stop from None


def fit_file(
    input_path,
    make_normalizer,
    options: NormalizeOptions,
    *,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> tuple[dict, dict]:
    """``fit``: the params document of one array, and its before-statistics."""
    from normcli.normalizers import params_document

    progress = progress or Progress()
    with open_input(input_path, options.read, progress) as reader:
        keys = list(options.keys)
        if options.fit_key:
            keys = [options.fit_key]
        selected = select_arrays(reader, keys, default_all=False)
        if len(selected) != 1:
            raise ParameterError("fit takes one array: give one -k NAME")
        info = selected[0]
        check_not_empty(reader, info)
        norm = make_normalizer()
        norm.bind(_stream_shape(info), f"{reader.path}:{info.name}")
        if not norm.needs_fit and norm.method != "scale":
            raise ParameterError(
                f"-m {norm.method} over axes {list(norm.axes_)} normalizes each sample with its "
                "own statistics: there is nothing to fit (include axis 0 to fit across samples)"
            )
        _warn_split(norm, info, f"{reader.path}:{info.name}", options, progress)
        with single_blas_thread():
            before = fit_array(reader, info, norm, options, progress, runner=runner)
        doc = params_document(
            norm,
            source=str(reader.path),
            key=info.name,
            shape=_stream_shape(info),
            dtype=info.dtype,
        )
    return doc, before


def load_params(path) -> dict:
    import json
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p} does not exist; create it with normcli fit ... -o {p}") from None
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def params_json(doc: dict, where) -> str:
    """The params document as JSON text; floats round-trip exactly (shortest repr)."""
    from normcli.jsonfmt import dumps

    try:
        return dumps(doc) + "\n"
    except ValueError:
        raise InputError(
            f"the fitted parameters for {where} contain NaN or infinity (a slice with no "
            "finite values?); nothing was saved"
        ) from None


def write_params(path, doc: dict, *, force: bool) -> None:
    write_text_atomically(path, params_json(doc, path), force=force)


def write_text_atomically(path, text: str, *, force: bool) -> None:
    """Write a small text file atomically (temp file beside it, then os.replace)."""
    from pathlib import Path

    from normcli.errors import OutputError
    from normcli.io.base import FileWriter

    target = Path(path)
    if (target.exists() or target.is_symlink()) and not force:
        raise OutputError(f"{target} already exists; use --force to replace it")
    with FileWriter(target) as writer:
        writer.write_text(text)
        writer.commit()


# -- check ----------------------------------------------------------------------------------


@dataclass
class CheckedArray:
    name: str
    shape: tuple[int, ...]
    where: str
    outcomes: list


@dataclass
class CheckReport:
    input: str
    arrays: list[CheckedArray]

    @property
    def passed(self) -> bool:
        return all(o.passed for a in self.arrays for o in a.outcomes)

    def first_failure(self) -> str | None:
        for a in self.arrays:
            for o in a.outcomes:
                if not o.passed:
                    return f"{a.where}: {o.message}"
        return None


def check_file(
    input_path,
    keys: Sequence[str],
    assertions,
    axis: AxisSpec | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    read: ReadOptions | None = None,
    progress: Progress | None = None,
) -> CheckReport:
    """``check``: judge the assertions on every selected array, one streamed pass each.

    ``axis`` gives the reduce axes (default: all for --range/--mean/--std, -1 for
    --unit-norm, as lp's default); every kept slice must satisfy each assertion.
    """
    from normcli.checks import (
        DEFAULT_TOL,
        NormAccumulator,
        judge_mean_std,
        judge_range,
        judge_unit_norm,
    )

    progress = progress or Progress()
    checked = []
    with open_input(input_path, read, progress) as reader, single_blas_thread():
        for info in select_arrays(reader, keys, default_all=False):
            check_not_empty(reader, info)
            where = f"{reader.path}:{info.name}"
            shape = _stream_shape(info)
            ndim = len(shape)
            acc = norms = None
            axes = None
            if assertions.needs_moments:
                axes = resolve_axes(axis if axis is not None else ALL, ndim, where)
                acc = Accumulator(shape, info.dtype, axes)
            if assertions.unit_norm:
                norms = NormAccumulator(
                    shape, axis if axis is not None else (-1,), assertions.order, where
                )
            for chunk in stream_chunks(reader, info, chunk_bytes, progress, f"check {info.name}"):
                if acc is not None:
                    acc.update(chunk)
                if norms is not None:
                    norms.update(chunk)
            outcomes = []
            if acc is not None:
                m = acc.result()
                kept = tuple(i for i in range(ndim) if i not in axes)
                if assertions.value_range is not None:
                    lo, hi = assertions.value_range
                    tol = assertions.tol if assertions.tol is not None else 0.0
                    outcomes.append(judge_range(m, kept, lo, hi, tol))
                if assertions.mean is not None or assertions.std is not None:
                    tol = assertions.tol if assertions.tol is not None else DEFAULT_TOL
                    outcomes.extend(
                        judge_mean_std(
                            m, kept, assertions.mean, assertions.std, assertions.ddof, tol
                        )
                    )
            if norms is not None:
                tol = assertions.tol if assertions.tol is not None else DEFAULT_TOL
                kept = tuple(i for i in range(ndim) if i not in norms.axes)
                outcomes.append(
                    judge_unit_norm(norms.result(), kept, norms.axes, assertions.order, tol)
                )
            checked.append(CheckedArray(info.name, tuple(info.shape), where, outcomes))
    return CheckReport(str(input_path), checked)
