"""Shared click options as named decorators, validated in callbacks.

Every command that prints takes ``output_options`` (``--json``, ``-q``); every command
that reads data takes ``read_options`` (``-k``, ``--chunk-size``). Values arrive in
the command already parsed (sizes in bytes, axes as tuples).
"""

from __future__ import annotations

import os
import shlex

import click

from normcli.axes import parse_axis
from normcli.cli.plots import check_plot_path, require_matplotlib
from normcli.histogram import DEFAULT_BINS
from normcli.io import ReadOptions, open_reader
from normcli.ops.options import Inspect
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


def complete_keys(ctx, param, incomplete):
    """Shell completion of -k: the array names of the INPUT already typed."""
    path = ctx.params.get("input_path") or _typed_input()
    if not path:
        return []
    try:
        with open_reader(path) as reader:
            names = [a.name for a in reader.arrays()]
    except Exception:  # completion never fails loudly
        return []
    return [name for name in names if name.startswith(incomplete.lstrip("/"))]


def _typed_input() -> str | None:
    """INPUT from the words the shell is completing (click has not parsed it while the
    value of -k is still missing): the first word after the command that is a path."""
    try:
        words = shlex.split(os.environ.get("COMP_WORDS", ""))
    except ValueError:
        return None
    for word in words[2:]:
        if not word.startswith("-") and os.path.exists(word):
            return word
    return None


def key_option(help_text: str):
    """-k/--key NAME (repeatable), with the command's own help and names completed."""
    return click.option(
        "-k",
        "--key",
        "keys",
        multiple=True,
        metavar="NAME",
        shell_complete=complete_keys,
        help=help_text,
    )


DESCRIBE_KEYS = "Array to describe (repeatable; /group/name for HDF5). Default: every array."
NORMALIZE_KEYS = (
    "Array to normalize (repeatable; /group/name for HDF5); the others are copied through. "
    "Default: the file's only array (an image folder's images)."
)
chunk_size_option = click.option(
    "--chunk-size",
    "chunk_bytes",
    default="64MiB",
    show_default=True,
    callback=_size_callback,
    metavar="SIZE",
    help="Bytes of data held in memory at once (every piece being read, computed or "
    "written), with units (64MiB, 512KiB, 1GB).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, nothing else."
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
force_option = click.option("--force", is_flag=True, help="Replace an existing OUTPUT.")


def _set_fsync(ctx, param, value):
    from normcli.io import tempfiles

    tempfiles.FSYNC = bool(value)
    return value


#: --fsync: OUTPUT and its folder flushed to disk around the rename (normcli.io.tempfiles).
fsync_option = click.option(
    "--fsync",
    is_flag=True,
    expose_value=False,
    callback=_set_fsync,
    help="Flush OUTPUT and its folder to disk, so a finished OUTPUT survives a power cut.",
)


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

engine_options = compose(
    click.option(
        "--engine",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="Where the passes run: here, chunk after chunk (local), or as Dask tasks "
        "over the same chunks (dask; pip install 'normcli[dask]').",
    ),
    click.option(
        "--scheduler",
        metavar="ADDRESS",
        help="With --engine dask: a running dask.distributed scheduler (tcp://host:8786), "
        "or local:N to start N worker processes here. Default: threads of this process.",
    ),
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


def _remember_allow_external(ctx, param, value):
    ctx.meta["normcli.allow_external"] = bool(value)


allow_external_option = click.option(
    "--allow-external",
    is_flag=True,
    expose_value=False,  # read by the command through allow_external()
    callback=_remember_allow_external,
    help="HDF5: follow external links, external storage and virtual datasets, which read "
    "other files (refused by default).",
)


def allow_external() -> bool:
    """Whether --allow-external was given to the running command."""
    return bool(click.get_current_context().meta.get("normcli.allow_external", False))


def _remember_image(key):
    def callback(ctx, param, value):
        if key in ("resize", "crop") and value is not None:
            from normcli.errors import ParameterError
            from normcli.io.image_transforms import parse_size

            try:
                value = parse_size(value, f"--{param.name.replace('_', '-')}")
            except ParameterError as exc:
                raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
            if key == "crop" and value[1] is None:
                value = (value[0], value[0])
        ctx.meta[f"normcli.image.{key}"] = value

    return callback


transform_options = compose(
    click.option(
        "--resize",
        metavar="N|WxH",
        expose_value=False,
        callback=_remember_image("resize"),
        help="Image folders: resize every image as it is read, as torchvision's Resize: N "
        "sets the shorter side to N (aspect ratio kept), WxH gives width x height.",
    ),
    click.option(
        "--center-crop",
        metavar="N|WxH",
        expose_value=False,
        callback=_remember_image("crop"),
        help="Image folders: then crop the centre, as torchvision's CenterCrop (N: NxN).",
    ),
    click.option(
        "--interpolation",
        type=click.Choice(["nearest", "bilinear", "bicubic", "lanczos"]),
        expose_value=False,
        callback=_remember_image("interpolation"),
        help="Filter of --resize (Pillow's, antialiased). Default: bilinear.",
    ),
    click.option(
        "--exif-transpose",
        is_flag=True,
        default=None,
        expose_value=False,
        callback=_remember_image("exif_transpose"),
        help="Image folders: turn photos upright as their EXIF orientation tag says "
        "(default: read as stored, as torchvision and Keras do).",
    ),
    click.option(
        "--class-order",
        type=click.Choice(["sorted", "natural"]),
        expose_value=False,
        callback=_remember_image("class_order"),
        help="Image folders: order of classes and files: sorted names (default, as "
        "torchvision's ImageFolder and Keras) or natural (img2 before img10).",
    ),
)


def image_transform():
    """The ImageTransform of --resize/--center-crop/--interpolation (None without them),
    its sizes checked against each other (a usage error, exit 2)."""
    meta = click.get_current_context().meta
    resize = meta.get("normcli.image.resize")
    crop = meta.get("normcli.image.crop")
    interpolation = meta.get("normcli.image.interpolation")
    if resize is None and crop is None and interpolation is None:
        return None
    from normcli.errors import ParameterError
    from normcli.io.image_transforms import ImageTransform

    if interpolation is not None and resize is None:
        raise click.UsageError("--interpolation chooses the filter of --resize; add --resize")
    try:
        return ImageTransform(resize, crop, interpolation or "bilinear")
    except ParameterError as exc:
        raise click.UsageError(str(exc)) from None


def image_meta(key: str):
    """--exif-transpose or --class-order as given (None when not)."""
    return click.get_current_context().meta.get(f"normcli.image.{key}")


def _remember_raw(ctx, param, value):
    ctx.meta["normcli.raw"] = bool(value)


raw_option = click.option(
    "--raw",
    is_flag=True,
    expose_value=False,  # read by the command through raw_values()
    callback=_remember_raw,
    help="HDF5, netCDF, Zarr: the stored values, without CF decoding (scale_factor, "
    "add_offset, _FillValue, valid_range).",
)


def raw_values() -> bool:
    """Whether --raw was given to the running command."""
    return bool(click.get_current_context().meta.get("normcli.raw", False))


output_options = compose(json_option, quiet_option)
image_read_options = compose(mode_option, max_pixels_option, transform_options)


def read_options(keys_help: str):
    """-k (with the command's help), --chunk-size, the image and HDF5 reading options,
    --raw."""
    return compose(
        key_option(keys_help),
        chunk_size_option,
        image_read_options,
        allow_external_option,
        raw_option,
    )


def read_options_from(image_mode, max_pixels) -> ReadOptions:
    """The readers' options of the running command (with --resize, --center-crop,
    --interpolation, --exif-transpose and --class-order, remembered by their callbacks)."""
    return ReadOptions(
        mode=image_mode,
        max_pixels=max_pixels,
        allow_external=allow_external(),
        transform=image_transform(),
        exif_transpose=bool(image_meta("exif_transpose")),
        class_order=image_meta("class_order"),
        raw=raw_values(),
    )


csv_option = click.option(
    "--csv", "as_csv", is_flag=True, help="Print a CSV table on stdout (one header line)."
)
hist_option = click.option(
    "--hist", is_flag=True, help="Draw a histogram of each array in the terminal (exact counts)."
)
bins_option = click.option(
    "--bins",
    type=click.IntRange(min=1, max=10_000),
    metavar="N",
    help="Bins of --hist and --plot, equal widths from min to max (default 40).",
)
plot_option = click.option(
    "--plot",
    "plot_path",
    metavar="FILE.png",
    type=click.Path(path_type=str),
    help="Write a figure: histograms with and without zeros, and samples of image data "
    "(.png, .pdf or .svg; needs matplotlib: pip install 'normcli[plot]').",
)

inspect_options = compose(hist_option, bins_option, plot_option)


def check_output_modes(as_json: bool, as_csv: bool, hist: bool = False) -> None:
    """--json and --csv exclude each other; --hist draws, so it does not go with --csv."""
    if as_json and as_csv:
        raise click.UsageError("--json and --csv both choose the output; use one")
    if as_csv and hist:
        raise click.UsageError(
            "--hist draws in the terminal and --csv prints the statistics only; "
            "use --json --hist for the counts"
        )


def make_inspect(
    hist, bins, plot_path, *, exclude_zeros=False, check_ranks=False, force=False, input_path=None
):
    """The engine's Inspect for --hist/--bins/--plot (None when none is asked), with
    matplotlib and the plot's path checked before any work is done."""
    if bins is not None and not (hist or plot_path):
        raise click.UsageError("--bins sets the bins of --hist and --plot; add one of them")
    if not (hist or plot_path or check_ranks):
        return None
    if plot_path:
        require_matplotlib()
        check_plot_path(plot_path, force=force, input_path=input_path)
    return Inspect(
        bins=bins or DEFAULT_BINS,
        hist=hist,
        exclude_zeros=exclude_zeros,
        plot=bool(plot_path),
        check_ranks=check_ranks,
    )
