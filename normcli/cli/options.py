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


output_options = compose(json_option, quiet_option)
image_read_options = compose(mode_option, max_pixels_option)


def read_options(keys_help: str):
    """-k (with the command's help), --chunk-size, the image and HDF5 reading options."""
    return compose(
        key_option(keys_help), chunk_size_option, image_read_options, allow_external_option
    )


def read_options_from(image_mode, max_pixels) -> ReadOptions:
    """The readers' options of the running command."""
    return ReadOptions(mode=image_mode, max_pixels=max_pixels, allow_external=allow_external())


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
