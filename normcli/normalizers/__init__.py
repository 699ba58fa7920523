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
from normcli.normalizers.quantile import Quantile, QuantileMatch
from normcli.normalizers.robust import Robust
from normcli.normalizers.scale import Scale
from normcli.normalizers.wrappers import ClipPercentiles, Groups
from normcli.normalizers.zscore import ZScore

__all__ = [
    "METHODS",
    "METHOD_OPTIONS",
    "Lp",
    "MinMax",
    "Normalizer",
    "PerImage",
    "Quantile",
    "QuantileMatch",
    "Robust",
    "Scale",
    "ZScore",
    "make_normalizer",
    "parse_factor",
    "parse_order",
    "wrap",
]


METHODS: dict[str, type[Normalizer]] = {
    "minmax": MinMax,
    "zscore": ZScore,
    "lp": Lp,
    "per-image": PerImage,
    "scale": Scale,
    "robust": Robust,
    "quantile": Quantile,
    "quantile-match": QuantileMatch,
}

#: Options that wrap another method's normalizer (minmax, zscore).
WRAPPERS = {"clip_percentiles": ClipPercentiles, "groups": Groups}


#: Which command-line options each method takes (others are an error).
METHOD_OPTIONS = {
    "minmax": {"feature_range", "clip"},
    "per-image": {"feature_range", "clip"},
    "zscore": {"ddof", "eps"},
    "lp": {"order"},
    "scale": {"factor"},
    "robust": {"quantile_range", "no_centering", "no_scaling", "unit_variance"},
    "quantile": {"n_quantiles", "output_distribution"},
    "quantile-match": set(),
}
for _method in ("minmax", "zscore"):
    METHOD_OPTIONS[_method] |= set(WRAPPERS)


def wrap(norm: Normalizer, options: dict) -> Normalizer:
    """``norm`` inside the wrappers its ``options`` name (--clip-percentiles, --groups)."""
    for option, wrapper in WRAPPERS.items():
        if options.get(option) is not None:
            norm = wrapper(norm, options[option])
    return norm


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
    wrapped = {k: given.pop(k) for k in list(given) if k in WRAPPERS}
    return wrap(METHODS[method](axis, nan_policy=nan_policy, **given), wrapped)


_OPTION_FLAGS = {
    "feature_range": "range",
    "clip": "clip",
    "ddof": "ddof",
    "eps": "eps",
    "order": "order",
    "factor": "factor",
    "quantile_range": "quantile-range",
    "no_centering": "no-centering",
    "no_scaling": "no-scaling",
    "unit_variance": "unit-variance",
    "n_quantiles": "n-quantiles",
    "output_distribution": "output-distribution",
    "clip_percentiles": "clip-percentiles",
    "groups": "groups",
}
