"""``.npz`` archives: each member streamed from the zip, never loaded whole.

Member headers are parsed like ``.npy`` files (no pickles). Before any data are
read, every member's declared array size must equal the bytes the zip declares for
it, and the zip's declared size must be reachable from its compressed size (deflate
cannot expand more than about 1032 times): a member that claims otherwise is a zip
bomb or a corrupt file and is refused. zipfile checks each member's CRC as it ends.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from normcli.errors import InputError, OutputError
from normcli.io.base import (
    ArrayInfo,
    ArraySink,
    Reader,
    Writer,
    input_os_error,
    os_error_message,
    replace_into_place,
)
from normcli.io.npy import (
    NpyHeader,
    is_text,
    native,
    open_exclusive,
    read_header,
    read_rows_at,
    stream_rows,
    write_header,
)

#: deflate's largest possible expansion is about 1032:1; allow a margin.
MAX_DEFLATE_RATIO = 1100
#: zip compression methods we can stream.
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
for _name in ("ZIP_BZIP2", "ZIP_LZMA"):
    if hasattr(zipfile, _name):
        _METHODS[getattr(zipfile, _name)] = _name[4:].lower()


def _member_problem(name: str) -> str | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in p.parts:
        return "'..' in its path"
    return None


class NpzReader(Reader):
    format = "npz"

    def __init__(self, path: Path):
        super().__init__(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except zipfile.BadZipFile:
            raise InputError(
                f"{self.path} is not a valid .npz file (not a zip archive, or truncated); "
                "check that it is complete"
            ) from None
        except OSError as exc:
            raise input_os_error(self.path, exc) from None
        try:
            self._members = self._scan()
        except BaseException:
            self._zip.close()
            raise

    def _check_overlaps(self) -> None:
        """Members whose bytes overlap (a zip bomb that reuses one compressed stream for
        many members, or a damaged directory) are refused before anything is read."""
        infos = sorted(self._zip.infolist(), key=lambda z: z.header_offset)
        for a, b in itertools.pairwise(infos):
            # a local header is at least 30 bytes; its data follow it
            if b.header_offset < a.header_offset + 30 + a.compress_size:
                raise InputError(
                    f"{self.path}: members {a.filename!r} and {b.filename!r} overlap in the "
                    "archive: a zip bomb or a damaged archive; refusing to read it (get a "
                    "good copy, or re-create it with np.savez)"
                )

    def _scan(self) -> dict[str, tuple[zipfile.ZipInfo, NpyHeader]]:
        self._check_overlaps()
        members: dict[str, tuple[zipfile.ZipInfo, NpyHeader]] = {}
        self._text_members: dict[str, tuple[zipfile.ZipInfo, NpyHeader]] = {}
        for zinfo in self._zip.infolist():
            if zinfo.is_dir() or not zinfo.filename.endswith(".npy"):
                continue
            where = f"{self.path}:{zinfo.filename}"
            problem = _member_problem(zinfo.filename)
            if problem:
                raise InputError(
                    f"{self.path} has a member named {zinfo.filename!r} with {problem}; "
                    "refusing a hostile or corrupt archive (re-create it with np.savez)"
                )
            if zinfo.compress_type not in _METHODS:
                raise InputError(
                    f"{where} uses an unsupported zip compression method "
                    f"({zinfo.compress_type}); re-save it with np.savez or np.savez_compressed"
                )
            if zinfo.flag_bits & 0x41:  # bit 0: encrypted; bit 6: "strong encryption"
                raise InputError(f"{where} is encrypted; decrypt the archive first")
            if zinfo.compress_type == zipfile.ZIP_STORED:
                limit = zinfo.compress_size
            else:
                limit = zinfo.compress_size * MAX_DEFLATE_RATIO + 1024
            if zinfo.file_size > limit:
                raise InputError(
                    f"{where} declares {zinfo.file_size} bytes from {zinfo.compress_size} "
                    "compressed bytes, more than compression can produce: a zip bomb or a "
                    "corrupt archive; refusing to read it (get a good copy)"
                )
            try:
                with self._zip.open(zinfo) as stream:
                    header = read_header(stream, where, allow_text=True)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InputError(f"{where} is corrupt ({exc}); the archive is damaged") from None
            except OSError as exc:
                raise input_os_error(self.path, exc) from None
            if header.offset + header.data_bytes != zinfo.file_size:
                raise InputError(
                    f"{where} declares {header.data_bytes} bytes of array data but the archive "
                    f"holds {max(0, zinfo.file_size - header.offset)}; the archive is corrupt"
                )
            target = self._text_members if is_text(header.dtype, header.shape) else members
            target[zinfo.filename[: -len(".npy")]] = (zinfo, header)
        return members

    def texts(self) -> dict[str, list[str]]:
        out = {}
        for name, (zinfo, header) in self._text_members.items():
            where = f"{self.path}:{zinfo.filename}"
            try:
                with self._zip.open(zinfo) as stream:
                    stream.read(header.offset)
                    raw = stream.read()
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InputError(f"{where} is corrupt ({exc}); the archive is damaged") from None
            order = "F" if header.fortran else "C"
            values = np.frombuffer(raw, dtype=header.dtype).reshape(header.shape, order=order)
            out[name] = [str(v) for v in values]
        return out

    def arrays(self) -> list[ArrayInfo]:
        return [
            ArrayInfo(
                name,
                h.shape,
                h.dtype.newbyteorder("="),
                extra={"compression": _METHODS[z.compress_type]},
            )
            for name, (z, h) in self._members.items()
        ]

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        self.info(name)
        zinfo, header = self._members[name]
        where = f"{self.path}:{zinfo.filename}"
        if header.fortran and len(header.shape) > 1:
            yield from self._fortran(zinfo, header, rows, where)
            return
        try:
            with self._zip.open(zinfo) as stream:
                # read past the header, never seek: from Python 3.12 a forward seek in a
                # stored member turns zipfile's CRC check off for the rest of the stream
                stream.read(header.offset)
                yield from stream_rows(stream, header, rows, where)
                stream.read(1)  # reach the end so zipfile checks the CRC
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(f"{where} is corrupt ({exc}); the archive is damaged") from None
        except OSError as exc:
            raise input_os_error(self.path, exc) from None

    def _fortran(self, zinfo, header: NpyHeader, rows: int, where: str):
        # Rows of a Fortran-ordered member are scattered through the stream: spool the
        # member to an unnamed temporary file and read its rows through a memory map,
        # so memory stays bounded whatever the member's size.
        import shutil
        import tempfile

        with tempfile.TemporaryFile() as spool:
            try:
                with self._zip.open(zinfo) as stream:
                    stream.read(header.offset)
                    shutil.copyfileobj(stream, spool, 1 << 20)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise InputError(f"{where} is corrupt ({exc}); the archive is damaged") from None
            if spool.tell() != header.data_bytes:
                raise InputError(f"{where} ends early; the archive is truncated")
            spool.flush()
            mm = np.memmap(spool, dtype=header.dtype, mode="r", shape=header.shape, order="F")
            try:
                for start in range(0, header.shape[0], max(1, rows)):
                    part = np.ascontiguousarray(mm[start : start + rows])
                    yield native(part)
            finally:
                del mm

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        self.info(name)
        zinfo, header = self._members[name]
        where = f"{self.path}:{zinfo.filename}"
        if zinfo.compress_type != zipfile.ZIP_STORED:
            raise InputError(
                f"{where} is compressed, so it can only be read from its start; use the "
                "local engine, or save it uncompressed (np.savez) or as .npy, .h5 or .zarr"
            )
        try:
            # a stored member's bytes lie as they are after its local header
            with open(self.path, "rb") as f:
                f.seek(zinfo.header_offset)
                local = f.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise InputError(f"{where} has a corrupt local header; the archive is damaged")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            data = zinfo.header_offset + 30 + name_len + extra_len + header.offset
            return read_rows_at(self.path, data, header, start, stop, where)
        except OSError as exc:
            raise input_os_error(self.path, exc) from None

    def close(self) -> None:
        self._zip.close()


class _MemberSink(ArraySink):
    def __init__(self, stream, name, shape, dtype, where):
        super().__init__(name, shape, dtype)
        self.stream = stream
        self.where = where

    def write(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        try:
            self.stream.write(memoryview(chunk.reshape(-1).view(np.uint8)))
        except OSError as exc:
            raise OutputError(f"cannot write {self.where}: {os_error_message(exc)}") from None
        self.rows_written += chunk.shape[0] if chunk.ndim else 1

    def close(self) -> None:
        super().close()
        try:
            self.stream.close()
        except OSError as exc:
            raise OutputError(f"cannot write {self.where}: {os_error_message(exc)}") from None


class NpzWriter(Writer):
    format = "npz"

    def __init__(self, path: Path, *, compression: str | None = None):
        super().__init__(path, compression=compression)
        if compression not in (None, "none", "gzip", "deflate"):
            raise OutputError(f"{self.path}: .npz supports --compression gzip (deflate) or none")
        method = zipfile.ZIP_DEFLATED if compression in ("gzip", "deflate") else zipfile.ZIP_STORED
        self._fp = open_exclusive(self.tmp, self.path)
        level = 4 if method == zipfile.ZIP_DEFLATED else None
        self._zip = zipfile.ZipFile(
            self._fp, "w", compression=method, allowZip64=True, compresslevel=level
        )
        self._names: set[str] = set()
        self._stream = None

    def add_texts(self, name: str, values: list[str]) -> bool:
        arr = np.array(values, dtype=str) if values else np.array([], dtype="<U1")
        with self.add(name, arr.shape, arr.dtype) as sink:
            sink.write(arr)
        return True

    def add(self, name, shape, dtype) -> ArraySink:
        if name in self._names:
            raise OutputError(f"{self.path}: two arrays named {name!r}")
        self._names.add(name)
        try:
            stream = self._zip.open(name + ".npy", mode="w", force_zip64=True)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {os_error_message(exc)}") from None
        self._stream = stream
        write_header(stream, shape, dtype, str(self.path))
        return _MemberSink(stream, name, shape, dtype, str(self.path))

    def commit(self) -> None:
        try:
            self._zip.close()
            self._fp.close()
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {os_error_message(exc)}") from None
        replace_into_place(self.tmp, self.path)

    def abort(self) -> None:
        closers = (self._stream.close,) if self._stream is not None else ()
        for closer in (*closers, self._zip.close, self._fp.close):
            with contextlib.suppress(Exception):
                closer()
        super().abort()
