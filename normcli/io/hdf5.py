"""HDF5 files through h5py: any dataset path, slab reads along axis 0.

Array names are dataset paths without the leading slash (``train/images``). Reads
go into one reused buffer with ``read_direct``, in slabs aligned to the dataset's
own chunking so no HDF5 chunk is decompressed twice.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from normcli.errors import InputError, OutputError
from normcli.io.base import (
    ArrayInfo,
    ArraySink,
    Reader,
    Writer,
    aligned_rows,
    check_dtype,
    create_error,
    input_os_error,
    os_error_message,
    remove_quietly,
    replace_into_place,
)

try:  # h5py is a hard dependency, but keep import errors readable
    import h5py
except ImportError:  # pragma: no cover
    h5py = None

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _open(path: Path):
    try:
        return h5py.File(path, "r", locking=False)
    except FileNotFoundError as exc:
        raise input_os_error(path, exc) from None
    except PermissionError as exc:
        raise input_os_error(path, exc) from None
    except (OSError, ValueError) as exc:
        text = str(exc)
        if "file signature not found" in text or "not an HDF5" in text:
            raise InputError(f"{path} is not an HDF5 file; check its format") from None
        if "truncated" in text or "eof" in text.lower():
            raise InputError(f"{path} is truncated; the HDF5 file is incomplete") from None
        raise InputError(
            f"{path} cannot be opened as HDF5 ({_first_line(text)}); the file may be corrupt"
        ) from None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class Hdf5Reader(Reader):
    format = "hdf5"

    def __init__(self, path: Path):
        super().__init__(path)
        self._file = _open(self.path)
        try:
            self._infos = self._scan()
        except BaseException:
            self._file.close()
            raise

    def _scan(self) -> list[ArrayInfo]:
        infos: list[ArrayInfo] = []
        self._text_names: list[str] = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                where = f"{self.path}:{name}"
                try:
                    dtype = obj.dtype
                except Exception:
                    raise InputError(f"{where} has a dtype h5py cannot read") from None
                string = h5py.check_string_dtype(dtype)
                if string is not None and string.encoding == "utf-8" and obj.ndim == 1:
                    self._text_names.append(name)  # class or file names, carried through
                    return
                check_dtype(dtype, where)
                extra = {"chunks": obj.chunks, "compression": obj.compression}
                infos.append(
                    ArrayInfo(name, tuple(obj.shape or ()), dtype.newbyteorder("="), extra=extra)
                )

        try:
            self._file.visititems(visit)
        except InputError:
            raise
        except (OSError, RuntimeError, KeyError) as exc:
            raise InputError(
                f"{self.path} cannot be read ({_first_line(str(exc))}); the file may be corrupt"
            ) from None
        return infos

    def arrays(self) -> list[ArrayInfo]:
        return list(self._infos)

    def texts(self) -> dict[str, list[str]]:
        out = {}
        for name in self._text_names:
            try:
                out[name] = [str(v) for v in self._file[name].asstr()[()]]
            except (OSError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
                raise InputError(
                    f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the file may be "
                    "corrupt"
                ) from None
        return out

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        info = self.info(name)
        ds = self._file[name]
        where = f"{self.path}:{name}"
        dtype = info.dtype
        try:
            if not info.shape:
                out = np.empty((), dtype=dtype)
                ds.read_direct(out)
                yield out
                return
            total = info.shape[0]
            step = self.chunk_rows(name, rows)
            if info.size == 0:
                for start in range(0, total, step):
                    yield np.empty((min(step, total - start), *info.shape[1:]), dtype=dtype)
                return
            buf = np.empty((step, *info.shape[1:]), dtype=dtype)
            for start in range(0, total, step):
                k = min(step, total - start)
                part = buf[:k]
                ds.read_direct(part, np.s_[start : start + k], np.s_[0:k])
                yield part
        except InputError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(
                f"cannot read {where} ({_first_line(str(exc))}); the file may be corrupt or "
                "need an HDF5 filter plugin"
            ) from None

    def iter_chunks_into(self, name: str, rows: int, take) -> Iterator[np.ndarray]:
        """As :meth:`iter_chunks`, each chunk read into a new buffer ``take(shape, dtype)``
        gives (kept by the caller as long as it needs it)."""
        info = self.info(name)
        if not info.shape or not info.size:
            for chunk in self.iter_chunks(name, rows):
                buf = take(chunk.shape, chunk.dtype)
                np.copyto(buf, chunk)
                yield buf
            return
        ds = self._file[name]
        total, step = info.shape[0], self.chunk_rows(name, rows)
        for start in range(0, total, step):
            k = min(step, total - start)
            part = take((k, *info.shape[1:]), info.dtype)
            try:
                ds.read_direct(part, np.s_[start : start + k], np.s_[0:k])
            except (OSError, RuntimeError, ValueError) as exc:
                raise InputError(
                    f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the file may "
                    "be corrupt or need an HDF5 filter plugin"
                ) from None
            yield part

    def chunk_rows(self, name: str, rows: int) -> int:
        return aligned_rows(rows, self.info(name).rows, (self._file[name].chunks or (0,))[0])

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        info = self.info(name)
        ds = self._file[name]
        try:
            if not info.shape:
                out = np.empty((), dtype=info.dtype)
                ds.read_direct(out)
                return out
            stop = min(stop, info.shape[0])
            out = np.empty((max(0, stop - start), *info.shape[1:]), dtype=info.dtype)
            if out.size:
                ds.read_direct(out, np.s_[start:stop], np.s_[0 : stop - start])
            return out
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(
                f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the file may be "
                "corrupt or need an HDF5 filter plugin"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()


class _DatasetSink(ArraySink):
    def __init__(self, ds, name, shape, dtype, where):
        super().__init__(name, shape, dtype)
        self.ds = ds
        self.where = where

    def write(self, chunk: np.ndarray) -> None:
        try:
            if not self.shape:
                self.ds[()] = chunk
                self.rows_written += 1
                return
            k = chunk.shape[0]
            self.ds[self.rows_written : self.rows_written + k] = chunk
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"cannot write {self.where}: {_first_line(str(exc))}") from None
        self.rows_written += k


class Hdf5Writer(Writer):
    format = "hdf5"

    def __init__(self, path: Path, *, compression: str | None = None):
        super().__init__(path, compression=compression)
        if compression not in (None, "none", "gzip", "lzf"):
            raise OutputError(f"{self.path}: HDF5 output supports --compression gzip, lzf or none")
        try:
            self._file = h5py.File(self.tmp, "x", locking=False)
        except (FileNotFoundError, PermissionError) as exc:
            raise create_error(self.path, exc) from None
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {_first_line(str(exc))}") from None

    def add(self, name, shape, dtype) -> ArraySink:
        shape = tuple(shape)
        kwargs = {}
        if shape and math.prod(shape) > 0:
            row_bytes = max(1, math.prod(shape[1:]) * np.dtype(dtype).itemsize)
            kwargs["chunks"] = (max(1, min(shape[0], (1 << 20) // row_bytes)), *shape[1:])
            if self.compression in ("gzip", "lzf"):
                kwargs["compression"] = self.compression
                if self.compression == "gzip":
                    kwargs["compression_opts"] = 4
                kwargs["shuffle"] = True
        try:
            ds = self._file.create_dataset(name, shape=shape, dtype=dtype, **kwargs)
        except (OSError, RuntimeError, ValueError) as exc:
            raise OutputError(
                f"cannot create {name!r} in {self.path}: {_first_line(str(exc))}"
            ) from None
        return _DatasetSink(ds, name, shape, dtype, str(self.path))

    def add_texts(self, name: str, values: list[str]) -> bool:
        try:
            self._file.create_dataset(name, data=list(values), dtype=h5py.string_dtype())
        except (OSError, RuntimeError, ValueError) as exc:
            raise OutputError(
                f"cannot create {name!r} in {self.path}: {_first_line(str(exc))}"
            ) from None
        return True

    def set_attr(self, name: str, key: str, value) -> None:
        self._file[name].attrs[key] = value

    def commit(self) -> None:
        try:
            self._file.close()
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {os_error_message(exc)}") from None
        replace_into_place(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()
        remove_quietly(self.tmp)
