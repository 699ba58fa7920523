"""Formats: one module each, chosen by the path.

``open_reader(path)`` and ``open_writer(path)`` pick the module from the file's
extension, or from the path being a directory (an image folder; a ``.zarr`` store is a
directory too); every reader and writer follows the small protocols in
:mod:`normcli.io.base`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from normcli.errors import InputError, OutputError, ParameterError
from normcli.io.base import ArrayInfo, ArraySink, Reader, Writer, rows_per_chunk

__all__ = [
    "ONE_ARRAY_FORMATS",
    "ArrayInfo",
    "ArraySink",
    "ReadOptions",
    "Reader",
    "Writer",
    "input_format",
    "open_reader",
    "open_writer",
    "output_format",
    "rows_per_chunk",
]

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")
#: Formats whose arrays carry attributes, CF-decoded unless --raw (normcli.io.decoded).
DECODED_FORMATS = ("hdf5", "netcdf", "zarr")
#: Output formats that hold one array, and what to say about the others.
ONE_ARRAY_FORMATS = {
    "npy": "a .npy OUTPUT holds one array",
    "images": "an image-folder OUTPUT holds one array of images (class subfolders come "
    "from the file names)",
}


@dataclass(frozen=True)
class ReadOptions:
    """Options of the readers that take any (image folders: --mode, --max-pixels;
    HDF5: --allow-external; HDF5, netCDF, Zarr: --raw, the stored values without CF
    decoding)."""

    mode: str | None = None
    max_pixels: int | None = None
    allow_external: bool = False
    raw: bool = False


def input_format(path: Path) -> str:
    """The format name for an input path: npy, npz, hdf5, idx, zarr, or images (a directory)."""
    if path.name.lower().endswith(".zarr"):
        return "zarr"
    if path.is_dir():
        return "images"
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(HDF5_SUFFIXES):
        return "hdf5"
    if name.endswith(NETCDF_SUFFIXES):
        return "netcdf"
    from normcli.io.idx import is_idx_name

    if is_idx_name(name):
        return "idx"
    raise InputError(
        f"{path}: unknown format {path.suffix or '(no extension)'!s}; normcli reads .npy, "
        ".npz, .h5/.hdf5, netCDF-4 (.nc) and IDX (-ubyte, -ubyte.gz) files, .zarr stores and "
        "folders of images"
    )


def is_folder_target(path: str | os.PathLike) -> bool:
    """OUTPUT is an image folder: an existing directory, or a path ending in '/'."""
    text = os.fspath(path)
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def output_format(path: str | os.PathLike) -> str:
    """The format name for an OUTPUT path (pass the path as typed: a final '/' counts)."""
    if Path(path).name.lower().endswith(".zarr"):
        return "zarr"  # a directory store, not a folder of images
    if is_folder_target(path):
        return "images"
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith(HDF5_SUFFIXES):
        return "hdf5"
    if name.endswith(NETCDF_SUFFIXES):
        return "netcdf"
    raise OutputError(
        f"{path}: unknown output format {path.suffix or '(no extension)'!s}; write .npy, "
        ".npz, .h5/.hdf5, .nc or .zarr, or end OUTPUT with / to write a folder of images"
    )


def open_reader(path: str | os.PathLike, options: ReadOptions | None = None) -> Reader:
    """Open ``path`` for reading with the reader its format needs."""
    path = Path(path)
    options = options or ReadOptions()
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path} does not exist; check the path")
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise InputError(
            f"{path} is not a regular file (a pipe, socket or device); normcli reads files "
            "and folders: save the data to a file first"
        )
    fmt = input_format(path)
    if fmt != "images" and (options.mode is not None or options.max_pixels is not None):
        flag = "--mode" if options.mode is not None else "--max-pixels"
        raise ParameterError(f"{flag} applies to folders of images; {path} is not one")
    if fmt not in ("hdf5", "netcdf") and options.allow_external:
        raise ParameterError(f"--allow-external applies to HDF5 files; {path} is not one")
    reader = _open_reader(path, fmt, options)
    reader.options = options
    if fmt in DECODED_FORMATS and not options.raw:
        from dataclasses import replace

        from normcli.io.decoded import decode_reader

        try:
            decoded = decode_reader(reader)
        except BaseException:
            reader.close()
            raise
        if decoded is not reader:
            reader.options = replace(options, raw=True)  # what copies re-open (--engine dask)
            decoded.options = options
        reader = decoded
    return reader


def _open_reader(path: Path, fmt: str, options: ReadOptions) -> Reader:
    if fmt == "images":
        from normcli.io.images import ImageFolderReader

        return ImageFolderReader(path, mode=options.mode, max_pixels=options.max_pixels)
    if fmt == "zarr":
        from normcli.io.zarr import ZarrReader

        return ZarrReader(path)
    if fmt == "idx":
        from normcli.io.idx import IdxReader

        return IdxReader(path)
    if fmt == "npy":
        from normcli.io.npy import NpyReader

        return NpyReader(path)
    if fmt == "npz":
        from normcli.io.npz import NpzReader

        return NpzReader(path)
    if fmt == "netcdf":
        from normcli.io.netcdf import NetcdfReader

        return NetcdfReader(path, allow_external=options.allow_external)
    from normcli.io.hdf5 import Hdf5Reader

    return Hdf5Reader(path, allow_external=options.allow_external)


def open_writer(
    path: str | os.PathLike, *, compression: str | None = None, image_output=None, source=None
) -> Writer:
    """A writer for ``path`` (its format from the extension), writing to a temp file.

    ``image_output`` (an :class:`normcli.io.images.ImageOutput`) says how an image
    folder is written. ``source``, the reader of INPUT, is what HDF5, netCDF and Zarr
    OUTPUTs keep the layout and attributes of (an HDF5 OUTPUT from a netCDF INPUT is
    written as netCDF-4, so it keeps the dimensions).
    """
    fmt = output_format(path)
    path = Path(path)
    if fmt == "images":
        from normcli.io.images import ImageFolderWriter

        return ImageFolderWriter(path, compression=compression, options=image_output)
    if fmt == "zarr":
        from normcli.io.zarr import ZarrWriter

        return ZarrWriter(path, compression=compression, source=source)
    if fmt == "npy":
        from normcli.io.npy import NpyWriter

        return NpyWriter(path, compression=compression)
    if fmt == "npz":
        from normcli.io.npz import NpzWriter

        return NpzWriter(path, compression=compression)
    if fmt == "netcdf" or (fmt == "hdf5" and getattr(source, "format", None) == "netcdf"):
        from normcli.io.netcdf import NetcdfWriter

        return NetcdfWriter(path, compression=compression, source=source)
    from normcli.io.hdf5 import Hdf5Writer

    return Hdf5Writer(path, compression=compression, source=source)
