"""What the options of ``normalize``, ``fit`` and ``invert`` ask for, validated once:
the maker of fresh normalizers, how an image-folder OUTPUT is quantized, and what a
params file leaves to the command line."""

from __future__ import annotations

from normcli.errors import NormcliError, ParameterError, UsageError
from normcli.io import output_format
from normcli.io.image_writer import ImageOutput
from normcli.normalizers import make_normalizer

#: Methods whose --range/--clip are their own; for the others they only shape image output.
RANGE_METHODS = ("minmax", "per-image")


def normalizer_factory(
    method, axis, nan_policy, feature_range, clip, ddof, eps, order, factor, more=None
):
    """Validate the method's options once and return a maker of fresh normalizers
    (``more``: the options of the percentile methods, normcli.cli.quantile_options)."""
    opts = {
        "feature_range": feature_range,
        "clip": True if clip else None,
        "ddof": ddof,
        "eps": eps,
        "order": order,
        "factor": factor,
        **(more or {}),
    }
    if method == "scale" and factor is None:
        raise UsageError("-m scale needs --factor, e.g. --factor 1/255")
    make_normalizer(method, axis, nan_policy=nan_policy, **opts)  # fails early if wrong

    def make():
        return make_normalizer(method, axis, nan_policy=nan_policy, **opts)

    return make


def image_output_for(output_path, method, image_format, bit_depth, feature_range, clip):
    """How an image-folder OUTPUT is written, and the --range/--clip left for the method.

    minmax and per-image map into --range, so images are quantized over the same range;
    for other methods --range and --clip only say how the written images are quantized.
    """
    try:
        folder = output_format(output_path) == "images"
    except NormcliError:
        folder = False
    if not folder and image_format is None and bit_depth is None:
        return None, feature_range, clip
    image_output = ImageOutput(
        image_format=image_format or "png",
        bit_depth=bit_depth,
        value_range=tuple(feature_range) if feature_range else (0.0, 1.0),
        clip=bool(clip),
    )
    if method in RANGE_METHODS or not folder:
        return image_output, feature_range, clip
    return image_output, None, False


def range_from_params(image_output, params_doc: dict) -> None:
    """Saved minmax/per-image parameters carry the range the images are quantized over."""
    options = params_doc.get("options") or {}
    if params_doc.get("method") in RANGE_METHODS and options.get("range"):
        image_output.value_range = tuple(float(v) for v in options["range"])
        image_output.clip = bool(options.get("clip"))


def check_no_method_options(
    method, params_doc, params_path, axis, feature_range, clip, ddof, eps, order, factor
):
    """With --params the method and its options come from the file: refuse others."""
    given = [
        name
        for name, value in (
            ("--axis", axis),
            ("--range", feature_range),
            ("--clip", clip or None),
            ("--ddof", ddof),
            ("--eps", eps),
            ("--order", order),
            ("--factor", factor),
        )
        if value is not None
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be combined with --params, which holds the method "
            "and its options"
        )
    saved = params_doc.get("method") if isinstance(params_doc, dict) else None
    if method is not None and saved is not None and method != saved:
        raise ParameterError(
            f"{params_path} holds {saved} parameters, not {method}; drop -m or use "
            f"parameters fitted with -m {method}"
        )
