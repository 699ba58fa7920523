"""One class per normalization method, with scikit-learn's interface.

See :mod:`normcli.normalizers.base` for the affine map every method is, and the
fitting protocol (fit = reset + partial_fit; fitted attributes end in ``_``).
"""

from __future__ import annotations

from normcli.axes import AxisSpec
from normcli.errors import ParameterError
from normcli.normalizers.base import Normalizer, parse_factor, parse_order
from normcli.normalizers.lp import Lp
from normcli.normalizers.minmax import MinMax, PerImage
from normcli.normalizers.scale import Scale
from normcli.normalizers.zscore import ZScore

__all__ = [
    "METHODS",
    "METHOD_OPTIONS",
    "Lp",
    "MinMax",
    "Normalizer",
    "PerImage",
    "Scale",
    "ZScore",
    "make_normalizer",
    "parse_factor",
    "parse_order",
]


METHODS: dict[str, type[Normalizer]] = {
    "minmax": MinMax,
    "zscore": ZScore,
    "lp": Lp,
    "per-image": PerImage,
    "scale": Scale,
}


#: Which command-line options each method takes (others are an error).
METHOD_OPTIONS = {
    "minmax": {"feature_range", "clip"},
    "per-image": {"feature_range", "clip"},
    "zscore": {"ddof", "eps"},
    "lp": {"order"},
    "scale": {"factor"},
}


def make_normalizer(
    method: str, axis: AxisSpec | None = None, *, nan_policy: str = "raise", **options
) -> Normalizer:
    """Build a normalizer from a method name and only the options it accepts."""
    if method not in METHODS:
        raise ParameterError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    given = {k: v for k, v in options.items() if v is not None}
    extra = set(given) - METHOD_OPTIONS[method]
    if extra:
        names = ", ".join(sorted("--" + _OPTION_FLAGS.get(e, e) for e in extra))
        raise ParameterError(f"{names} does not apply to -m {method}")
    if method == "scale" and axis is not None:
        raise ParameterError("--axis does not apply to -m scale (it multiplies every value)")
    return METHODS[method](axis, nan_policy=nan_policy, **given)


_OPTION_FLAGS = {
    "feature_range": "range",
    "clip": "clip",
    "ddof": "ddof",
    "eps": "eps",
    "order": "order",
    "factor": "factor",
}
