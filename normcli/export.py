"""``normcli export``: fitted parameters as code to paste into torchvision or Keras.

torchvision's ``transforms.Normalize(mean, std)`` runs after ``ToTensor`` (or
``v2.ToDtype(torch.float32, scale=True)``), which divide 8-bit pixels by 255 and 16-bit
pixels by 65535: the figures are exported in those units, and ``std`` is the population
standard deviation (ddof=0), what torchvision's users compute and what makes the
normalized pixels have unit variance. Keras's ``keras.layers.Normalization(axis=-1,
mean, variance)`` runs on the raw pixels as ``image_dataset_from_directory`` gives
them (0-255 floats): raw units, population variance (what its ``adapt`` computes).

A zscore exports its mean and std; a minmax the mean and std that make Normalize do the
same affine map. Methods with no fixed parameters (per-image, lp) cannot be exported.
"""

from __future__ import annotations

import json
import math

import numpy as np

from normcli.errors import ParameterError

TARGETS = ("torchvision", "keras", "json")


def tensor_scale(dtype: str) -> tuple[float, str]:
    """What ToTensor divides by for data of ``dtype``, and how to say so."""
    dt = np.dtype(dtype)
    if dt == np.uint8:
        return 255.0, "uint8 / 255"
    if dt == np.uint16:
        return 65535.0, "uint16 / 65535"
    if dt == np.bool_:
        return 1.0, "bool as 0/1"
    return 1.0, f"{dt} values as they are"


def _affine(doc: dict, where: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(mean, std) such that the method is (x - mean) / std in raw units, and a note."""
    method = doc.get("method")
    stats = doc.get("statistics")
    if not isinstance(stats, dict):
        raise ParameterError(
            f"{where} holds no fitted statistics (-m {method} uses each sample's own): "
            "nothing to export; fit zscore or minmax over axes including 0"
        )
    try:
        if method == "zscore":
            mean = np.asarray(stats["mean"], dtype=np.float64)
            std = np.asarray(stats["std"], dtype=np.float64)
            n = np.asarray(stats["n"], dtype=np.float64)
            ddof = int((doc.get("options") or {}).get("ddof") or 0)
            if ddof:  # back to the population std
                std = std * np.sqrt(np.maximum(n - ddof, 0) / np.maximum(n, 1))
            return mean, std, "std is the population std (ddof=0)"
        if method == "minmax":
            lo_d = np.asarray(stats["min"], dtype=np.float64)
            hi_d = np.asarray(stats["max"], dtype=np.float64)
            lo, hi = ((doc.get("options") or {}).get("range") or (0.0, 1.0))[:2]
            span = (hi_d - lo_d) / (float(hi) - float(lo))
            return lo_d - float(lo) * span, span, f"maps [min, max] onto [{lo}, {hi}]"
    except (KeyError, TypeError, ValueError) as exc:
        raise ParameterError(f"{where}: its statistics are incomplete ({exc})") from None
    raise ParameterError(
        f"{where}: -m {method} has no mean and std to export; export takes zscore or minmax "
        "parameters"
    )


def _channels(doc: dict, values: np.ndarray, where: str) -> list[float]:
    """The per-channel (or one global) values; other layouts cannot be pasted."""
    ndim = int(doc.get("ndim") or 0)
    axes = tuple(doc.get("axes") or ())
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if axes == tuple(range(ndim)) or flat.size == 1:
        return [float(flat[0])] if flat.size == 1 else [float(v) for v in flat]
    if ndim == 4 and axes == (0, 1, 2):
        return [float(v) for v in flat]
    axis_text = ",".join(str(a) for a in axes)
    raise ParameterError(
        f"{where} was fitted over axes {axis_text} of {ndim}-d data ({flat.size} values); "
        "Normalize takes one value per channel: fit with --axis 0,1,2 on (N, H, W, C) images "
        "or --axis all"
    )


def _numbers(values: list[float]) -> str:
    return "[" + ", ".join(repr(v) if math.isfinite(v) else "float('nan')" for v in values) + "]"


def export(doc: dict, to: str, where: str = "params") -> str:
    """The parameters of ``doc`` (a params document) as code or JSON for ``to``."""
    if to not in TARGETS:
        raise ParameterError(f"--to {to}: use one of {', '.join(TARGETS)}")
    if not isinstance(doc, dict) or not str(doc.get("format", "")).startswith("normcli-params"):
        raise ParameterError(f"{where} is not a normcli params file")
    mean, std, how = _affine(doc, where)
    fitted = doc.get("fitted_on") or {}
    dtype = fitted.get("dtype") or "float64"
    scale, units = tensor_scale(dtype)
    raw_mean, raw_std = _channels(doc, mean, where), _channels(doc, std, where)
    t_mean = [v / scale for v in raw_mean]
    t_std = [v / scale for v in raw_std]
    variance = [v * v for v in raw_std]
    source = f"{fitted.get('file', '?')}:{fitted.get('key', '?')}"
    method = doc.get("method")
    if to == "json":
        out = {
            "source": source,
            "method": method,
            "dtype": dtype,
            "torchvision": {"mean": t_mean, "std": t_std, "units": units},
            "keras": {"mean": raw_mean, "variance": variance, "units": "raw pixel values"},
        }
        return json.dumps(out, indent=2)
    if to == "torchvision":
        return (
            f"# normcli export --to torchvision: {method} fitted on {source} ({dtype})\n"
            f"# units: what ToTensor() gives ({units}); {how}\n"
            "from torchvision import transforms\n\n"
            "normalize = transforms.Normalize(\n"
            f"    mean={_numbers(t_mean)},\n"
            f"    std={_numbers(t_std)},\n"
            ")"
        )
    axis = "-1" if len(raw_mean) > 1 else "None"
    return (
        f"# normcli export --to keras: {method} fitted on {source} ({dtype})\n"
        "# units: raw pixel values (0-255 for 8-bit images, as image_dataset_from_directory\n"
        f"# gives them; no Rescaling before it); {how}\n"
        "import keras\n\n"
        "normalize = keras.layers.Normalization(\n"
        f"    axis={axis},\n"
        f"    mean={_numbers(raw_mean)},\n"
        f"    variance={_numbers(variance)},\n"
        ")"
    )
