"""What an HDF5 (or netCDF) OUTPUT keeps of its input: compression, chunking, attributes.

The rule, for an array written to an HDF5/netCDF OUTPUT from an HDF5/netCDF INPUT that
holds an array of that name and shape:

- without ``--compression``, it is compressed as the input was (the same HDF5 filter
  pipeline: gzip level, shuffle, lzf, fletcher32, and the hdf5plugin filters Blosc,
  Blosc2, Zstd, LZ4, Bitshuffle when installed) and chunked as the input was;
  ``--compression none`` writes it uncompressed, ``--compression gzip`` etc. as asked;
- its attributes are carried (see :func:`normcli.cf.normalized_attributes` for what a
  normalized array drops and adds).

``--compression zstd`` and ``--compression blosc`` need hdf5plugin
(``pip install 'normcli[hdf5plugin]'``).
"""

from __future__ import annotations

import math

import numpy as np

from normcli.errors import OutputError

#: HDF5 filter ids (H5Zpublic.h, and the registered plugin ids hdf5plugin provides).
DEFLATE, SHUFFLE, FLETCHER32, SZIP, NBIT, SCALEOFFSET = 1, 2, 3, 4, 5, 6
LZF, BLOSC, LZ4, BITSHUFFLE, ZSTD, BLOSC2 = 32000, 32001, 32004, 32008, 32015, 32026
#: Plugin filters whose first parameters HDF5 fills in for the dtype (set_local):
#: how many to leave as 0, so they are filled in for the new dtype.
_SET_LOCAL = {BLOSC: 4, BLOSC2: 4, BITSHUFFLE: 3}
PLUGIN_COMPRESSIONS = ("zstd", "blosc")
HDF5_COMPRESSIONS = (None, "none", "gzip", "lzf", *PLUGIN_COMPRESSIONS)


def hdf5plugin_module():
    try:
        import hdf5plugin
    except ImportError:
        return None
    return hdf5plugin


def check_compression(compression: str | None, where) -> None:
    if compression not in HDF5_COMPRESSIONS:
        raise OutputError(
            f"{where}: HDF5 output supports --compression gzip, lzf, zstd, blosc or none"
        )
    if compression in PLUGIN_COMPRESSIONS and hdf5plugin_module() is None:
        raise OutputError(
            f"{where}: --compression {compression} for HDF5 needs the hdf5plugin package: "
            "pip install 'normcli[hdf5plugin]'"
        )


def default_chunks(shape: tuple[int, ...], dtype) -> tuple[int, ...]:
    """Whole rows, about 1 MiB per chunk."""
    row_bytes = max(1, math.prod(shape[1:]) * np.dtype(dtype).itemsize)
    return (max(1, min(shape[0], (1 << 20) // row_bytes)), *shape[1:])


def requested(compression: str | None) -> dict:
    """create_dataset arguments for ``--compression``."""
    if compression in ("gzip", "lzf"):
        out = {"compression": compression, "shuffle": True}
        if compression == "gzip":
            out["compression_opts"] = 4
        return out
    if compression in PLUGIN_COMPRESSIONS:
        plugin = hdf5plugin_module()
        codec = plugin.Zstd(clevel=3) if compression == "zstd" else plugin.Blosc(clevel=5)
        return dict(codec)
    return {}


def input_layout(ds) -> dict:
    """create_dataset arguments that reproduce the h5py dataset ``ds``'s chunking and
    filters (lossy scale-offset and n-bit filters, and szip, are left out)."""
    out: dict = {}
    if ds.chunks:
        out["chunks"] = tuple(ds.chunks)
    dcpl = ds.id.get_create_plist()
    for i in range(dcpl.get_nfilters()):
        code, _flags, values, _name = dcpl.get_filter(i)
        values = tuple(int(v) for v in values)
        if code == SHUFFLE:
            out["shuffle"] = True
        elif code == FLETCHER32:
            out["fletcher32"] = True
        elif code == DEFLATE:
            out["compression"] = "gzip"
            out["compression_opts"] = values[0] if values else 4
        elif code == LZF:
            out["compression"] = "lzf"
        elif code in (SZIP, NBIT, SCALEOFFSET):
            continue
        elif "compression" not in out:
            keep = _SET_LOCAL.get(code, 0)
            out["compression"] = code
            out["compression_opts"] = (0,) * keep + values[keep:]
    return out


def dataset_options(source, name: str, shape, dtype, compression: str | None) -> dict:
    """The create_dataset arguments of array ``name`` in an HDF5 OUTPUT (see the module
    docstring); ``source`` is the reader of INPUT, or None."""
    shape = tuple(shape)
    if not shape or math.prod(shape) == 0:
        return {}
    same = _source_dataset(source, name, shape)
    if compression is None and same is not None:
        kept = input_layout(same)
        chunks = kept.get("chunks")
        if chunks is None or len(chunks) != len(shape):
            kept["chunks"] = default_chunks(shape, dtype)
        else:  # an unlimited dimension's chunks may be longer than the data
            kept["chunks"] = tuple(max(1, min(c, n)) for c, n in zip(chunks, shape, strict=True))
        return kept
    return {"chunks": default_chunks(shape, dtype), **requested(compression)}


def _source_dataset(source, name: str, shape):
    """The h5py dataset ``name`` of ``source`` when it is HDF5 (or netCDF) and has that
    shape, else None."""
    raw = getattr(source, "raw", source)
    dataset = getattr(raw, "_dataset", None)
    if dataset is None or raw.format not in ("hdf5", "netcdf"):
        return None
    try:
        ds = dataset(name)
    except (KeyError, OSError, RuntimeError):
        return None
    return ds if tuple(ds.shape) == shape else None


def source_attributes(source, name: str) -> dict:
    """The attributes of array ``name`` in INPUT (empty when it has none, or is new)."""
    if source is None:
        return {}
    try:
        names = {a.name for a in source.arrays()}
        return dict(source.attributes(name)) if name in names else {}
    except Exception:
        return {}


def write_attributes(attrs_obj, attrs: dict, where: str) -> None:
    """Set ``attrs`` on an h5py/zarr attribute mapping; one that cannot be stored (an
    object reference, say) is left out rather than failing the whole OUTPUT."""
    for key, value in attrs.items():
        try:
            attrs_obj[key] = value
        except (TypeError, ValueError, OSError, RuntimeError):
            continue
