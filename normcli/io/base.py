"""The small protocols every format implements.

A :class:`Reader` lists its arrays (name, shape, dtype) without reading data and
yields each array as chunks of whole rows along axis 0. A :class:`Writer` receives
arrays chunk by chunk and becomes visible at its target path only on
:meth:`Writer.commit` (everything is written to a temporary path beside it first).

Besides numeric arrays a dataset may carry short lists of text that are never
normalized, only carried through: an image folder's ``class_names`` and ``filenames``.
A reader lists them with :meth:`Reader.texts`, a writer stores them with
:meth:`Writer.add_texts` (``.npz`` as a unicode array, HDF5 as UTF-8 strings).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from normcli.errors import InputError, OutputError, ParameterError
from normcli.signals import deferred_signals

#: dtype kinds we read: booleans, integers and floats. Everything else is refused.
NUMERIC_KINDS = "biuf"


@dataclass(frozen=True)
class ArrayInfo:
    """What is known about an array without reading its values."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    #: Extra facts a format knows (image folder class names, HDF5 chunking, ...).
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def rows(self) -> int:
        """Length of axis 0 (1 for a 0-d array, streamed as one row)."""
        return self.shape[0] if self.shape else 1

    @property
    def row_bytes(self) -> int:
        return math.prod(self.shape[1:]) * self.dtype.itemsize


def text_info(name: str, values: list[str]) -> ArrayInfo:
    """How a list of text looks as the array ``.npz`` stores it (for ``ls``)."""
    dtype = np.array(values, dtype=str).dtype if values else np.dtype("<U1")
    return ArrayInfo(name, (len(values),), dtype)


def rows_per_chunk(info: ArrayInfo, chunk_bytes: int, itemsize: int | None = None) -> int:
    """How many rows of ``info`` fit in ``chunk_bytes`` (at least one).

    ``itemsize`` sizes the chunk by the widest type the caller will hold per element
    (float64 working copies, say) rather than by the stored dtype.
    """
    per_row = math.prod(info.shape[1:]) * (itemsize or info.dtype.itemsize)
    return max(1, chunk_bytes // max(1, per_row))


#: Bytes the kernels hold per element of a sample, at most: the value as read, a float64
#: working copy and the float64 result before it is stored.
WORK_BYTES_PER_ELEMENT = 24


def memory_bytes() -> int | None:
    """This machine's physical memory, or None when the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_sample_fits(info: ArrayInfo, where: str) -> None:
    """Refuse an array one of whose samples (rows along axis 0) cannot be held in memory.

    Arrays stream in whole samples, so a single sample must fit: a file declaring one
    enormous row (a hostile ``.npz`` of deflated zeros, say) is refused before anything
    is read, rather than exhausting memory part-way."""
    total = memory_bytes()
    if total is None or not info.shape:
        return
    need = math.prod(info.shape[1:]) * max(WORK_BYTES_PER_ELEMENT, info.dtype.itemsize)
    if need > total // 2:
        gib = math.prod(info.shape[1:]) * info.dtype.itemsize / 2**30
        raise InputError(
            f"{where}: one sample of shape {tuple(info.shape[1:])} is {gib:,.1f} GiB, too "
            f"large to process in this machine's {total / 2**30:,.1f} GiB of memory (normcli "
            "streams whole samples along axis 0); reshape the data so that axis 0 has more, "
            "smaller samples"
        )


def reusing_buffer():
    """A ``take(shape, dtype)`` for :meth:`Reader.iter_chunks_into` that hands out views
    of one buffer, grown as needed: what :meth:`Reader.iter_chunks` yields (each chunk
    valid until the next is read)."""
    held: list[np.ndarray] = []

    def take(shape, dtype) -> np.ndarray:
        need = math.prod(shape) * np.dtype(dtype).itemsize
        if not held or held[0].nbytes < need:
            held[:] = [np.empty(max(need, 1), dtype=np.uint8)]
        return held[0][:need].view(dtype).reshape(shape)

    return take


def aligned_rows(rows: int, total: int, stored: int | None) -> int:
    """Rows per read: ``rows`` (at most ``total``, at least 1), rounded down to whole
    stored chunks of ``stored`` rows when it spans more than one, so no stored chunk
    is read (and decompressed) twice."""
    step = max(1, min(rows, total))
    if stored and step > stored:
        step -= step % stored
    return step


def check_dtype(dtype: np.dtype, where: str) -> np.dtype:
    """Refuse dtypes we never read (objects, strings, structures, complex, dates)."""
    if dtype.hasobject:
        raise InputError(
            f"{where} holds Python objects (a pickled array); normcli never unpickles "
            "data. Save it as a numeric array (e.g. np.save with a float32 or uint8 array)"
        )
    if dtype.names is not None or dtype.kind not in NUMERIC_KINDS or dtype.subdtype:
        what = {
            "c": "complex numbers",
            "S": "byte strings",
            "U": "strings",
            "M": "dates",
            "m": "time deltas",
            "V": "structured records",
        }.get(dtype.kind, f"values of dtype {dtype}")
        if dtype.names is not None:
            what = "structured records"
        raise InputError(
            f"{where} holds {what} (dtype {dtype}); normcli reads integer, float and "
            "bool arrays only: convert it to a numeric array first"
        )
    return dtype


class Reader:
    """Base class of the readers: arrays listed up front, data streamed in chunks."""

    #: Short name of the format, shown by ``ls``.
    format = "?"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        from normcli.io.guard import guard_class

        guard_class(cls)  # whatever a library raises while reading: one InputError

    def __init__(self, path: Path):
        self.path = Path(path)
        #: Messages for stderr about what opening found (e.g. files skipped).
        self.notes: list[str] = []
        #: The ReadOptions it was opened with (set by open_reader; reopened with them).
        self.options = None
        #: Arrays of the file that cannot be read, with the reason: ``{name: reason}``
        #: (a structured or text dataset, a missing filter, storage never written).
        #: ``ls`` lists them, ``describe`` skips them, ``-k`` naming one is an error.
        self.skipped: dict[str, str] = {}

    # The protocol ------------------------------------------------------------------

    def arrays(self) -> list[ArrayInfo]:
        raise NotImplementedError

    def texts(self) -> dict[str, list[str]]:
        """Lists of text carried with the arrays (class names, file names), by name."""
        return {}

    def attributes(self, name: str) -> dict:
        """The attributes stored with array ``name`` (HDF5, netCDF, Zarr), as read."""
        return {}

    def iter_chunks(self, name: str, rows: int) -> Iterator[np.ndarray]:
        """Yield the array ``name`` as consecutive chunks of at most ``rows`` rows.

        Chunks are C-contiguous, in native byte order, and may be views of a buffer
        the reader reuses: a chunk is valid until the next one is requested.
        A 0-d array is yielded once, as itself.
        """
        raise NotImplementedError

    def chunk_rows(self, name: str, rows: int) -> int:
        """Rows per chunk that :meth:`iter_chunks` yields when asked for ``rows`` (the
        last chunk may be shorter); a format with its own chunking aligns to it."""
        return max(1, rows)

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``name`` as a new array (native byte order): the random
        access a parallel engine reads its blocks with. A 0-d array is returned whole.
        Formats that can only be read from the start raise :class:`InputError`."""
        raise InputError(
            f"{self.path} ({self.format}) can only be read from its start; use the local "
            "engine, or convert it to .npy, .h5 or .zarr"
        )

    def close(self) -> None:
        pass

    # Conveniences --------------------------------------------------------------------

    def names(self) -> list[str]:
        return [a.name for a in self.arrays()]

    def info(self, name: str) -> ArrayInfo:
        for a in self.arrays():
            if a.name in (name, name.lstrip("/")):  # /group/name, as h5py writes it
                return a
        raise ParameterError(
            f"no array {name!r} in {self.path}; it holds: {', '.join(self.names()) or 'none'}"
        )

    def read(self, name: str) -> np.ndarray:
        """The whole array in memory (for tests and small arrays such as labels)."""
        info = self.info(name)
        parts = [np.array(c, copy=True) for c in self.iter_chunks(name, max(1, info.rows))]
        if not info.shape:
            return parts[0].reshape(())
        if not parts:
            return np.empty(info.shape, dtype=info.dtype)
        return np.concatenate(parts, axis=0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class ArraySink:
    """One array being written: rows arrive in order through :meth:`write`."""

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        #: The dtype the values are stored as (an image folder quantizes floats).
        self.stored_dtype = self.dtype
        self.rows_written = 0

    def encode(self, chunk: np.ndarray) -> np.ndarray:
        """The chunk as it will be stored (checked and converted); ``write`` accepts it."""
        return chunk

    def write(self, chunk: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        expected = self.shape[0] if self.shape else 1
        if self.rows_written != expected:
            raise OutputError(
                f"internal error: {self.rows_written} of {expected} rows of {self.name} written"
            )

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        return False


class RegionSink:
    """One array written in blocks by parallel workers: ``write(start, block)`` puts the
    rows ``start:start + len(block)``; blocks never share a unit of storage."""

    def write(self, start: int, block: np.ndarray) -> None:
        raise NotImplementedError


class Writer:
    """Base class of the writers: arrays added one after another, then committed."""

    format = "?"

    def __init__(self, path: Path, *, compression: str | None = None):
        self.path = Path(path)
        self.compression = compression
        self.tmp = temp_path_beside(self.path)
        # known before anything exists at self.tmp: abort_all() can always clean up
        _LIVE.add(self)

    def add(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> ArraySink:
        raise NotImplementedError

    def add_region(self, name: str, shape: tuple[int, ...], dtype: np.dtype, rows: int):
        """For a parallel engine: a picklable :class:`RegionSink` that writes blocks of
        ``rows`` rows of a new array at any position, from any process that can reach
        the temporary output; None when the format can only be written in order."""
        return None

    def add_texts(self, name: str, values: list[str]) -> bool:
        """Store a list of text; False when the format has no place for it."""
        return False

    #: The reader of INPUT, for formats that keep what it had (compression, chunking,
    #: attributes, dimensions); set by open_writer.
    source = None
    #: Whether arrays keep their attributes here (HDF5, netCDF, Zarr): arrays copied
    #: through are then copied as stored (packed, with fill values and the attributes
    #: that say so); elsewhere they are copied as decoded values.
    keeps_attributes = False

    def annotate(self, name: str, attrs: dict) -> None:
        """Replace the attributes of array ``name`` (formats without attributes: nothing)."""

    def commit(self) -> None:
        """Finish the file and move it into place."""
        raise NotImplementedError

    def abort(self) -> None:
        """Remove everything written so far (idempotent)."""
        remove_quietly(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            with deferred_signals():  # a second Ctrl-C cannot cut the clean-up short
                self.abort()
        _LIVE.discard(self)
        return False


#: Writers created and not yet finished (committed or aborted by their ``with``).
_LIVE: set[Writer] = set()


def abort_all() -> None:
    """Remove the temporary output of every unfinished writer.

    The net under the ``with`` blocks: a signal that lands between a writer creating its
    temporary file and the ``with`` statement taking charge of it (or an error while a
    writer is being built) would otherwise leave that file behind. The CLI calls this
    whenever a command fails or is interrupted.
    """
    with deferred_signals():
        for writer in list(_LIVE):
            try:
                writer.abort()
            except Exception:
                remove_quietly(writer.tmp)
            _LIVE.discard(writer)


class FileWriter(Writer):
    """One file (a params file, a figure) written at :attr:`tmp` beside its target, then
    moved into place by :meth:`commit`; a params file is committed together with the
    data, so that both appear or neither."""

    format = "file"

    def write_text(self, text: str) -> None:
        try:
            with open(self.tmp, "x", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            remove_quietly(self.tmp)
            raise create_error(self.path, exc) from None

    def commit(self) -> None:
        replace_into_place(self.tmp, self.path)


def probe_writable(target: Path, what: str = "files") -> None:
    """Fail now, before any data are read, if no file can be created beside ``target``
    (missing or read-only directory, no permission): create and remove one."""
    target = Path(target)
    probe = temp_path_beside(target)
    with deferred_signals():
        try:
            fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError as exc:
            raise create_error(target, exc, what) from None
        os.close(fd)
        remove_quietly(probe)


def temp_path_beside(target: Path) -> Path:
    """A fresh hidden path in ``target``'s directory, so os.replace is atomic; its name
    says which process on which host writes it (see :mod:`normcli.io.tempfiles`)."""
    from normcli.io.tempfiles import temp_name

    return temp_name(Path(target))


def remove_quietly(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            import shutil

            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def replace_into_place(tmp: Path, target: Path) -> None:
    """Atomically rename the finished ``tmp`` onto ``target``.

    By default no fsync: the promise is atomicity against the process failing (an
    error, Ctrl-C, SIGTERM, a full disk), which os.replace gives. Forcing the data to
    disk as well cost as much as writing it (1.4 s per GiB here); ``--fsync`` does it
    (:mod:`normcli.io.tempfiles`) when a power cut must not lose a finished OUTPUT.
    """
    import normcli.io.tempfiles as tempfiles

    with deferred_signals():
        try:
            tempfiles.before_rename(tmp)
            os.replace(tmp, target)
            tempfiles.after_rename(target)
        except OSError as exc:
            remove_quietly(tmp)
            raise OutputError(
                f"cannot move the finished output into place at {target}: {exc.strerror}"
            ) from None


def os_error_message(exc: OSError) -> str:
    return exc.strerror or str(exc)


def create_error(target: Path, exc: OSError, what: str = "files") -> OutputError:
    """An OSError while creating the temporary output beside ``target``, as one line."""
    if isinstance(exc, FileNotFoundError):
        return OutputError(f"cannot write {target}: its directory {target.parent} does not exist")
    if isinstance(exc, PermissionError):
        return OutputError(
            f"cannot write {target}: no permission to create {what} in {target.parent}"
        )
    if isinstance(exc, NotADirectoryError):
        return OutputError(f"cannot write {target}: {target.parent} is not a directory")
    return OutputError(f"cannot write {target}: {exc.strerror or exc}")


def input_os_error(path: Path, exc: OSError) -> InputError:
    """An OSError while reading ``path`` as a one-line InputError."""
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{path} does not exist; check the path")
    if isinstance(exc, PermissionError):
        return InputError(f"{path} cannot be read (permission denied); check its permissions")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{path} is a directory, not a file")
    return InputError(f"cannot read {path}: {os_error_message(exc)}")
