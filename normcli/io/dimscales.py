"""netCDF-4's dimension scales, as HDF5 stores them, read with h5py.

netCDF-4 keeps each dimension as an HDF5 dimension scale: a coordinate variable is a
dataset of that name marked ``CLASS = "DIMENSION_SCALE"``; a dimension without one
is an empty placeholder dataset whose ``NAME`` says so (it is not data, and its
storage was never written by design). Variables point to their dimensions through
``DIMENSION_LIST``.
"""

from __future__ import annotations

import numpy as np

#: What netCDF-4 stores in the NAME of a dimension that has no coordinate variable.
NETCDF_PLACEHOLDER = b"This is a netCDF dimension but not a netCDF variable"
#: Attributes HDF5 and netCDF-4 use for their own bookkeeping, not the data's.
INTERNAL_ATTRIBUTES = frozenset(
    {
        "CLASS",
        "NAME",
        "DIMENSION_LIST",
        "REFERENCE_LIST",
        "_Netcdf4Dimid",
        "_Netcdf4Coordinates",
        "_nc3_strict",
        "_NCProperties",
    }
)


def _attr_text(value) -> str:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def is_dimension_scale(ds) -> bool:
    return _attr_text(ds.attrs.get("CLASS", b"")) == "DIMENSION_SCALE"


def is_placeholder(ds) -> bool:
    """A netCDF dimension without a coordinate variable: empty by design, no array."""
    name = ds.attrs.get("NAME", b"")
    if isinstance(name, str):
        name = name.encode()
    return is_dimension_scale(ds) and bytes(name).startswith(NETCDF_PLACEHOLDER)


def dimension_names(ds) -> tuple[str | None, ...] | None:
    """The names of the dimension scales attached to each axis, or None when none is."""
    if "DIMENSION_LIST" not in ds.attrs:
        if is_dimension_scale(ds) and ds.ndim == 1:
            return (ds.name.rsplit("/", 1)[-1],)
        return None
    try:
        names = []
        for dim in ds.dims:
            names.append(dim[0].name.rsplit("/", 1)[-1] if len(dim) else None)
        return tuple(names)
    except Exception:  # a damaged reference: no names, the data can still be read
        return None
