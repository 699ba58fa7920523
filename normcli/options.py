"""Shared click options as named decorators, validated in callbacks.

Every command that prints takes ``output_options`` (``--json``, ``-q``); every command
that reads data takes ``read_options`` (``-k``, ``--chunk-size``). Values arrive in
the command already parsed (sizes in bytes, axes as tuples).
"""

from __future__ import annotations

import click

from normcli.axes import parse_axis
from normcli.units import parse_size


def _size_callback(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _axis_callback(ctx, param, value):
    try:
        return parse_axis(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def compose(*decorators):
    def apply(f):
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


input_argument = click.argument(
    "input_path", metavar="INPUT", type=click.Path(dir_okay=True, path_type=str)
)
output_argument = click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=str))

key_option = click.option(
    "-k",
    "--key",
    "keys",
    multiple=True,
    metavar="NAME",
    help="Array to use (repeatable). Without it: every array for ls/describe; for "
    "normalize, the only array of the file.",
)
chunk_size_option = click.option(
    "--chunk-size",
    "chunk_bytes",
    default="64MiB",
    show_default=True,
    callback=_size_callback,
    metavar="SIZE",
    help="Bytes of input read per chunk, with units (64MiB, 512KiB, 1GB).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, nothing else."
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
force_option = click.option("--force", is_flag=True, help="Replace an existing OUTPUT.")


def axis_option(default_help: str):
    return click.option(
        "--axis",
        "axis",
        default=None,
        callback=_axis_callback,
        metavar="AXES",
        help="Axes a statistic is computed over, as numpy's axis=: comma-separated ints "
        f"(negatives count from the end) or 'all'. {default_help}",
    )


def nan_option(default: str):
    return click.option(
        "--nan",
        "nan_policy",
        type=click.Choice(["raise", "omit", "propagate"]),
        default=default,
        show_default=True,
        help="What NaN in the data does: raise an error, omit it from statistics (and leave "
        "it in place), or propagate it.",
    )


exclude_zeros_option = click.option(
    "--exclude-zeros",
    is_flag=True,
    help="Describe only the nonzero values (MNIST is mostly zeros); zeros are still counted.",
)

mode_option = click.option(
    "--mode",
    "image_mode",
    type=click.Choice(["L", "RGB"]),
    help="Image folders: convert every image to grey (L) or RGB while reading, for folders "
    "that mix modes (alpha dropped; 16-bit stays 16-bit).",
)
max_pixels_option = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    metavar="N",
    help="Image folders: largest image (width x height) read; larger ones are refused as "
    "decompression bombs. Default: Pillow's limit (89,478,485).",
)
image_output_options = compose(
    click.option(
        "--image-format",
        type=click.Choice(["png", "tiff"]),
        help="Image-folder OUTPUT: png (default; 8 or 16 bits) or tiff (float data kept "
        "exactly as float32/float64; needs normcli[tiff]).",
    ),
    click.option(
        "--bit-depth",
        type=click.Choice(["8", "16"]),
        callback=lambda ctx, param, value: int(value) if value else None,
        help="Image-folder OUTPUT: quantize float data to 8 (PNG's default) or 16 bits over "
        "the --range (0 1 by default).",
    ),
)

output_options = compose(json_option, quiet_option)
image_read_options = compose(mode_option, max_pixels_option)
read_options = compose(key_option, chunk_size_option, image_read_options)
