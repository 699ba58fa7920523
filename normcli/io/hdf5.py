"""HDF5 files through h5py: any dataset path, slab reads along axis 0.

Array names are dataset paths without the leading slash (``train/images``). Reads
go into one reused buffer with ``read_direct``, in slabs aligned to the dataset's
own chunking so no HDF5 chunk is decompressed twice.

Before any data are read, every dataset is checked: HDF5 can make a file read other
files (external links, external raw storage, virtual datasets), which is refused
unless ``allow_external``; a filter this HDF5 lacks (a plugin) is named; and storage
that was never written (chunks missing, a contiguous dataset without data) is
refused, since HDF5 would silently read it as the fill value (and stream 2**50 rows
of it, for an absurd declared shape).

One dataset that cannot be read (structured or text, a missing filter, storage never
written) does not make the file unreadable: it is recorded in :attr:`Reader.skipped`
with the reason, listed by ``ls`` and refused only when ``-k`` selects it. Reading
another file (external links and storage, virtual datasets) still refuses the file.

netCDF-4 files are HDF5 too: their dimension-scale placeholders (a dimension without
a coordinate variable, stored empty by design) are not arrays; coordinate variables
are marked (``extra["coordinate"]``) and every array knows its dimension names
(``extra["dims"]``). When the hdf5plugin package is installed (``normcli[hdf5plugin]``)
its filters (Blosc, Blosc2, Zstd, LZ4, Bitshuffle, ...) are registered on import.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
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
    reusing_buffer,
)
from normcli.io.dimscales import (
    INTERNAL_ATTRIBUTES,
    dimension_names,
    is_dimension_scale,
    is_placeholder,
)
from normcli.io.layout import (
    check_compression,
    dataset_options,
    source_attributes,
    write_attributes,
)

try:  # h5py is a hard dependency, but keep import errors readable
    import h5py
except ImportError:  # pragma: no cover
    h5py = None

try:  # normcli[hdf5plugin]: importing it registers its filters with HDF5
    import hdf5plugin
except ImportError:
    hdf5plugin = None

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ALLOW_EXTERNAL = "pass --allow-external to read it"


class Unreadable(InputError):
    """One dataset cannot be read (the file can): recorded in Reader.skipped."""


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
        if "already open for write" in text or "consistency flags" in text:
            raise InputError(
                f"{path} is flagged as still open by the program writing it (which crashed, "
                "or is still writing); if nothing is writing it, clear the flag with "
                f"'h5clear -s {path}' (HDF5's tools) and check its data"
            ) from None
        raise InputError(
            f"{path} cannot be opened as HDF5 ({_first_line(text)}); the file may be corrupt"
        ) from None


def _variable_kind(dtype: np.dtype) -> str:
    """What an HDF5 dataset of variable-length type holds, in words."""
    if dtype.names is not None:
        return "structured records with variable-length fields"
    string = h5py.check_string_dtype(dtype)
    if string is not None:
        return f"{'UTF-8' if string.encoding == 'utf-8' else 'ASCII'} strings"
    if h5py.check_vlen_dtype(dtype) is not None:
        return "variable-length sequences"
    if h5py.check_ref_dtype(dtype) is not None:
        return "HDF5 object references"
    return "variable-length values"


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _exists_beside(name: str, path: Path) -> bool:
    """Whether a file named by ``path``'s metadata exists, as HDF5 looks for it: as
    given (absolute, or from the working directory) or beside ``path``."""
    return os.path.exists(name) or (path.parent / name).exists()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class Hdf5Reader(Reader):
    format = "hdf5"

    def __init__(self, path: Path, *, allow_external: bool = False):
        super().__init__(path)
        self.allow_external = allow_external
        self._dapl = None
        if allow_external:
            # external raw storage is found beside the file, not in the working directory
            # (HDF5's default). Every dataset is opened with this, also while scanning:
            # HDF5 refuses a second handle on an open dataset with another prefix.
            self._dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
            self._dapl.set_efile_prefix(b"${ORIGIN}")
        #: Arrays read past their stored rows, as netCDF does: {name: (rows stored, fill)}
        self._padded: dict[str, tuple[int, object]] = {}
        self._file = _open(self.path)
        try:
            self._infos = self._scan()
        except BaseException:
            self._file.close()
            raise

    def _scan(self) -> list[ArrayInfo]:
        infos: list[ArrayInfo] = []
        self._text_names: list[str] = []
        #: netCDF dimensions without a coordinate variable: {name: shape}
        self.dimensions: dict[str, tuple[int, ...]] = {}
        groups: list[str] = [""]

        def visit(name):
            kind = h5py.h5o.get_info(self._file.id, name.encode()).type
            if kind == h5py.h5o.TYPE_GROUP:
                groups.append(name)
            if kind == h5py.h5o.TYPE_DATASET:
                obj = self._dataset(name)
                where = f"{self.path}:{name}"
                try:
                    dtype = obj.dtype
                except Exception:
                    self.skipped[name] = "has a dtype h5py cannot read"
                    return
                if is_placeholder(obj):
                    self.dimensions[name] = tuple(obj.shape)
                    return
                parts = name.split("/")
                index = next((i for i, p in enumerate(parts[:-1]) if p.startswith("_i_")), None)
                if index is not None:  # listed once, as the group
                    group = "/".join(parts[: index + 1])
                    self.skipped.setdefault(
                        group,
                        f"{self.path}:{group} is a PyTables index (its bookkeeping, sparse by "
                        "design), not data",
                    )
                    return
                string = h5py.check_string_dtype(dtype)
                if string is not None and string.encoding == "utf-8" and obj.ndim == 1:
                    self._text_names.append(name)  # class or file names, carried through
                    return
                try:
                    if dtype.hasobject:  # h5py's variable-length types (never pickles)
                        raise Unreadable(
                            f"{where} holds {_variable_kind(dtype)} (shape {tuple(obj.shape)}); "
                            "normcli reads integer, float and bool arrays only (and 1-d UTF-8 "
                            "text): convert it to a numeric array first"
                        )
                    try:
                        check_dtype(dtype, where)
                    except InputError as exc:
                        raise Unreadable(str(exc)) from None
                    self._check_storage(obj, name)
                except Unreadable as exc:
                    self.skipped[name] = str(exc)
                    return
                extra = {"chunks": obj.chunks, "compression": obj.compression}
                dims = dimension_names(obj)
                if dims is not None:
                    extra["dims"] = dims
                if is_dimension_scale(obj):
                    extra["coordinate"] = True
                infos.append(
                    ArrayInfo(name, tuple(obj.shape or ()), dtype.newbyteorder("="), extra=extra)
                )

        try:
            self._file.visit(visit)
            # visit does not follow external links: look for them in every group
            for group_name in list(groups):
                group = self._file[group_name] if group_name else self._file
                for key in group:
                    link = group.get(key, getlink=True)
                    if isinstance(link, h5py.ExternalLink):
                        name = f"{group_name}/{key}" if group_name else key
                        self._external_link(name, link, visit)
        except InputError:
            raise
        except (OSError, RuntimeError, KeyError) as exc:
            raise InputError(
                f"{self.path} cannot be read ({_first_line(str(exc))}); the file may be corrupt"
            ) from None
        return infos

    def _external_link(self, name: str, link, visit) -> None:
        where = f"{self.path}:{name}"
        if not self.allow_external:
            raise InputError(
                f"{where} is an external link to {link.filename}:{link.path}, another file; "
                f"normcli reads only INPUT unless told otherwise: {ALLOW_EXTERNAL}"
            )
        try:
            kind = h5py.h5o.get_info(self._file.id, name.encode()).type
        except (KeyError, OSError) as exc:
            raise InputError(
                f"{where} is an external link to {link.filename}:{link.path}, which cannot be "
                f"opened ({_first_line(str(exc))}); check that file"
            ) from None
        if kind == h5py.h5o.TYPE_GROUP:
            self._file[name].visit(lambda sub: visit(f"{name}/{sub}"))
        else:
            visit(name)

    def _dataset(self, name: str):
        """The dataset ``name``, opened as every handle on it here is (see __init__)."""
        if self._dapl is None:
            return self._file[name]
        return h5py.Dataset(h5py.h5d.open(self._file.id, name.encode(), dapl=self._dapl))

    def _check_storage(self, ds, name: str) -> None:
        """Refuse, before any data are read, what would read other files, needs a filter
        HDF5 lacks, or was never written (HDF5 would read it as the fill value)."""
        where = f"{self.path}:{name}"
        dcpl = ds.id.get_create_plist()
        layout = dcpl.get_layout()
        if layout == h5py.h5d.VIRTUAL:
            sources = sorted(
                {_text(dcpl.get_virtual_filename(i)) for i in range(dcpl.get_virtual_count())}
            )
            if not self.allow_external:
                raise InputError(
                    f"{where} is a virtual dataset whose data come from {', '.join(sources)}; "
                    f"normcli reads only INPUT unless told otherwise: {ALLOW_EXTERNAL}"
                )
            for source in sources:
                found = source == "." or "%" in source or _exists_beside(source, self.path)
                if not found:
                    raise InputError(
                        f"{where} is a virtual dataset reading {source}, which does not exist "
                        "(HDF5 would read its part as the fill value); put it beside "
                        f"{self.path.name}"
                    )
            return
        if dcpl.get_external_count():
            files = [_text(dcpl.get_external(i)[0]) for i in range(dcpl.get_external_count())]
            if not self.allow_external:
                raise InputError(
                    f"{where} stores its data in another file ({', '.join(files)}: HDF5 "
                    f"external storage); normcli reads only INPUT unless told otherwise: "
                    f"{ALLOW_EXTERNAL}"
                )
            return
        for i in range(dcpl.get_nfilters()):
            code, _, _, fname = dcpl.get_filter(i)
            if not h5py.h5z.filter_avail(code):
                hint = (
                    "install its plugin and set HDF5_PLUGIN_PATH to its directory"
                    if hdf5plugin is not None
                    else "pip install 'normcli[hdf5plugin]' (Blosc, Blosc2, Zstd, LZ4, "
                    "Bitshuffle and more, registered automatically), or install its plugin "
                    "and set HDF5_PLUGIN_PATH to its directory"
                )
                raise Unreadable(
                    f"{where} is compressed with HDF5 filter {code} ({_text(fname) or '?'}), "
                    f"which this HDF5 lacks; {hint}"
                )
        if ds.size == 0:
            return
        if layout == h5py.h5d.CHUNKED:
            total = math.prod(-(-n // c) for n, c in zip(ds.shape, ds.chunks, strict=True))
            try:
                stored = ds.id.get_num_chunks()
            except (AttributeError, OSError, RuntimeError):  # an HDF5 older than 1.10.5
                return
            if stored < total:
                raise Unreadable(
                    f"{where} declares shape {tuple(ds.shape)} in {total:,} chunks but only "
                    f"{stored:,} are stored: the rest was never written and would read as the "
                    "fill value; the file is incomplete (an interrupted writer?): re-create it"
                )
        elif layout == h5py.h5d.CONTIGUOUS and ds.id.get_storage_size() == 0:
            raise Unreadable(
                f"{where} declares shape {tuple(ds.shape)} but its data were never written "
                "(they would read as the fill value); the file is incomplete: re-create it"
            )

    def arrays(self) -> list[ArrayInfo]:
        return list(self._infos)

    def attributes(self, name: str) -> dict:
        """The dataset's attributes, without HDF5's and netCDF's own bookkeeping."""
        try:
            ds = self._dataset(name)
            # by index: iterating the names re-opens the dataset with HDF5's defaults,
            # which clash with the --allow-external access list it was opened with
            names = [
                h5py.h5a.open(ds.id, index=i).name.decode("utf-8", "replace")
                for i in range(h5py.h5a.get_num_attrs(ds.id))
            ]
            return {k: ds.attrs[k] for k in names if k not in INTERNAL_ATTRIBUTES}
        except (OSError, RuntimeError, KeyError, TypeError) as exc:
            raise InputError(
                f"cannot read the attributes of {self.path}:{name} ({_first_line(str(exc))}); "
                "the file may be corrupt"
            ) from None

    def texts(self) -> dict[str, list[str]]:
        out = {}
        for name in self._text_names:
            try:
                out[name] = [str(v) for v in self._dataset(name).asstr()[()]]
            except (OSError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
                raise InputError(
                    f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the file may be "
                    "corrupt"
                ) from None
        return out

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        return self.iter_chunks_into(name, rows, reusing_buffer())

    def iter_chunks_into(self, name: str, rows: int, take) -> Iterator[np.ndarray]:
        """As :meth:`iter_chunks`, each chunk read straight into the buffer
        ``take(shape, dtype)`` gives (kept by the caller as long as it needs it)."""
        info = self.info(name)
        ds = self._dataset(name)
        try:
            if not info.shape:
                out = take((), info.dtype)
                ds.read_direct(out)
                yield out
                return
            total, step = info.shape[0], self.chunk_rows(name, rows)
            for start in range(0, total, step):
                k = min(step, total - start)
                part = take((k, *info.shape[1:]), info.dtype)
                if part.size:
                    self._read_into(name, ds, part, start, k)
                yield part
        except InputError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(
                f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the file may be "
                "corrupt or need an HDF5 filter plugin"
            ) from None

    def _read_into(self, name: str, ds, out: np.ndarray, start: int, k: int) -> None:
        """Rows ``start:start + k`` into ``out``; rows past what is stored (a netCDF
        variable shorter than its unlimited dimension) are the fill value."""
        stored, fill = self._padded.get(name, (start + k, None))
        have = max(0, min(k, stored - start))
        if have:
            ds.read_direct(out, np.s_[start : start + have], np.s_[0:have])
        if have < k:
            out[have:k] = fill

    def chunk_rows(self, name: str, rows: int) -> int:
        return aligned_rows(rows, self.info(name).rows, (self._dataset(name).chunks or (0,))[0])

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        info = self.info(name)
        ds = self._dataset(name)
        try:
            if not info.shape:
                out = np.empty((), dtype=info.dtype)
                ds.read_direct(out)
                return out
            stop = min(stop, info.shape[0])
            out = np.empty((max(0, stop - start), *info.shape[1:]), dtype=info.dtype)
            if out.size:
                self._read_into(name, ds, out, start, stop - start)
            return out
        except (OSError, RuntimeError, ValueError) as exc:
            raise InputError(
                f"cannot read {self.path}:{name} ({_first_line(str(exc))}); the file may be "
                "corrupt or need an HDF5 filter plugin"
            ) from None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()


class _GuardedFile(io.RawIOBase):
    """The temporary output file as HDF5 sees it: a write that fails (a full disk) is
    recorded here and not reported to HDF5, which cannot recover from one: its file
    could then neither be flushed nor closed, and the process crashed on exit (seen with
    a full tmpfs). normcli checks :attr:`error` after every write and at the end."""

    def __init__(self, raw):
        super().__init__()
        self.raw = raw
        self.error: OSError | None = None

    def readable(self):
        return True

    def writable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        return self.raw.seek(pos, whence)

    def tell(self):
        return self.raw.tell()

    def readinto(self, buffer):
        return self.raw.readinto(buffer)

    def write(self, data):
        view = memoryview(data).cast("B")
        n = view.nbytes
        start = self.raw.tell()
        if self.error is None:
            try:
                done = 0
                while done < n:  # a full disk first gives a short write, then ENOSPC
                    written = self.raw.write(view[done:])
                    if not written:
                        raise OSError(errno.EIO, "the file system accepted no bytes")
                    done += written
                return n
            except OSError as exc:
                self.error = exc
        self.raw.seek(start + n)  # after a failure: pretend, so that HDF5 can close the file
        return n

    def truncate(self, size=None):
        if self.error is None:
            try:
                return self.raw.truncate(size)
            except OSError as exc:
                self.error = exc
        return size

    def flush(self):
        # also called when this object is closed or collected, perhaps after the file
        # itself was closed (an interrupted write): Python 3.13 reports that ValueError
        if self.error is None and not self.raw.closed:
            try:
                self.raw.flush()
            except OSError as exc:
                self.error = exc

    def check(self, where: str) -> None:
        if self.error is not None:
            raise OutputError(f"cannot write {where}: {os_error_message(self.error)}")


class _DatasetSink(ArraySink):
    def __init__(self, ds, name, shape, dtype, where, guard: _GuardedFile):
        super().__init__(name, shape, dtype)
        self.ds = ds
        self.where = where
        self.guard = guard

    def write(self, chunk: np.ndarray) -> None:
        try:
            if not self.shape:
                self.ds[()] = chunk
                self.rows_written += 1
                self.guard.check(self.where)
                return
            k = chunk.shape[0]
            self.ds[self.rows_written : self.rows_written + k] = chunk
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"cannot write {self.where}: {_first_line(str(exc))}") from None
        self.guard.check(self.where)
        self.rows_written += k


class Hdf5Writer(Writer):
    """An HDF5 OUTPUT; from an HDF5 INPUT (``source``) each array keeps its input's
    compression, chunking and attributes (:mod:`normcli.io.layout`)."""

    format = "hdf5"
    keeps_attributes = True

    def __init__(self, path: Path, *, compression: str | None = None, source=None):
        super().__init__(path, compression=compression)
        check_compression(compression, self.path)
        self.source = source
        self._file = self._raw = None
        try:
            self._raw = open(self.tmp, "xb+", buffering=0)  # noqa: SIM115 - closed by commit/abort
        except OSError as exc:
            raise create_error(self.path, exc) from None
        self._guard = _GuardedFile(self._raw)
        try:
            self._file = h5py.File(self._guard, "w", locking=False)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_first_line(str(exc))}") from None

    def add(self, name, shape, dtype) -> ArraySink:
        shape = tuple(shape)
        kwargs = dataset_options(self.source, name, shape, dtype, self.compression)
        try:
            ds = self._file.create_dataset(name, shape=shape, dtype=dtype, **kwargs)
        except (OSError, RuntimeError, ValueError) as exc:
            raise OutputError(
                f"cannot create {name!r} in {self.path}: {_first_line(str(exc))}"
            ) from None
        write_attributes(ds.attrs, source_attributes(self.source, name), str(self.path))
        return _DatasetSink(ds, name, shape, dtype, str(self.path), self._guard)

    def annotate(self, name: str, attrs: dict) -> None:
        """Replace the attributes of array ``name`` (a normalized array's)."""
        ds = self._file[name]
        for key in list(ds.attrs):
            del ds.attrs[key]
        write_attributes(ds.attrs, attrs, str(self.path))

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
            self._guard.check(str(self.path))  # a write that failed while HDF5 flushed
            self._raw.close()
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {os_error_message(exc)}") from None
        except OutputError:
            self.abort()
            raise
        replace_into_place(self.tmp, self.path)

    def abort(self) -> None:
        for closer in (self._file, getattr(self, "_guard", None), self._raw):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        remove_quietly(self.tmp)
