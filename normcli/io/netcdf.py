"""netCDF-4 and netCDF-4-classic files (``.nc``, ``.nc4``, ``.cdf``): HDF5 underneath.

Reading needs nothing beyond h5py: :class:`NetcdfReader` is the HDF5 reader, which
already knows netCDF's dimension scales (placeholders are not arrays, coordinate
variables are marked, every variable knows its dimension names). Variables are named
as in netCDF (``temp``, ``group/temp``). netCDF-3 files (not HDF5) are refused with
what to do.

Writing goes through h5netcdf (the optional extra ``normcli[netcdf]``), so that a
``.nc`` OUTPUT, or an HDF5 OUTPUT written from a netCDF INPUT, keeps the input's
dimensions and coordinate variables: ``xarray.open_dataset`` sees the same dims.
Arrays from a file without dimensions get their own (``x_dim0``, ``x_dim1``, ...).
Rows are streamed into the h5py dataset under each variable, as for HDF5.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np

from normcli.errors import InputError, NormcliError, OutputError
from normcli.io.base import ArraySink, input_os_error
from normcli.io.hdf5 import Hdf5Reader, Hdf5Writer, _DatasetSink, _first_line
from normcli.io.layout import dataset_options, source_attributes, write_attributes

NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf", ".netcdf")
NETCDF3_SIGNATURES = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


def require_h5netcdf(action: str = "write netCDF files"):
    try:
        import h5netcdf
    except ImportError:
        raise NormcliError(
            f"to {action} normcli needs the h5netcdf package: pip install 'normcli[netcdf]'"
        ) from None
    return h5netcdf


def check_netcdf4(path: Path) -> None:
    """Refuse a netCDF-3 file (not HDF5) with what to do."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise input_os_error(path, exc) from None
    if head in NETCDF3_SIGNATURES:
        raise InputError(
            f"{path} is a netCDF-3 (classic format) file; normcli reads netCDF-4 files "
            f"(HDF5 inside): convert it, e.g. 'nccopy -k nc4 {path} OUT.nc' or xarray's "
            "open_dataset(...).to_netcdf('OUT.nc', engine='h5netcdf')"
        )


#: What netCDF-C reads where nothing was written and no _FillValue is set (netcdf.h).
DEFAULT_FILL = {
    "i1": -127, "u1": 255, "i2": -32767, "u2": 65535, "i4": -2147483647,
    "u4": 4294967295, "i8": -9223372036854775806, "u8": 18446744073709551614,
    "f4": 9.9692099683868690e36, "f8": 9.9692099683868690e36,
}  # fmt: skip


class NetcdfReader(Hdf5Reader):
    """netCDF-4 through h5py. A variable along an unlimited dimension has that
    dimension's netCDF length, the longest of the variables along it; records a shorter
    variable never stored read as its fill value, as netCDF reads them (missing, once
    decoded)."""

    format = "netcdf"

    def __init__(self, path: Path, *, allow_external: bool = False):
        check_netcdf4(Path(path))
        super().__init__(path, allow_external=allow_external)
        self._unlimited_lengths()

    def _unlimited_lengths(self) -> None:
        lengths: dict[str, int] = {}
        unlimited: set[str] = set()
        for info in self._infos:
            ds = self._dataset(info.name)
            for axis, dim in enumerate(info.extra.get("dims") or ()):
                if dim is not None and ds.maxshape[axis] is None:
                    unlimited.add(dim)
                    lengths[dim] = max(lengths.get(dim, 0), info.shape[axis])
        for name, shape in self.dimensions.items():
            dim = name.rsplit("/", 1)[-1]
            if dim in unlimited and shape:
                lengths[dim] = max(lengths[dim], shape[0])
        if not unlimited:
            return
        infos = []
        for info in self._infos:
            dims = info.extra.get("dims") or ()
            shape = tuple(
                lengths[d] if d in unlimited else n for d, n in zip(dims, info.shape, strict=False)
            )
            if dims and shape != info.shape:
                if shape[1:] != info.shape[1:]:
                    self.skipped[info.name] = (
                        f"{self.path}:{info.name} is shorter than an unlimited dimension other "
                        "than its first; normcli pads only along axis 0: rewrite it with xarray"
                    )
                    continue
                fill = self.attributes(info.name).get("_FillValue")
                if fill is None:
                    fill = DEFAULT_FILL.get(info.dtype.str[1:], 0)
                self._padded[info.name] = (info.shape[0], fill)
                extra = {**info.extra, "stored_rows": info.shape[0]}
                info = dataclasses.replace(info, shape=shape, extra=extra)
            infos.append(info)
        self._infos = infos

    def attributes(self, name: str) -> dict:
        attrs = super().attributes(name)
        if name in self._padded and "_FillValue" not in attrs:
            attrs["_FillValue"] = self._padded[name][1]  # netCDF's default: missing
        return attrs


class NetcdfWriter(Hdf5Writer):
    """A netCDF-4 file written with h5netcdf: dimensions and coordinate variables kept."""

    format = "netcdf"

    def __init__(self, path: Path, *, compression: str | None = None, source=None):
        h5netcdf = require_h5netcdf()
        super().__init__(path, compression=compression, source=source)
        try:
            self._nc = h5netcdf.File(self._file, "w")
        except Exception as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_first_line(str(exc))}") from None

    def _dims(self, name: str, shape: tuple[int, ...]) -> tuple[str, ...]:
        """The dimension names of ``name`` (the input's, else new), created as needed."""
        dims = None
        if self.source is not None:
            try:
                dims = self.source.info(name).extra.get("dims")
            except NormcliError:
                dims = None
        if not dims or len(dims) != len(shape) or None in dims:
            base = name.replace("/", "_")
            dims = tuple(f"{base}_dim{i}" for i in range(len(shape)))
        for dim, size in zip(dims, shape, strict=True):
            have = self._nc.dimensions.get(dim)
            if have is None:
                self._nc.dimensions[dim] = size
            elif have.size != size:
                raise OutputError(
                    f"cannot write {name!r} to {self.path}: its dimension {dim} has length "
                    f"{size}, another array's has {have.size}"
                )
        return tuple(dims)

    def _stored_dtype(self, name: str, dtype) -> np.dtype:
        try:
            info = self.source.info(name)
        except (NormcliError, AttributeError):
            return np.dtype(dtype)
        return np.dtype(info.extra.get("stored_dtype", info.dtype))

    def add(self, name, shape, dtype) -> ArraySink:
        shape = tuple(shape)
        kwargs = dataset_options(self.source, name, shape, dtype, self.compression)
        attrs = source_attributes(self.source, name)
        fill = attrs.pop("_FillValue", None)
        if np.dtype(dtype) != self._stored_dtype(name, dtype):  # normalized: NaN marks missing
            fill = np.nan if np.dtype(dtype).kind == "f" else None
        try:
            var = self._nc.create_variable(
                name, self._dims(name, shape), dtype=dtype, fillvalue=fill, **kwargs
            )
        except OutputError:
            raise
        except Exception as exc:
            raise OutputError(
                f"cannot create {name!r} in {self.path}: {_first_line(str(exc))}"
            ) from None
        ds = self._file[var.name]
        write_attributes(ds.attrs, attrs, str(self.path))
        return _DatasetSink(ds, name, shape, dtype, str(self.path), self._guard)

    def add_texts(self, name: str, values: list[str]) -> bool:
        try:
            dims = self._dims(name, (len(values),))
            var = self._nc.create_variable(name, dims, dtype=str)
            var[:] = list(values)
        except OutputError:
            raise
        except Exception as exc:
            raise OutputError(
                f"cannot create {name!r} in {self.path}: {_first_line(str(exc))}"
            ) from None
        return True

    def annotate(self, name: str, attrs: dict) -> None:
        ds = self._file[name]
        keep = {"_FillValue", "CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST"}
        for key in list(ds.attrs):
            if key not in keep and not key.startswith("_Netcdf4"):
                del ds.attrs[key]
        attrs = {k: v for k, v in attrs.items() if k != "_FillValue"}
        write_attributes(ds.attrs, attrs, str(self.path))

    def commit(self) -> None:
        try:
            self._nc.close()
        except Exception as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_first_line(str(exc))}") from None
        super().commit()

    def abort(self) -> None:
        nc = getattr(self, "_nc", None)
        if nc is not None:
            with contextlib.suppress(Exception):
                nc.close()
        super().abort()
