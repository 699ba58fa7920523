"""JSON text for people and programs: strict (no NaN tokens), objects indented,
lists of numbers on one line each."""

from __future__ import annotations

import json
import math


def dumps(document, indent: int = 0) -> str:
    """Strict JSON; non-finite numbers must have been made None already (ValueError)."""
    pad = "  " * (indent + 1)
    if isinstance(document, dict) and document:
        items = [f"{pad}{json.dumps(str(k))}: {dumps(v, indent + 1)}" for k, v in document.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(document, list) and any(isinstance(v, dict) for v in document):
        items = [pad + dumps(v, indent + 1) for v in document]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(document, allow_nan=False, separators=(", ", ": "))


def strict(document):
    """``document`` with every NaN or infinite float made None (strict JSON's null)."""
    if isinstance(document, dict):
        return {k: strict(v) for k, v in document.items()}
    if isinstance(document, (list, tuple)):
        return [strict(v) for v in document]
    if isinstance(document, float) and not math.isfinite(document):
        return None
    return document
