"""Pieces in flight for the local engine: read into reused buffers, computed by threads,
finished in order, written in order by a writer thread.
"""

from __future__ import annotations

import collections
import math
import queue
import threading
from collections.abc import Iterator

import numpy as np

from normcli.engines.base import as_stream_shape
from normcli.io import ArrayInfo
from normcli.signals import check_signals, deferred_signals


class Pipeline:
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


def _chunks_into(reader, info: ArrayInfo, rows: int, take) -> Iterator[np.ndarray]:
    """The chunks of ``info`` (at least 1-d), each in a buffer from ``take(shape,
    dtype)``: read there directly by a format that can, else copied from its chunks."""
    read_into = getattr(reader, "iter_chunks_into", None)
    if read_into is not None:
        for chunk in read_into(info.name, rows, take):
            yield as_stream_shape(chunk)
        return
    for chunk in reader.iter_chunks(info.name, rows):
        chunk = as_stream_shape(chunk)
        buf = take(chunk.shape, chunk.dtype)
        np.copyto(buf, chunk)
        yield buf
