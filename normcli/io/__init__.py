"""Formats: one module each, chosen by the path.

``open_reader(path)`` and ``open_writer(path)`` pick the module from the file's
extension (a ``.zarr`` store is a directory); every reader and writer follows the
small protocols in :mod:`normcli.io.base`.
"""

from __future__ import annotations

import os
from pathlib import Path

from normcli.errors import InputError, OutputError
from normcli.io.base import ArrayInfo, ArraySink, Reader, Writer, rows_per_chunk

__all__ = [
    "ArrayInfo",
    "ArraySink",
    "Reader",
    "Writer",
    "input_format",
    "open_reader",
    "open_writer",
    "output_format",
    "rows_per_chunk",
]

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


def input_format(path: Path) -> str:
    """The format name for an input path: npy, npz, hdf5 or zarr."""
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(HDF5_SUFFIXES):
        return "hdf5"
    if name.endswith(".zarr"):
        return "zarr"
    raise InputError(
        f"{path}: unknown format {path.suffix or '(no extension)'!s}; normcli reads .npy, "
        ".npz, .h5/.hdf5 files and .zarr stores"
    )


def output_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(HDF5_SUFFIXES):
        return "hdf5"
    if name.endswith(".zarr"):
        return "zarr"
    raise OutputError(
        f"{path}: unknown output format {path.suffix or '(no extension)'!s}; write .npy, "
        ".npz, .h5/.hdf5 or .zarr"
    )


def open_reader(path: str | os.PathLike) -> Reader:
    """Open ``path`` for reading with the reader its format needs."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path} does not exist; check the path")
    if path.name.lower().endswith(".zarr"):
        from normcli.io.zarr import ZarrReader

        return ZarrReader(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory; give a .npy, .npz or .h5 file")
    fmt = input_format(path)
    if fmt == "npy":
        from normcli.io.npy import NpyReader

        return NpyReader(path)
    if fmt == "npz":
        from normcli.io.npz import NpzReader

        return NpzReader(path)
    from normcli.io.hdf5 import Hdf5Reader

    return Hdf5Reader(path)


def open_writer(path: str | os.PathLike, *, compression: str | None = None) -> Writer:
    """A writer for ``path`` (its format from the extension), writing to a temp file."""
    path = Path(path)
    fmt = output_format(path)
    if fmt == "zarr":
        from normcli.io.zarr import ZarrWriter

        return ZarrWriter(path, compression=compression)
    if fmt == "npy":
        from normcli.io.npy import NpyWriter

        return NpyWriter(path, compression=compression)
    if fmt == "npz":
        from normcli.io.npz import NpzWriter

        return NpzWriter(path, compression=compression)
    from normcli.io.hdf5 import Hdf5Writer

    return Hdf5Writer(path, compression=compression)
