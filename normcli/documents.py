"""The JSON documents of every command (DESIGN.md's contract), as Python objects.

The command line prints them with ``--json``; the Python API returns them.
"""

from __future__ import annotations

from normcli.moments import to_python
from normcli.ragged import is_ragged, shape_json, stored_bytes


def array_document(item) -> dict:
    """The JSON object of one described array (DESIGN.md's contract)."""
    doc = {
        "name": item.name,
        "shape": list(item.shape),
        "dtype": str(item.dtype),
        "axis": None if item.axes is None else list(item.axes),
        "stats": to_python(item.stats),
    }
    if item.extra.get("cf"):
        doc["decoded"] = item.extra["cf"]  # CF-decoded: "int16 decoded (scale_factor, ...)"
    if getattr(item, "percentiles", None):
        doc["percentiles"] = percentiles_document(item.percentiles)
        doc["percentile_method"] = item.percentile_method
    return doc


def percentiles_document(percentiles: dict) -> dict:
    """``{"p50": values}`` as JSON: ``{"50": value, ...}`` (nested lists with kept axes)."""
    converted = to_python(percentiles)
    return {label[1:]: value for label, value in converted.items()}


def describe_document(
    input_path, items, *, exclude_zeros: bool = False, hist: bool = False
) -> dict:
    """``describe --json``: every array described (with ``hist``, its histogram: the
    nonzero values with ``exclude_zeros``, all values otherwise)."""
    shown = "nonzero" if exclude_zeros else "all"
    arrays = []
    for item in items:
        doc = array_document(item)
        if hist and item.histograms:
            doc["histogram"] = item.histograms[shown].document()
        arrays.append(doc)
    doc = {"input": str(input_path), "arrays": arrays}
    if exclude_zeros:
        doc["exclude_zeros"] = True
    return doc


def ls_document(input_path, fmt: str, infos, skipped: dict | None = None) -> dict:
    """``ls --json``: the arrays (and lists of text) of INPUT; netCDF dimensions and
    coordinates, CF decoding, and the arrays normcli cannot read (``skipped``), when
    there are."""
    doc = {"input": str(input_path), "format": fmt, "arrays": [_ls_item(a) for a in infos]}
    if skipped:
        doc["skipped"] = [{"name": n, "reason": r} for n, r in skipped.items()]
    return doc


def _ls_item(a) -> dict:
    """One array of ``ls --json``; a folder of mixed sizes has null for the varying
    dimensions, the bytes of its decoded pixels, and its heights' and widths' ranges."""
    out = {"name": a.name, "shape": shape_json(a), "dtype": str(a.dtype), "bytes": stored_bytes(a)}
    if is_ragged(a):
        out["heights"] = list(a.extra["heights"])
        out["widths"] = list(a.extra["widths"])
    if "dims" in a.extra:
        out["dims"] = list(a.extra["dims"])
    if a.extra.get("coordinate"):
        out["coordinate"] = True
    if a.extra.get("cf"):
        out["decoded"] = a.extra["cf"]
    if "stored_rows" in a.extra:
        out["stored_rows"] = a.extra["stored_rows"]
    return out


def _inspected(a, inspect) -> dict:
    """The JSON of --hist and --check-ranks for one normalized array."""
    out = {}
    if inspect is not None and inspect.hist and a.histograms:
        out["histogram"] = {
            side: a.histograms[side][inspect.shown].document() for side in ("before", "after")
        }
    if a.ranks is not None:
        out["rank_check"] = a.ranks.document()
    return out


def normalize_document(report, inspect=None) -> dict:
    doc = {
        "input": report.input,
        "output": report.output,
        "arrays": [
            {
                "name": a.name,
                "shape": list(a.shape),
                "dtype_in": str(a.dtype_in),
                "dtype_out": str(a.dtype_out),
                "method": a.method,
                "axis": a.axis,
                "params": a.params,
                "before": to_python(a.before),
                "after": to_python(a.after),
                **_inspected(a, inspect),
            }
            for a in report.arrays
        ],
        "passed": list(report.passed),
    }
    if report.dropped:
        doc["dropped"] = list(report.dropped)
    if report.params_file:
        doc["params_file"] = report.params_file
    return doc


def fit_document(input_path, doc: dict, before: dict, saved=None) -> dict:
    """``fit --json``: the params document and the statistics it was fitted on."""
    out = {"input": str(input_path), "params": doc, "before": to_python(before)}
    if saved:
        out["params_file"] = saved
    return out


def check_document(report) -> dict:
    return {
        "input": report.input,
        "passed": report.passed,
        "arrays": [
            {
                "name": a.name,
                "shape": list(a.shape),
                "passed": all(o.passed for o in a.outcomes),
                "checks": [o.document() for o in a.outcomes],
            }
            for a in report.arrays
        ],
    }
