"""Formats: one module each, registered in one table, chosen by the path.

:data:`FORMATS` says, for every format, the names it is known by, the module that
reads and writes it, and its reader and writer classes (imported only when used).
``open_reader(path)`` and ``open_writer(path)`` pick the entry from the file's
extension, or from the path being a directory (an image folder; a ``.zarr`` store is a
directory too); every reader and writer follows the small protocols in
:mod:`normcli.io.base`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from normcli.errors import InputError, OutputError, ParameterError
from normcli.io.base import ArrayInfo, ArraySink, Reader, Writer, rows_per_chunk
from normcli.io.idx import is_idx_name

__all__ = [
    "FORMATS",
    "ONE_ARRAY_FORMATS",
    "ArrayInfo",
    "ArraySink",
    "Format",
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
    """Options of the readers that take any (image folders: --mode, --max-pixels,
    --resize/--center-crop/--interpolation as an ImageTransform, --exif-transpose,
    --class-order; HDF5: --allow-external; HDF5, netCDF, Zarr: --raw, the stored values
    without CF decoding)."""

    mode: str | None = None
    max_pixels: int | None = None
    allow_external: bool = False
    raw: bool = False
    transform: object | None = None  # normcli.io.image_transforms.ImageTransform
    exif_transpose: bool = False
    class_order: str | None = None  # sorted (None) or natural

    def image_flags(self) -> list[str]:
        """The image-folder options given, as their flags."""
        t = self.transform
        flags = {
            "--mode": self.mode is not None,
            "--max-pixels": self.max_pixels is not None,
            "--resize": t is not None and t.resize is not None,
            "--center-crop": t is not None and t.crop is not None,
            "--interpolation": t is not None and t.interpolation != "bilinear",
            "--exif-transpose": self.exif_transpose,
            "--class-order": self.class_order is not None,
        }
        return [flag for flag, given in flags.items() if given]


@dataclass(frozen=True)
class Format:
    """One format of the registry: how it is named and where its code lives."""

    name: str
    #: File-name endings that select it (lower case); none for a folder of images.
    suffixes: tuple[str, ...]
    module: str
    reader: str
    #: The writer class, or None for a format normcli only reads.
    writer: str | None
    #: True for a directory (a store or a folder), False for one file.
    directory: bool = False
    #: What it is, for messages and docs.
    notes: str = ""
    #: The writer's module, when it is not ``module``.
    writer_module: str | None = None

    def load(self, what: str) -> type:
        """The reader or writer class (``what``: "reader" or "writer")."""
        name = self.writer_module if what == "writer" and self.writer_module else self.module
        return getattr(importlib.import_module(name), getattr(self, what))


#: Every format normcli reads or writes. The order is the order suffixes are tried.
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("zarr", (".zarr",), "normcli.io.zarr", "ZarrReader", "ZarrWriter", True,
               "Zarr v3 stores (normcli[zarr])"),
        Format("npy", (".npy",), "normcli.io.npy", "NpyReader", "NpyWriter",
               notes="one numpy array"),
        Format("npz", (".npz",), "normcli.io.npz", "NpzReader", "NpzWriter",
               notes="numpy's zip of arrays (no pickles)"),
        Format("hdf5", HDF5_SUFFIXES, "normcli.io.hdf5", "Hdf5Reader", "Hdf5Writer",
               notes="HDF5 datasets, by their path"),
        Format("netcdf", NETCDF_SUFFIXES, "normcli.io.netcdf", "NetcdfReader", "NetcdfWriter",
               notes="netCDF-4 variables, with dimensions and CF decoding (writing: "
               "normcli[netcdf])"),
        Format("idx", (), "normcli.io.idx", "IdxReader", None,
               notes="MNIST's IDX files (-ubyte, -ubyte.gz), read only"),
        Format("images", (), "normcli.io.images", "ImageFolderReader", "ImageFolderWriter",
               True, "a folder of PNG, JPEG or TIFF images (class subfolders)",
               "normcli.io.image_writer"),
    )
}  # fmt: skip


def _by_suffix(name: str) -> str | None:
    name = name.lower()
    for fmt in FORMATS.values():
        if fmt.suffixes and name.endswith(fmt.suffixes):
            return fmt.name
    return None


def input_format(path: Path) -> str:
    """The format name for an input path: npy, npz, hdf5, idx, zarr, or images (a directory)."""
    if path.name.lower().endswith(".zarr"):
        return "zarr"
    if path.is_dir():
        return "images"
    fmt = _by_suffix(path.name)
    if fmt is not None:
        return fmt
    if is_idx_name(path.name.lower()):
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
    fmt = _by_suffix(Path(path).name)
    if fmt is not None and FORMATS[fmt].writer is not None:
        return fmt
    path = Path(path)
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
    if fmt != "images" and options.image_flags():
        flag = options.image_flags()[0]
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
    cls = FORMATS[fmt].load("reader")
    if fmt == "images":
        return cls(
            path,
            mode=options.mode,
            max_pixels=options.max_pixels,
            transform=options.transform,
            exif_transpose=options.exif_transpose,
            order=options.class_order or "sorted",
        )
    if fmt in ("hdf5", "netcdf"):
        return cls(path, allow_external=options.allow_external)
    return cls(path)


def open_writer(
    path: str | os.PathLike, *, compression: str | None = None, image_output=None, source=None
) -> Writer:
    """A writer for ``path`` (its format from the extension), writing to a temp file.

    ``image_output`` (an :class:`normcli.io.image_writer.ImageOutput`) says how an image
    folder is written. ``source``, the reader of INPUT, is what HDF5, netCDF and Zarr
    OUTPUTs keep the layout and attributes of (an HDF5 OUTPUT from a netCDF INPUT is
    written as netCDF-4, so it keeps the dimensions).
    """
    fmt = output_format(path)
    if fmt == "hdf5" and getattr(source, "format", None) == "netcdf":
        fmt = "netcdf"  # HDF5 written as netCDF-4: the input's dimensions are kept
    cls = FORMATS[fmt].load("writer")
    if fmt == "images":
        return cls(Path(path), compression=compression, options=image_output)
    if fmt in ("hdf5", "netcdf", "zarr"):
        return cls(Path(path), compression=compression, source=source)
    return cls(Path(path), compression=compression)
