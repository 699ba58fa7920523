"""What normcli says and keeps about scientific files (issue 14), in one place:

- the arrays a file holds but normcli cannot read (``Reader.skipped``): refused when
  selected, skipped with a note otherwise;
- the attributes of a normalized array: the input's, less those that described the
  old values, plus normcli's provenance (:func:`provenance`);
- 64-bit integers beyond 2**53, which float64 statistics round.
"""

from __future__ import annotations

import json

import numpy as np

from normcli import __version__
from normcli.cf import normalized_attributes
from normcli.errors import InputError

#: Integers of larger magnitude are not all exact in float64.
EXACT_FLOAT_INTEGERS = 2**53


def refuse_skipped(reader, key: str) -> None:
    """``-k`` named an array the file holds but normcli cannot read: say why."""
    reason = reader.skipped.get(key)
    if reason is not None:
        raise InputError(reason)


def only_skipped(reader) -> None:
    """A file whose every array is unreadable: the first reason is the error."""
    if reader.skipped:
        raise InputError(next(iter(reader.skipped.values())))


def skipped_reason(reader, name: str) -> str:
    """The reason ``name`` is skipped, without the ``FILE:NAME`` it starts with."""
    reason = reader.skipped[name]
    prefix = f"{reader.path}:{name} "
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def skipped_notes(reader) -> list[str]:
    """One note per skipped array, for describe without -k and normalize."""
    return [f"skipping {reason}" for reason in reader.skipped.values()]


def provenance(norm, params: dict, *, missing: bool) -> dict:
    """normcli's attributes on a normalized array."""
    attrs = {
        "normcli_method": norm.method,
        "normcli_axis": "all" if norm.axes_ is None else ",".join(map(str, norm.axes_)),
        "normcli_params": json.dumps(params, default=_plain, sort_keys=True),
        "normcli_version": __version__,
    }
    if missing:
        attrs["normcli_missing"] = "NaN (missing or masked input values are written as NaN)"
    return attrs


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def annotate(writer, reader, name: str, norm, params: dict, before: dict) -> None:
    """Give the normalized array ``name`` of OUTPUT its attributes (see the module)."""
    attrs = reader.attributes(name)
    missing = int(np.sum(before.get("nan", 0))) > 0
    writer.annotate(name, normalized_attributes(attrs, provenance(norm, params, missing=missing)))


def array_notes(where: str, info, norm, before: dict) -> list[str]:
    """What normalize says about one array it wrote: 64-bit integers rounded, slices
    treated as constant, missing values written as NaN."""
    notes = [wide_integer_warning(where, info.dtype, before)]
    notes += [f"{where}: {note}" for note in norm.notes()]
    notes.append(missing_note(where, info, before))
    return [n for n in notes if n]


def missing_note(where: str, info, before: dict) -> str | None:
    """Normalized output writes a CF-decoded array's missing values as NaN: say so."""
    n = int(np.sum(before.get("nan", 0)))
    if not n or "cf" not in info.extra:
        return None
    return (
        f"{where}: {n:,} missing value{'s' if n != 1 else ''} (its CF attributes mark them) "
        "written as NaN; the output says so in its attribute normcli_missing"
    )


def wide_integer_warning(where: str, dtype: np.dtype, stats: dict) -> str | None:
    """A warning when 64-bit integers beyond 2**53 were rounded to float64."""
    if np.dtype(dtype).kind not in "iu" or np.dtype(dtype).itemsize < 8:
        return None
    lo = np.nanmin(np.asarray(stats["min"], dtype=np.float64))
    hi = np.nanmax(np.asarray(stats["max"], dtype=np.float64))
    if max(abs(lo), abs(hi)) < EXACT_FLOAT_INTEGERS:  # 2**53 itself may be a rounded 2**53+1
        return None
    return (
        f"{where} holds {dtype} values beyond 2**53 (up to {max(abs(lo), abs(hi)):.6g}); "
        "float64 cannot hold every such integer, so the statistics (and normalized "
        "values) are computed from values rounded to float64's 53-bit precision"
    )
