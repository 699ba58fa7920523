"""Params files: the JSON document of a fitted normalizer, read, written and turned back
into a normalizer.
"""

from __future__ import annotations

import json
from pathlib import Path

from normcli import __version__
from normcli.axes import format_axis, parse_axis
from normcli.errors import InputError, ParameterError
from normcli.io.atomic import write_text_atomically
from normcli.jsonfmt import dumps
from normcli.normalizers import METHODS, WRAPPERS, Normalizer, wrap


def load_params(path) -> dict:

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p} does not exist; create it with normcli fit ... -o {p}") from None
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def params_json(doc: dict, where) -> str:
    """The params document as JSON text; floats round-trip exactly (shortest repr)."""

    try:
        return dumps(doc) + "\n"
    except ValueError:
        raise InputError(
            f"the fitted parameters for {where} contain NaN or infinity (a slice with no "
            "finite values?); nothing was saved"
        ) from None


def write_params(path, doc: dict, *, force: bool) -> None:
    write_text_atomically(path, params_json(doc, path), force=force)


PARAMS_FORMAT = "normcli-params/1"


def params_document(norm: Normalizer, *, source: str, key: str, shape, dtype) -> dict:
    """The params file: what a person needs to read and what normcli needs to apply."""
    doc = {"format": PARAMS_FORMAT, "normcli": __version__}
    doc.update(norm.params())
    doc["ndim"] = len(shape)
    doc["fitted_on"] = {"file": source, "key": key, "shape": list(shape), "dtype": str(dtype)}
    return doc


def normalizer_from_params(doc: dict, where: str, nan_policy: str = "raise") -> Normalizer:
    """Rebuild a fitted normalizer from a params document (see :func:`params_document`)."""
    if not isinstance(doc, dict) or doc.get("format") != PARAMS_FORMAT:
        raise ParameterError(f"{where} is not a normcli params file (no format {PARAMS_FORMAT})")
    method = doc.get("method")
    if method not in METHODS:
        raise ParameterError(f"{where}: unknown method {method!r}")
    opts = doc.get("options") or {}
    axis = doc.get("axis")
    axis_spec = parse_axis(axis) if isinstance(axis, str) else tuple(axis or ())
    kwargs = {}
    if method in ("minmax", "per-image"):
        kwargs = {
            "feature_range": tuple(opts.get("range", (0, 1))),
            "clip": opts.get("clip", False),
        }
    elif method == "zscore":
        kwargs = {"ddof": opts.get("ddof", 0), "eps": opts.get("eps")}
    elif method == "lp":
        kwargs = {"order": opts.get("order", 2)}
    elif method == "scale":
        kwargs = {"factor": opts.get("factor", "1")}
    elif hasattr(METHODS[method], "kwargs_from_options"):
        kwargs = METHODS[method].kwargs_from_options(opts)
    try:
        norm = METHODS[method](
            None if method == "scale" else axis_spec, nan_policy=nan_policy, **kwargs
        )
        norm = wrap(norm, {k: opts.get(k) for k in WRAPPERS})
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{where}: its options are invalid ({exc})") from None
    fitted = doc.get("fitted_on") or {}
    shape = tuple(fitted.get("shape") or ())
    if method != "scale":
        norm.bind(shape, where)
        if "statistics" not in doc:
            raise ParameterError(
                f"{where} holds no fitted statistics ({method} over axes "
                f"{format_axis(norm.axes_)} uses each sample's own)"
            )
        try:
            norm._load_statistics(doc["statistics"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: its statistics are incomplete ({exc})") from None
    return norm
