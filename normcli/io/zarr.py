"""Zarr stores (v3; v2 is read too) through the zarr package: the optional extra ``zarr``.

A ``.zarr`` store is a group holding one array per name, like an ``.npz``: array names
are paths inside the group without a leading slash (``train/images``), so
``x.npy`` normalized to ``out.zarr`` gives ``out.zarr/x``. A store whose root is a
single array is read too, named by its stem as a ``.npy`` is.

Arrays are written chunked along axis 0 (whole rows per chunk; about
:data:`CHUNK_BYTES` per chunk, or one chunk per block of a parallel engine) into a
temporary store beside the target, moved into place when complete. Reads are
aligned to the stored chunks, as for HDF5.

Attributes are read (and CF-decoded, :mod:`normcli.io.decoded`) as xarray reads them:
a Zarr v2 array written by xarray (it has ``_ARRAY_DIMENSIONS``) takes its Zarr
``fill_value`` as its ``_FillValue``; xarray's base64 ``_FillValue`` of a v3 float
array is decoded. One array that cannot be read (text) does not make the store
unreadable: it is listed in ``skipped``. A Zarr OUTPUT from a Zarr INPUT keeps each
array's compressors, its chunk length along axis 0 and its attributes.
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from normcli.errors import InputError, NormcliError, OutputError
from normcli.io.base import (
    ArrayInfo,
    ArraySink,
    Reader,
    RegionSink,
    Writer,
    aligned_rows,
    check_dtype,
    remove_quietly,
)
from normcli.io.zarr_checks import check_entries, check_written

#: Bytes per chunk of an array written in order (the local engine).
CHUNK_BYTES = 16 << 20
#: Files at the root of a directory that make it a Zarr store (v3, then v2).
MARKERS = ("zarr.json", ".zgroup", ".zarray")
COMPRESSIONS = (None, "none", "gzip", "zstd")


def require_zarr(action: str = "read or write .zarr stores"):
    """The zarr module, or a one-line error naming the extra that installs it."""
    try:
        import zarr
    except ImportError:
        raise NormcliError(
            f"to {action} normcli needs the zarr package: pip install 'normcli[zarr]'"
        ) from None
    return zarr


def is_zarr_store(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in MARKERS)


def _error_text(exc: Exception) -> str:
    """An error while writing, as a short text (a full disk: "No space left on device")."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _first_line(str(exc))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class ZarrReader(Reader):
    format = "zarr"

    def __init__(self, path: Path):
        super().__init__(path)
        zarr = require_zarr("read .zarr stores")
        if not is_zarr_store(self.path):
            raise InputError(
                f"{self.path} is not a Zarr store (no zarr.json in it); give a store written "
                "by zarr or normcli"
            )
        check_entries(self.path)  # no pipe or device for zarr's threads to block on
        try:
            root = zarr.open(store=str(self.path), mode="r")
        except Exception as exc:
            raise InputError(
                f"{self.path} cannot be opened as a Zarr store ({_first_line(str(exc))}); "
                "it may be corrupt"
            ) from None
        self._arrays: dict[str, object] = {}
        if isinstance(root, zarr.Array):
            self._arrays[self.path.stem] = root
        else:
            try:
                members = sorted(root.members(max_depth=None), key=lambda m: m[0])
            except Exception as exc:
                raise InputError(
                    f"{self.path} cannot be read ({_first_line(str(exc))}); it may be corrupt"
                ) from None
            for name, obj in members:
                if isinstance(obj, zarr.Array):
                    self._arrays[name] = obj
        self._infos = []
        for name, arr in list(self._arrays.items()):
            where = f"{self.path}:{name}"
            try:
                dtype = np.dtype(arr.dtype)
            except TypeError:  # zarr 3's own string types
                dtype = np.dtype(object)
            try:
                if dtype.kind in "OTSU":  # zarr keeps text as objects or strings, never pickles
                    raise InputError(
                        f"{where} holds text (Zarr dtype {arr.dtype}); normcli reads integer, "
                        "float and bool arrays only"
                    )
                check_dtype(dtype, where)
                check_written(self.path, None if isinstance(root, zarr.Array) else name, arr, where)
            except InputError as exc:
                self.skipped[name] = str(exc)
                del self._arrays[name]
                continue
            extra = {"chunks": tuple(arr.chunks)}
            dims = arr.attrs.get("_ARRAY_DIMENSIONS") or arr.metadata.__dict__.get(
                "dimension_names"
            )
            if dims and len(dims) == arr.ndim:
                extra["dims"] = tuple(dims)
            self._infos.append(
                ArrayInfo(name, tuple(arr.shape), dtype.newbyteorder("="), extra=extra)
            )

    def arrays(self) -> list[ArrayInfo]:
        return list(self._infos)

    def attributes(self, name: str) -> dict:
        arr = self._arrays[name]
        attrs = dict(arr.attrs)
        attrs.pop("_ARRAY_DIMENSIONS", None)
        fill = attrs.get("_FillValue")
        if isinstance(fill, str) and np.dtype(arr.dtype).kind == "f":
            # xarray writes a float fill value as base64 of a little-endian double; one
            # that is not is left as text, which CF decoding names as an error
            with contextlib.suppress(ValueError, struct.error):
                attrs["_FillValue"] = struct.unpack("<d", base64.standard_b64decode(fill))[0]
        if (
            "_FillValue" not in attrs
            and arr.metadata.zarr_format == 2
            and "_ARRAY_DIMENSIONS" in arr.attrs
            and arr.fill_value is not None
        ):
            attrs["_FillValue"] = arr.fill_value  # as xarray reads a v2 store
        return attrs

    def chunk_rows(self, name: str, rows: int) -> int:
        info = self.info(name)
        return aligned_rows(rows, info.rows, info.extra["chunks"][0] if info.shape else 0)

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        info = self.info(name)
        arr = self._arrays[name]
        try:
            if not info.shape:
                return np.asarray(arr[()], dtype=info.dtype).reshape(())
            stop = min(stop, info.shape[0])
            if stop <= start or info.size == 0:
                return np.empty((max(0, stop - start), *info.shape[1:]), dtype=info.dtype)
            return np.ascontiguousarray(arr[start:stop], dtype=info.dtype)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the store may be "
                "corrupt or incomplete"
            ) from None

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        info = self.info(name)
        if not info.shape:
            yield self.read_rows(name, 0, 1)
            return
        step = self.chunk_rows(name, rows)
        for start in range(0, info.shape[0], step):
            yield self.read_rows(name, start, start + step)


def _compressors(compression: str | None, where: Path):
    if compression not in COMPRESSIONS:
        raise OutputError(f"{where}: Zarr output supports --compression zstd, gzip or none")
    if compression in (None, "none"):
        return None
    from zarr.codecs import GzipCodec, ZstdCodec

    return [GzipCodec(level=4)] if compression == "gzip" else [ZstdCodec(level=3)]


def _chunks(shape: tuple[int, ...], rows: int) -> tuple[int, ...]:
    if not shape:
        return ()
    return (max(1, min(rows, shape[0])), *(max(1, s) for s in shape[1:]))


class _OrderedSink(ArraySink):
    """Rows written in order, gathered into whole stored chunks before each write."""

    def __init__(self, arr, name, shape, dtype, where):
        super().__init__(name, shape, dtype)
        self.arr = arr
        self.where = where
        self.rows = arr.chunks[0] if shape else 0
        self.pending = None
        self.filled = 0
        self.position = 0

    def _store(self, rows: np.ndarray) -> None:
        try:
            self.arr[self.position : self.position + rows.shape[0]] = rows
        except Exception as exc:
            raise OutputError(f"cannot write {self.where}: {_error_text(exc)}") from None
        self.position += rows.shape[0]

    def write(self, chunk: np.ndarray) -> None:
        chunk = np.asarray(chunk, dtype=self.dtype)
        if not self.shape:
            try:
                self.arr[()] = chunk.reshape(())
            except Exception as exc:
                raise OutputError(f"cannot write {self.where}: {_error_text(exc)}") from None
            self.rows_written += 1
            return
        k, i, cr = chunk.shape[0], 0, self.rows
        if self.filled:
            take = min(cr - self.filled, k)
            self.pending[self.filled : self.filled + take] = chunk[:take]
            self.filled += take
            i = take
            if self.filled == cr:
                self._store(self.pending)
                self.filled = 0
        whole = (k - i) // cr * cr
        if whole:
            self._store(chunk[i : i + whole])
            i += whole
        if i < k:
            if self.pending is None:
                self.pending = np.empty((cr, *self.shape[1:]), dtype=self.dtype)
            self.pending[: k - i] = chunk[i:]
            self.filled = k - i
        self.rows_written += k

    def close(self) -> None:
        if self.filled:
            self._store(self.pending[: self.filled])
            self.filled = 0
        super().close()


class ZarrRegion(RegionSink):
    """Blocks of one array of a temporary store, written from any worker that can reach
    its path; each block covers whole stored chunks, so writers never collide."""

    def __init__(self, store: str, name: str, where: str):
        self.store, self.name, self.where = store, name, where

    def write(self, start: int, block: np.ndarray) -> None:
        zarr = require_zarr()
        try:
            arr = zarr.open_array(store=self.store, path=self.name, mode="r+")
            if not arr.shape:
                arr[()] = block.reshape(())
            else:
                arr[start : start + block.shape[0]] = block
        except Exception as exc:
            raise OutputError(f"cannot write {self.where}: {_error_text(exc)}") from None


class ZarrWriter(Writer):
    format = "zarr"
    keeps_attributes = True

    def __init__(self, path: Path, *, compression: str | None = None, source=None):
        super().__init__(path, compression=compression)
        self.source = source
        zarr = require_zarr("write .zarr stores")
        self._compressors = _compressors(compression, self.path)
        if not self.path.parent.is_dir():
            raise OutputError(
                f"cannot write {self.path}: its directory {self.path.parent} does not exist"
            )
        try:
            self._group = zarr.open_group(store=str(self.tmp), mode="w-", zarr_format=3)
        except PermissionError:
            raise OutputError(
                f"cannot write {self.path}: no permission to create files in {self.path.parent}"
            ) from None
        except Exception as exc:
            remove_quietly(self.tmp)
            raise OutputError(f"cannot write {self.path}: {_first_line(str(exc))}") from None
        self._names: set[str] = set()
        self._created: dict[str, object] = {}

    def _source_array(self, name: str, shape):
        """The same-shaped array ``name`` of a Zarr v3 INPUT, whose layout is kept."""
        raw = getattr(self.source, "raw", self.source)
        arrays = getattr(raw, "_arrays", None)
        if getattr(raw, "format", None) != "zarr" or not arrays or name not in arrays:
            return None
        arr = arrays[name]
        return arr if tuple(arr.shape) == tuple(shape) else None

    def _create(self, name: str, shape, dtype, rows: int, *, keep_rows: bool = True):
        if name in self._names:
            raise OutputError(f"{self.path}: two arrays named {name!r}")
        self._names.add(name)
        compressors = self._compressors
        same = self._source_array(name, shape)
        if same is not None and self.compression is None:
            if same.metadata.zarr_format == 3:
                compressors = same.compressors or None
            if keep_rows and shape:
                rows = same.chunks[0]
        attrs = {}
        if same is not None:
            attrs = dict(same.attrs)
            attrs.pop("_ARRAY_DIMENSIONS", None)
            if np.dtype(dtype) != np.dtype(same.dtype):
                attrs.pop("_FillValue", None)
        elif self.source is not None:  # from HDF5 or netCDF: the attributes as read
            from normcli.io.layout import source_attributes

            attrs = source_attributes(self.source, name)
        try:
            arr = self._group.create_array(
                name,
                shape=tuple(shape),
                dtype=np.dtype(dtype),
                chunks=_chunks(tuple(shape), rows),
                compressors=compressors,
                fill_value=0,
                dimension_names=self._dimension_names(name, shape),
                config={"write_empty_chunks": True},  # every chunk stored: none missing
            )
        except Exception as exc:
            raise OutputError(
                f"cannot create {name!r} in {self.path}: {_first_line(str(exc))}"
            ) from None
        self._set_attrs(arr, attrs)
        self._created[name] = arr
        return arr

    def _dimension_names(self, name: str, shape) -> tuple[str, ...] | None:
        """The input's dimension names of ``name`` (netCDF, xarray's Zarr), if it has them."""
        try:
            dims = self.source.info(name).extra.get("dims") if self.source is not None else None
        except NormcliError:
            return None
        return tuple(dims) if dims and len(dims) == len(shape) and None not in dims else None

    @staticmethod
    def _set_attrs(arr, attrs: dict) -> None:
        clean = {}
        for key, value in attrs.items():
            if isinstance(value, np.ndarray) and value.size == 1:
                value = value.reshape(())[()]
            if isinstance(value, bytes | np.bytes_):
                value = bytes(value).decode("utf-8", "replace")
            elif isinstance(value, np.generic):
                value = value.item()
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            float_fill = key == "_FillValue" and np.dtype(arr.dtype).kind == "f"
            if float_fill and isinstance(value, int | float):  # as xarray writes (and reads) it
                value = base64.standard_b64encode(struct.pack("<d", float(value))).decode()
            clean[key] = value
        with contextlib.suppress(Exception):  # attributes not JSON-able are left out
            arr.attrs.put(clean)

    def annotate(self, name: str, attrs: dict) -> None:
        self._set_attrs(self._created[name], attrs)

    def add(self, name, shape, dtype) -> ArraySink:
        shape = tuple(shape)
        row_bytes = max(1, math.prod(shape[1:]) * np.dtype(dtype).itemsize)
        arr = self._create(name, shape, dtype, max(1, CHUNK_BYTES // row_bytes))
        return _OrderedSink(arr, name, shape, dtype, f"{self.path}:{name}")

    def add_region(self, name, shape, dtype, rows) -> ZarrRegion:
        self._create(name, tuple(shape), dtype, rows, keep_rows=False)
        # an absolute path: workers elsewhere do not share this process's directory
        return ZarrRegion(os.path.abspath(self.tmp), name, f"{self.path}:{name}")

    def commit(self) -> None:
        replace_store(self.tmp, self.path)

    def abort(self) -> None:
        remove_quietly(self.tmp)


def replace_store(tmp: Path, target: Path) -> None:
    """Move the finished store ``tmp`` (a directory) to ``target``.

    A directory cannot be renamed over another, so an existing target (already known
    to be replaceable: a Zarr store or a file, with --force) is first renamed aside,
    then the new store is renamed into place and the old one removed. If the second
    rename fails the old target is put back.
    """
    aside = None
    if target.exists() or target.is_symlink():
        aside = target.with_name(f".{target.name}.normcli-old-{os.getpid()}")
        try:
            os.replace(target, aside)
        except OSError as exc:
            remove_quietly(tmp)
            raise OutputError(f"cannot replace {target}: {exc.strerror}") from None
    import normcli.io.tempfiles as tempfiles

    tempfiles.before_rename(tmp)
    try:
        os.replace(tmp, target)
        tempfiles.after_rename(target)
    except OSError as exc:
        if aside is not None:
            os.replace(aside, target)
        remove_quietly(tmp)
        raise OutputError(
            f"cannot move the finished output into place at {target}: {exc.strerror}"
        ) from None
    if aside is not None:
        remove_quietly(aside)
