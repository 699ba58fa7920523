"""CF decoding of stored values: what ``scale_factor``, ``add_offset``, ``_FillValue``,
``missing_value``, ``valid_min``/``valid_max``/``valid_range`` and ``_Unsigned`` mean.

netCDF, and HDF5 or Zarr written by xarray, often store values packed (int16 with a
``scale_factor`` and ``add_offset``) and mark missing values with a fill value. Read
raw, their statistics are meaningless (the mean of a temperature in kelvin becomes
−3311.7, the minimum is the fill value). :class:`CFCoding` turns stored chunks into the
values they stand for, missing values as NaN, following xarray's CF decoding
(``xarray/coding/variables.py``: ``CFMaskCoder`` then ``CFScaleOffsetCoder``) step by
step, with its choice of float type, so the decoded values are xarray's to the bit:

1. ``_Unsigned = "true"`` (or ``"false"``) reinterprets the integers as unsigned (signed);
2. values equal to ``_FillValue`` or ``missing_value`` become NaN (the data become
   float first: the packed type's float for packed data, else float32 for integers of
   up to 16 bits and float64 for wider ones; floats keep their type);
3. ``x * scale_factor + add_offset``, in float32 when the attributes are float32 and
   the data at most 16-bit integers or float32, else in float64.

Beyond xarray, and as the CF conventions and the netCDF4 library do, stored values
outside ``valid_min``/``valid_max``/``valid_range`` (compared before unpacking) are
missing too. Times (``units = "days since ..."``) are not decoded: they stay numbers.

Attributes that make no sense (a string ``scale_factor``, a fill value the stored type
cannot hold, ``valid_min > valid_max``) are an error naming the variable and the
attribute: ``--raw`` reads the stored values instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from normcli.errors import InputError

#: The attributes that change what stored values mean.
CF_ATTRIBUTES = (
    "scale_factor",
    "add_offset",
    "_FillValue",
    "missing_value",
    "valid_min",
    "valid_max",
    "valid_range",
    "_Unsigned",
)
#: Attributes that describe the stored or the decoded values, and that a normalized
#: array no longer has (see :func:`normalized_attributes`).
STALE_AFTER_NORMALIZE = (
    *CF_ATTRIBUTES,
    "actual_range",
    "valid_mean",
    "units",
    "standard_name",
)
RAW_HINT = "pass --raw to read the stored values"


def _scalar(value):
    """An attribute as the netCDF libraries give it: a one-element array as a numpy
    scalar, bytes as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.size == 1:
            value = value.reshape(())[()]
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
    return value


def _numeric(value, attr: str, where: str, *, size: int | None = 1):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or (size is not None and arr.size != size):
        want = "a number" if size == 1 else f"{size} numbers"
        raise InputError(
            f"{where} has CF attribute {attr}={value!r}, which is not {want}; fix the "
            f"attribute, or {RAW_HINT}"
        )
    if arr.dtype.kind == "f" and not np.isfinite(arr).all() and attr not in _NAN_ALLOWED:
        raise InputError(
            f"{where} has CF attribute {attr}={value!r}, which is not finite; fix the "
            f"attribute, or {RAW_HINT}"
        )
    return value


_NAN_ALLOWED = ("_FillValue", "missing_value")


def _choose_float_dtype(dtype: np.dtype, scale_factor, add_offset) -> np.dtype:
    """xarray's ``_choose_float_dtype``: the float type decoded values are held in."""
    if scale_factor is not None or add_offset is not None:
        scale_type = np.dtype(type(scale_factor)) if scale_factor is not None else None
        offset_type = np.dtype(type(add_offset)) if add_offset is not None else None
        if (
            scale_type is not None
            and offset_type is not None
            and scale_type == offset_type
            and scale_type in (np.float32, np.float64)
        ):
            if dtype.itemsize == 4 and dtype.kind in "iu":
                return np.dtype(np.float64)
            return scale_type
        if add_offset is not None:
            return np.dtype(np.float64)
        return scale_type if scale_type.kind == "f" else np.dtype(np.float64)
    if dtype.itemsize <= 4 and dtype.kind == "f":
        return np.dtype(np.float32)
    if dtype.itemsize <= 2 and dtype.kind in "iub":
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _promoted(dtype: np.dtype) -> np.dtype:
    """xarray's ``maybe_promote`` for numbers: a type that holds NaN."""
    if dtype.kind == "f":
        return dtype
    return np.dtype(np.float32 if dtype.itemsize <= 2 else np.float64)


@dataclass
class CFCoding:
    """How one variable's stored values are decoded (see the module docstring)."""

    where: str
    stored: np.dtype
    dtype: np.dtype  # the decoded type
    unsigned: np.dtype | None = None
    fills: list = field(default_factory=list)
    valid: tuple[float | None, float | None] = (None, None)
    scale_factor: object = None
    add_offset: object = None
    applied: list[str] = field(default_factory=list)

    def decode(self, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The decoded values of the stored chunk ``raw`` (into ``out`` when given)."""
        data = raw.view(self.unsigned) if self.unsigned is not None else raw
        lo, hi = self.valid
        invalid = None
        if lo is not None or hi is not None:
            invalid = np.zeros(data.shape, dtype=bool)
            if lo is not None:
                invalid |= data < lo
            if hi is not None:
                invalid |= data > hi
        if out is None:
            out = np.empty(data.shape, dtype=self.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # as xarray: inf where too large
            # one copy into the decoded type (xarray: astype in the mask, then scale in place)
            np.copyto(out, data, casting="unsafe")
            if self.fills:
                mask = np.zeros(out.shape, dtype=bool)
                for fv in self.fills:
                    mask |= out == fv
                out[mask] = np.nan
            if self.scale_factor is not None:
                out *= self.scale_factor
            if self.add_offset is not None:
                out += self.add_offset
        if invalid is not None:
            out[invalid] = np.nan
        return out

    def describe(self) -> str:
        """Words for ls/describe: ``int16 decoded (scale_factor, add_offset, _FillValue)``."""
        return f"{self.stored} decoded ({', '.join(self.applied)})"


def cf_coding(attrs: dict, stored: np.dtype, where: str) -> CFCoding | None:
    """The decoding of a variable with attributes ``attrs`` stored as ``stored``, or
    None when it carries no CF attribute (its values are read as stored)."""
    present = [a for a in CF_ATTRIBUTES if a in attrs]
    if not present or stored.kind not in "biuf":
        return None
    attrs = {a: _scalar(attrs[a]) for a in present}
    unsigned = None
    kind_dtype = stored
    if "_Unsigned" in attrs:
        flag = str(attrs["_Unsigned"]).lower()
        if flag not in ("true", "false"):
            raise InputError(
                f"{where} has CF attribute _Unsigned={attrs['_Unsigned']!r}, which is neither "
                f'"true" nor "false"; fix the attribute, or {RAW_HINT}'
            )
        if stored.kind == "i" and flag == "true":
            unsigned = np.dtype(f"u{stored.itemsize}")
        elif stored.kind == "u" and flag == "false":
            unsigned = np.dtype(f"i{stored.itemsize}")
        if unsigned is not None:
            kind_dtype = unsigned
    fills = []
    for attr in ("missing_value", "_FillValue"):
        if attr not in attrs:
            continue
        value = attrs[attr]
        _numeric(value, attr, where, size=None)
        for fv in np.ravel(np.asarray(value)):
            if np.isnan(fv) if np.asarray(fv).dtype.kind == "f" else False:
                continue
            fv = _fill_in(fv, stored, kind_dtype, attr, where)
            if not any(fv == f and type(fv) is type(f) for f in fills):
                fills.append(fv)
    lo = hi = None
    if "valid_range" in attrs:
        _numeric(attrs["valid_range"], "valid_range", where, size=2)
        lo, hi = (v for v in np.asarray(attrs["valid_range"]).tolist())
        if lo > hi:
            raise InputError(
                f"{where} has CF attribute valid_range={list(np.ravel(attrs['valid_range']))} "
                f"whose minimum is above its maximum; fix the attribute, or {RAW_HINT}"
            )
    else:
        if "valid_min" in attrs:
            lo = np.asarray(_numeric(attrs["valid_min"], "valid_min", where)).item()
        if "valid_max" in attrs:
            hi = np.asarray(_numeric(attrs["valid_max"], "valid_max", where)).item()
        if lo is not None and hi is not None and lo > hi:
            raise InputError(
                f"{where} has CF attributes valid_min={lo} > valid_max={hi}; fix the "
                f"attributes, or {RAW_HINT}"
            )
    scale = attrs.get("scale_factor")
    offset = attrs.get("add_offset")
    for attr, value in (("scale_factor", scale), ("add_offset", offset)):
        if value is not None:
            _numeric(value, attr, where)
    if scale is not None and np.asarray(scale) == 0:
        raise InputError(
            f"{where} has CF attribute scale_factor=0, which maps every value to add_offset; "
            f"fix the attribute, or {RAW_HINT}"
        )
    packed = scale is not None or offset is not None
    if not (packed or fills or lo is not None or hi is not None or unsigned is not None):
        return None  # e.g. a NaN _FillValue on float data: the values are what is stored
    if packed:
        dtype = _choose_float_dtype(kind_dtype, scale, offset)
    elif fills or lo is not None or hi is not None:
        dtype = _promoted(kind_dtype)
    elif unsigned is not None:
        dtype = unsigned
    else:
        dtype = kind_dtype
    applied = [a for a in present if a != "_FillValue" or fills]
    return CFCoding(
        where=where,
        stored=stored,
        dtype=np.dtype(dtype),
        unsigned=unsigned,
        fills=fills,
        valid=(lo, hi),
        scale_factor=scale,
        add_offset=offset,
        applied=applied,
    )


def _fill_in(fv, stored: np.dtype, kind_dtype: np.dtype, attr: str, where: str):
    """A fill value as xarray compares it (the attribute's own scalar; a ``_FillValue``
    reinterpreted by ``_Unsigned`` as a Python int); one that the stored type cannot
    hold is an error."""
    value = np.asarray(fv)
    check = stored if kind_dtype != stored and attr == "_FillValue" else kind_dtype
    if check.kind in "iu":
        info = np.iinfo(check)
        if value.dtype.kind in "iu":
            fits = info.min <= int(value) <= info.max
        else:
            as_float = float(value)
            fits = as_float.is_integer() and info.min <= as_float <= info.max
        if not fits:
            raise InputError(
                f"{where} has CF attribute {attr}={fv!r}, which its stored type {check} "
                f"cannot hold; fix the attribute, or {RAW_HINT}"
            )
    if kind_dtype != stored and attr == "_FillValue":
        return np.array(fv, dtype=stored).view(kind_dtype).item()
    return value[()]


def normalized_attributes(attrs: dict, provenance: dict) -> dict:
    """The attributes of a normalized array: the input's, without those that described
    the old values (:data:`STALE_AFTER_NORMALIZE`: packing, fill and valid ranges, units,
    standard_name), plus normcli's provenance (``normcli_method``, ...)."""
    out = {k: v for k, v in attrs.items() if k not in STALE_AFTER_NORMALIZE}
    out.update(provenance)
    return out
