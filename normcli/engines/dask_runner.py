"""``--engine dask``: the local engine's plan, its passes run by Dask over the chunks.

The plan is the same (normcli.ops): pass 1 takes the before-statistics and fits,
pass 2 transforms, writes and measures what was written. Only the loop differs. The
input becomes a dask.array whose blocks are the rows ``--chunk-size`` gives (aligned
to the stored chunks); each block's task runs the local engine's per-chunk functions
(``Accumulator.chunk_state``, ``Normalizer.chunk_state``, ``ApplyStep.run``, given
the block's first row) on a worker, and this process absorbs their results in block
order with the same merges (``Accumulator.absorb``, ``Moments.merge``, the
normalizers' ``_merge``). The statistics fold fixed groups of rows whatever the
blocks (``normcli.grid.GridFold``), so the figures and the written values are those
of the local engine, to the bit, though its pieces are smaller.

Blocks are read on the workers (a :class:`RowSource` holds a path and a name, and
reads its rows with the format's ``read_rows``). A format that takes blocks at any
position (``Writer.add_region``: Zarr) is written by the workers directly, one
stored chunk per block; any other output is written here, in order, as the blocks
arrive. At most a window of blocks is in flight, so memory stays bounded.

Where the tasks run: without ``--scheduler``, threads of this process (an
in-process dask.distributed cluster); ``--scheduler local:N`` starts a LocalCluster
of N worker processes; any other value is the address of a running scheduler
(``tcp://host:8786``), whose workers must have normcli installed and reach INPUT and
OUTPUT at the same paths.

dask is imported only here and only when this engine is chosen.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from normcli.engines.base import Runner, as_stream_shape, finish_chunk, single_blas_thread
from normcli.engines.local import LocalRunner
from normcli.errors import NormcliError, ParameterError
from normcli.io import open_reader, rows_per_chunk

EXTRA = "pip install 'normcli[dask]'"
_LOCAL = re.compile(r"local(?::(\d+))?$")


def require_dask():
    """dask.array and dask.distributed, or a one-line error naming the extra."""
    try:
        import dask.array
        import distributed
    except ImportError:
        raise NormcliError(f"--engine dask needs dask and dask.distributed: {EXTRA}") from None
    return dask, distributed


def parse_scheduler(text: str | None) -> tuple[str, int | str | None]:
    """``None`` -> ("threads", None); ``local:N`` -> ("local", N); else ("address", text)."""
    if text is None or not text.strip():
        return "threads", None
    text = text.strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise ParameterError("--scheduler local:N needs N >= 1 workers")
        return "local", n
    if text.startswith("local"):
        raise ParameterError(f"--scheduler {text}: write local:N, e.g. local:4")
    return "address", text


@contextlib.contextmanager
def dask_runner(scheduler: str | None = None) -> Iterator[DaskRunner]:
    """A :class:`DaskRunner` on the scheduler ``--scheduler`` names, closed afterwards."""
    dask, distributed = require_dask()
    kind, arg = parse_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        # Dask's own log lines (slow event loops, garbage collection, retries) are not
        # for the user of a command line: failures reach normcli as errors.
        log = logging.getLogger("distributed")
        stack.callback(log.setLevel, log.level)
        log.setLevel(logging.CRITICAL)
        # The workers' statistical profiler samples every thread's stack 100 times a
        # second (sys._current_frames): CPU for nothing here, and under load it was seen
        # to deadlock a worker thread of the in-process cluster waiting for the GIL.
        stack.enter_context(dask.config.set({"distributed.worker.profile.enabled": False}))
        if kind == "address":
            from distributed.comm import parse_address
            from distributed.comm.registry import backends

            scheme = parse_address(arg)[0]
            if scheme not in backends:
                raise ParameterError(
                    f"--scheduler {arg}: unknown protocol {scheme!r}; give an address such as "
                    "tcp://host:8786, or local:N"
                )
            try:
                client = distributed.Client(arg, timeout="10s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise NormcliError(
                    f"cannot connect to the Dask scheduler at {arg} ({_first_line(exc)}); "
                    "check the address, or use --scheduler local:N to start workers here"
                ) from None
        else:
            processes = kind == "local"
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=arg if processes else 1,
                    threads_per_worker=1 if processes else (os.cpu_count() or 1),
                    processes=processes,
                    dashboard_address=":0",  # any free port: 8787 may be taken
                    silence_logs=50,  # logging.CRITICAL: failures reach us as errors
                )
            )
            client = distributed.Client(cluster, set_as_default=False)
        stack.callback(client.close)
        yield DaskRunner(client)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RowSource:
    """The rows of one array of a file, for dask.array.from_array: whoever computes a
    block opens the file and reads its rows (the object is a path and a name)."""

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype: np.dtype, options=None):
        self.path, self.name, self.options = path, name, options
        self.shape = tuple(shape) if shape else (1,)  # a 0-d array streams as one row
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, index) -> np.ndarray:
        index = index if isinstance(index, tuple) else (index,)
        start, stop, _ = index[0].indices(self.shape[0])
        with open_reader(self.path, self.options) as reader:
            block = as_stream_shape(reader.read_rows(self.name, start, stop))
        rest = index[1:]
        if all(r == slice(None) for r in rest):
            return block
        return block[(slice(None), *rest)]


# -- the tasks (module-level functions, so workers import them by name) ---------------------


def _scan_block(block: np.ndarray, consumers: list, start: int) -> list:
    with single_blas_thread():
        return [c.chunk_state(block, start) for c in consumers]


def _apply_block(block: np.ndarray, step, region, start: int):
    """Transform a block; written here (``region``), with the statistics of what was
    written, or sent back whole to be written in order."""
    with single_blas_thread():
        out = np.empty(block.shape, dtype=step.out_dtype)
        if region is None:
            return step.start(block, out, start), out
        states = step.run(block, out, start)
    region.write(start, out)
    return states


def _apply_block_watched(block: np.ndarray, step, start: int):
    """As :func:`_apply_block` without a region, the input block sent back too (for
    --hist and --check-ranks, which see each input chunk beside its output)."""
    with single_blas_thread():
        out = np.empty(block.shape, dtype=step.out_dtype)
        return step.start(block, out, start), out, block


def _copy_block(block: np.ndarray, region, start: int) -> None:
    region.write(start, block)


class DaskRunner(Runner):
    """Runs every pass as one Dask task per block, absorbing the results in order."""

    name = "dask"

    def __init__(self, client):
        self.client = client
        self.threads = sum(client.nthreads().values()) or 1

    def window(self, large_results: bool) -> int:
        """Blocks in flight at once: enough to keep every worker thread busy; few when
        each result is a whole block on its way to this process."""
        return max(4, 2 * self.threads) if large_results else max(16, 8 * self.threads)

    # -- the blocks ------------------------------------------------------------------------

    def _blocks(self, reader, info, chunk_bytes):
        """The input as a dask.array in the local engine's chunks, and its blocks' rows."""
        import dask
        import dask.array as da

        reader.read_rows(info.name, 0, 0)  # fails here, once, if blocks cannot be read
        rows_total = info.shape[0] if info.shape else 1
        step = reader.chunk_rows(info.name, rows_per_chunk(info, chunk_bytes)) if info.shape else 1
        path = str(Path(reader.path).resolve())
        source = RowSource(path, info.name, info.shape, info.dtype, reader.options)
        stat = os.stat(path)
        token = dask.base.tokenize(path, info.name, stat.st_mtime_ns, stat.st_size, step)
        x = da.from_array(
            source,
            chunks=(step, *source.shape[1:]),
            name=f"normcli-read-{token}",
            meta=np.empty((0,) * source.ndim, dtype=info.dtype),
            asarray=False,
            fancy=False,
        )
        starts = list(range(0, rows_total, step))
        return list(x.to_delayed().ravel()), [(s, min(s + step, rows_total)) for s in starts]

    def _ordered(self, tasks, sizes, progress, label, window: int) -> Iterator:
        """Compute ``tasks`` (Delayed), at most ``window`` in flight, submitted in batches
        (one submission costs tens of milliseconds, a task in a batch a few); yield the
        results in order. On a failure or an interruption the tasks in flight are let
        finish (a running task cannot be stopped) before the error propagates, so
        nothing writes to an output the caller is about to remove."""
        pending: collections.deque = collections.deque()
        todo = collections.deque(zip(tasks, sizes, strict=True))
        try:
            with progress.task(label, sum(sizes)) as bar:
                while todo or pending:
                    if todo and len(pending) <= window // 2:
                        batch = [
                            todo.popleft() for _ in range(min(window - len(pending), len(todo)))
                        ]
                        futures = self.client.compute([task for task, _ in batch])
                        pending.extend(zip(futures, [size for _, size in batch], strict=True))
                    future, size = pending.popleft()
                    result = future.result()
                    del future
                    bar.advance(size)
                    yield result
        finally:
            if pending:
                futures = [f for f, _ in pending]
                for future in futures:  # (distributed.wait needs a default client)
                    with contextlib.suppress(Exception):  # a second Ctrl-C still ends it
                        future.result(timeout=600)
                self.client.cancel(futures)

    def _shared(self, obj):
        """``obj`` sent to the cluster once per pass, not once per task (a list is sent
        item by item: a list of futures, which tasks receive as the list)."""
        return self.client.scatter(obj, broadcast=False, hash=False)

    # -- the passes --------------------------------------------------------------------------

    def scan(self, reader, info, consumers, *, chunk_bytes, progress, label, check=None):
        import dask

        blocks, bounds = self._blocks(reader, info, chunk_bytes)
        shared = self._shared(list(consumers))
        tasks = [
            dask.delayed(_scan_block, pure=False)(b, shared, start)
            for b, (start, _) in zip(blocks, bounds, strict=True)
        ]
        results = self._ordered(tasks, _sizes(info, bounds), progress, label, self.window(False))
        with contextlib.closing(results):
            for states in results:
                for consumer, state in zip(consumers, states, strict=True):
                    consumer.absorb(state)
                if check is not None:
                    check()

    def apply(
        self, reader, info, step, writer, *, chunk_bytes, progress, label, check=None, watch=None
    ) -> np.dtype:
        import dask

        blocks, bounds = self._blocks(reader, info, chunk_bytes)
        region = None
        if info.shape and watch is None:
            rows = bounds[0][1] - bounds[0][0]
            region = writer.add_region(info.name, info.shape, step.out_dtype, rows)
        sizes = _sizes(info, bounds)
        if region is not None:  # the workers write; only statistics come back
            step.set_output(step.out_dtype)
            shared = self._shared(step)
            tasks = [
                dask.delayed(_apply_block, pure=False)(b, shared, region, start)
                for b, (start, _) in zip(blocks, bounds, strict=True)
            ]
            results = self._ordered(tasks, sizes, progress, label, self.window(False))
            with contextlib.closing(results):
                for before, after in results:
                    step.absorb_before(before, check)
                    step.after.absorb(after)
            return step.out_dtype
        # written here, in order, as the blocks arrive (the local engine's last steps)
        with writer.add(info.name, info.shape, step.out_dtype) as sink:
            step.set_output(sink.stored_dtype)
            shared = self._shared(step)
            starts = [start for start, _ in bounds]
            if watch is None:
                tasks = [
                    dask.delayed(_apply_block, pure=False)(b, shared, None, start)
                    for b, start in zip(blocks, starts, strict=True)
                ]
            else:
                tasks = [
                    dask.delayed(_apply_block_watched, pure=False)(b, shared, start)
                    for b, start in zip(blocks, starts, strict=True)
                ]
            results = self._ordered(tasks, sizes, progress, label, self.window(True))
            with contextlib.closing(results):
                for result, (start, _) in zip(results, bounds, strict=True):
                    before, out = result[0], result[1]
                    chunk = result[2] if watch is not None else None
                    sink.write(
                        finish_chunk(step, sink, info, chunk, out, before, check, watch, start)
                    )
            return sink.stored_dtype

    def copy(self, reader, info, writer, *, chunk_bytes, progress):
        import dask

        region = None
        if info.shape and info.size:
            blocks, bounds = self._blocks(reader, info, chunk_bytes)
            region = writer.add_region(info.name, info.shape, info.dtype, bounds[0][1])
        if region is None:  # written here, in order, as the local engine does
            LocalRunner().copy(reader, info, writer, chunk_bytes=chunk_bytes, progress=progress)
            return
        tasks = [
            dask.delayed(_copy_block, pure=False)(b, region, start)
            for b, (start, _) in zip(blocks, bounds, strict=True)
        ]
        sizes = _sizes(info, bounds)
        results = self._ordered(tasks, sizes, progress, f"copy {info.name}", self.window(False))
        with contextlib.closing(results):
            for _ in results:
                pass


def _sizes(info, bounds) -> list[int]:
    row_bytes = info.row_bytes if info.shape else info.dtype.itemsize
    return [(stop - start) * row_bytes for start, stop in bounds]
