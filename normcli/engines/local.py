"""The local engine: every pass runs in this process, reading, computing on threads and
writing overlapped (see :mod:`normcli.engines.pipeline`).
"""

from __future__ import annotations

import math
import os

import numpy as np

from normcli.engines.base import Runner, chunk_states, finish_chunk
from normcli.engines.pipeline import Pipeline
from normcli.grid import group_rows
from normcli.io import ArrayInfo, rows_per_chunk
from normcli.io.base import ArraySink

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
        with progress.task(label, info.nbytes) as task, Pipeline(threads, slots) as pipe:

            def finish(done):
                chunk, states = done
                for consumer, state in zip(consumers, states, strict=True):
                    consumer.absorb(state)
                if check is not None:
                    check()
                task.advance(chunk.nbytes)

            row = 0
            for chunk in pipe.read(reader, info, rows, finish):
                pipe.submit(finish, (chunk,), chunk_states, consumers, chunk, row)
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
                Pipeline(threads, slots, sink=sink) as pipe,
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
    cap = LIBRARY_PIECE_BYTES if reader.format in ("hdf5", "netcdf", "zarr") else PIECE_BYTES
    rows = max(1, min(piece_bytes, cap) // max(1, row_bytes))
    group = group_rows(info.shape or (1,))
    if group * row_bytes <= piece_bytes:
        rows = max(group, rows - rows % group)
    stored = info.extra.get("chunks") if info.shape else None
    if stored:
        rows = max(rows, stored[0])
    return reader.chunk_rows(info.name, min(rows, info.rows))
