"""``.npy`` files: header parsed by hand (never unpickled), data streamed by readinto.

The header is a Python literal (read with ``ast.literal_eval``, as numpy does) whose
declared size is checked against the bytes there are before any data is read. Data
are read into one reused buffer (memory-mapping would count every page touched in
the process's resident memory). Fortran-ordered arrays are read through a memory
map, whose rows are strided on disk, and big-endian data are swapped to native.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import io
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from normcli.errors import InputError, OutputError
from normcli.io.base import (
    ArrayInfo,
    ArraySink,
    Reader,
    Writer,
    check_dtype,
    create_error,
    input_os_error,
    os_error_message,
    remove_quietly,
    replace_into_place,
    reusing_buffer,
)

MAGIC = b"\x93NUMPY"
#: Largest header we accept; numpy's own default limit is 10000 bytes.
MAX_HEADER = 65536


class NpyHeader:
    """A parsed ``.npy`` header: shape, dtype, order, and where the data start."""

    def __init__(self, shape, dtype, fortran, offset):
        self.shape: tuple[int, ...] = shape
        self.dtype: np.dtype = dtype
        self.fortran: bool = fortran
        self.offset: int = offset

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(stream: BinaryIO, where: str, *, allow_text: bool = False) -> NpyHeader:
    """Parse the header at the stream's position; ``where`` names the file in errors.

    ``allow_text`` lets a 1-d unicode array through (an ``.npz``'s class or file names).
    """
    bad = f"{where} is not a valid .npy file"
    magic = stream.read(8)
    if len(magic) < 8 or magic[:6] != MAGIC:
        raise InputError(f"{bad} (no NPY magic number); check that it is a NumPy .npy file")
    major = magic[6]
    if major == 1:
        raw = stream.read(2)
        size_fmt, prefix = "<H", 10
    elif major in (2, 3):
        raw = stream.read(4)
        size_fmt, prefix = "<I", 12
    else:
        raise InputError(f"{bad} (unknown format version {major}.{magic[7]})")
    if len(raw) != struct.calcsize(size_fmt):
        raise InputError(f"{where} is truncated inside its header; the file is incomplete")
    (header_len,) = struct.unpack(size_fmt, raw)
    if header_len > MAX_HEADER:
        raise InputError(
            f"{where} declares a {header_len}-byte header (more than {MAX_HEADER}); "
            "the file is corrupt or hostile"
        )
    text = stream.read(header_len)
    if len(text) != header_len:
        raise InputError(f"{where} is truncated inside its header; the file is incomplete")
    try:
        header = ast.literal_eval(text.decode("utf8" if major == 3 else "latin1"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise InputError(f"{bad} (its header cannot be parsed)") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise InputError(f"{bad} (its header lacks descr, fortran_order or shape)")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise InputError(f"{bad} (its shape {shape!r} is not a tuple of sizes)")
    if not isinstance(header["fortran_order"], bool):
        raise InputError(f"{bad} (fortran_order is not True or False)")
    descr = header["descr"]
    if isinstance(descr, str):
        try:
            dtype = np.dtype(descr)
        except (TypeError, ValueError):
            raise InputError(f"{bad} (unknown dtype {descr!r})") from None
    elif isinstance(descr, list):
        # A structured dtype: refused below, but never interpreted as objects.
        try:
            dtype = np.lib.format.descr_to_dtype(descr)
        except Exception:
            raise InputError(f"{bad} (unknown structured dtype)") from None
    else:
        raise InputError(f"{bad} (unknown dtype description)")
    if not (allow_text and is_text(dtype, shape)):
        check_dtype(dtype, where)
    return NpyHeader(shape, dtype, header["fortran_order"], prefix + header_len)


def is_text(dtype: np.dtype, shape: tuple[int, ...]) -> bool:
    """A list of text carried through (class names, file names): 1-d unicode."""
    return dtype.kind == "U" and dtype.names is None and len(shape) == 1


def native(chunk: np.ndarray) -> np.ndarray:
    """The chunk in native byte order (swapped in place when the buffer is ours and
    writable; a read-only view, of a memory map say, is copied)."""
    if chunk.dtype.byteorder not in ("=", "|") and not chunk.dtype.isnative:
        if not chunk.flags.writeable:
            chunk = chunk.copy()
        chunk.byteswap(inplace=True)
        return chunk.view(chunk.dtype.newbyteorder("="))
    return chunk


def stream_rows(
    stream: BinaryIO, header: NpyHeader, rows: int, where: str, take=None
) -> Iterator[np.ndarray]:
    """Read a C-ordered array's rows from ``stream`` (positioned at the data), each
    chunk into the buffer ``take(shape, dtype)`` gives (by default one reused buffer)."""
    shape, dtype = header.shape, header.dtype
    take = take or reusing_buffer()
    if not shape:
        buf = take((1,), dtype)
        _fill(stream, buf, where)
        yield native(buf).reshape(())
        return
    total = shape[0]
    step = max(1, min(rows, total))
    for start in range(0, total, step):
        buf = take((min(step, total - start), *shape[1:]), dtype)
        if buf.size:
            _fill(stream, buf, where)
        yield native(buf)


def _fill(stream: BinaryIO, buf: np.ndarray, where: str) -> None:
    view = memoryview(buf.view(np.uint8).reshape(-1))
    got = 0
    while got < view.nbytes:
        n = stream.readinto(view[got:])
        if not n:
            raise InputError(
                f"{where} ends early: its header declares more data than the file holds "
                "(truncated download or copy?)"
            )
        got += n


def read_rows_at(
    path: Path, data_offset: int, header: NpyHeader, start: int, stop: int, where: str
) -> np.ndarray:
    """Rows ``start:stop`` of the array whose data begin at ``data_offset`` in ``path``."""
    shape, dtype = header.shape, header.dtype
    if not shape:
        start, stop = 0, 1
    rest = shape[1:] if shape else ()
    k = max(0, min(stop, shape[0] if shape else 1) - start)
    if header.fortran and len(shape) > 1:
        mm = np.memmap(path, dtype=dtype, mode="r", offset=data_offset, shape=shape, order="F")
        try:
            return native(np.ascontiguousarray(mm[start : start + k]))
        finally:
            del mm
    row_bytes = math.prod(rest) * dtype.itemsize
    buf = np.empty(k * math.prod(rest), dtype=dtype)
    if buf.size:
        with open(path, "rb", buffering=0) as f:
            f.seek(data_offset + start * row_bytes)
            _fill(f, buf, where)
    out = native(buf)
    return out.reshape(()) if not shape else out.reshape((k, *rest))


class NpyReader(Reader):
    format = "npy"

    def __init__(self, path: Path):
        super().__init__(path)
        where = str(self.path)
        try:
            with open(self.path, "rb") as f:
                self.header = read_header(f, where)
                size = os.fstat(f.fileno()).st_size
        except OSError as exc:
            raise input_os_error(self.path, exc) from None
        if size - self.header.offset < self.header.data_bytes:
            raise InputError(
                f"{where} is truncated: its header declares {self.header.data_bytes} bytes "
                f"of data but the file holds {max(0, size - self.header.offset)}"
            )
        self._info = ArrayInfo(
            self.path.stem, self.header.shape, self.header.dtype.newbyteorder("=")
        )

    def arrays(self) -> list[ArrayInfo]:
        return [self._info]

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        return self.iter_chunks_into(name, rows, reusing_buffer())

    def iter_chunks_into(self, name: str, rows: int, take) -> Iterator[np.ndarray]:
        """As :meth:`iter_chunks`, each chunk read into the buffer ``take(shape, dtype)``
        gives (kept by the caller as long as it needs it): one read, no copy."""
        self.info(name)
        h = self.header
        try:
            if h.fortran and len(h.shape) > 1:
                for chunk in self._fortran_rows(rows):
                    buf = take(chunk.shape, chunk.dtype)
                    np.copyto(buf, chunk)
                    yield buf
                return
            with open(self.path, "rb", buffering=0) as f:
                f.seek(h.offset)
                yield from stream_rows(f, h, rows, str(self.path), take)
        except OSError as exc:
            raise input_os_error(self.path, exc) from None

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        self.info(name)
        try:
            return read_rows_at(
                self.path, self.header.offset, self.header, start, stop, str(self.path)
            )
        except OSError as exc:
            raise input_os_error(self.path, exc) from None

    def _fortran_rows(self, rows: int) -> Iterator[np.ndarray]:
        h = self.header
        mm = np.memmap(
            self.path, dtype=h.dtype, mode="r", offset=h.offset, shape=h.shape, order="F"
        )
        try:
            for start in range(0, h.shape[0], max(1, rows)):
                part = np.ascontiguousarray(mm[start : start + rows])
                yield native(part)
        finally:
            del mm


def header_bytes(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    """A version 1.0 (or 2.0 when needed) header, padded to 64 bytes as numpy does."""
    d = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(shape),
    }
    text = repr(d).encode("latin1")
    for version, fmt, prefix in ((1, "<H", 10), (2, "<I", 12)):
        total = prefix + len(text) + 1
        pad = (-total) % 64
        length = len(text) + pad + 1
        if length < 2 ** (8 * struct.calcsize(fmt)):
            return (
                MAGIC + bytes([version, 0]) + struct.pack(fmt, length) + text + b" " * pad + b"\n"
            )
    raise OutputError("array header too large")


class _NpySink(ArraySink):
    def __init__(self, fp: BinaryIO, name, shape, dtype, where):
        super().__init__(name, shape, dtype)
        self.fp = fp
        self.where = where

    def write(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        try:
            self.fp.write(memoryview(chunk.reshape(-1).view(np.uint8)))
        except OSError as exc:
            raise OutputError(f"cannot write {self.where}: {os_error_message(exc)}") from None
        self.rows_written += chunk.shape[0] if chunk.ndim else 1


def write_header(fp: BinaryIO, shape, dtype, where: str) -> None:
    try:
        fp.write(header_bytes(shape, dtype))
    except OSError as exc:
        raise OutputError(f"cannot write {where}: {os_error_message(exc)}") from None


class NpyWriter(Writer):
    """One array per file: the writer's path names it."""

    format = "npy"

    def __init__(self, path: Path, *, compression: str | None = None):
        super().__init__(path, compression=compression)
        if compression:
            raise OutputError(
                f"{self.path}: .npy files cannot be compressed; write .npz or .h5 to compress"
            )
        self._fp = open_exclusive(self.tmp, self.path)
        self._sink = None

    def add(self, name, shape, dtype) -> ArraySink:
        if self._sink is not None:
            raise OutputError(
                f"{self.path} is a .npy file, which holds one array; write .npz or .h5 to keep "
                f"several (got {self._sink.name!r} and {name!r})"
            )
        write_header(self._fp, shape, dtype, str(self.path))
        reserve(self._fp, math.prod(shape) * np.dtype(dtype).itemsize, self.path)
        self._sink = _NpySink(self._fp, name, shape, dtype, str(self.path))
        return self._sink

    def commit(self) -> None:
        try:
            self._fp.flush()
            self._fp.close()
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {os_error_message(exc)}") from None
        replace_into_place(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fp.close()
        remove_quietly(self.tmp)


def reserve(fp: BinaryIO, nbytes: int, target: Path) -> None:
    """Allocate the ``nbytes`` still to be written after ``fp``'s position: a full disk
    is then known before any data is written, and the writes do not allocate as they
    go (a third less system time here). Filesystems without it are written as usual."""
    allocate = getattr(os, "posix_fallocate", None)
    if allocate is None or nbytes <= 0:
        return
    try:
        fp.flush()
        allocate(fp.fileno(), fp.tell(), nbytes)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise OutputError(f"cannot write {target}: {os_error_message(exc)}") from None
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass  # not a real file


def open_exclusive(tmp: Path, target: Path) -> BinaryIO:
    """Create ``tmp`` for writing (it must not exist), naming ``target`` in errors."""
    try:
        return open(tmp, "xb")
    except OSError as exc:
        raise create_error(target, exc) from None
