"""``normcli invert``: undo a saved normalization."""

from __future__ import annotations

import click

from normcli.cli.app import output_written
from normcli.cli.options import (
    engine_options,
    force_option,
    fsync_option,
    image_output_options,
    input_argument,
    nan_option,
    output_argument,
    output_options,
    read_options,
    read_options_from,
)
from normcli.cli.render import Renderer, render_normalize
from normcli.ops.normalize import invert_file
from normcli.ops.options import NormalizeOptions
from normcli.ops.plan import image_output_for
from normcli.params import load_params

INVERT_KEYS = (
    "Array to restore (repeatable; /group/name for HDF5); the others are copied through. "
    "Default: the file's only array."
)


@click.command("invert")
@input_argument
@output_argument
@click.option(
    "--params",
    "params_path",
    required=True,
    metavar="FILE",
    help="The parameters the data were normalized with.",
)
@read_options(INVERT_KEYS)
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64", "original"]),
    default="float32",
    show_default=True,
    help="dtype of the restored arrays; original rounds back to the fitted array's dtype.",
)
@click.option(
    "--compression",
    type=click.Choice(["gzip", "lzf", "zstd", "blosc", "none"]),
    help="Compression of OUTPUT: gzip for .npz, .h5 and .zarr (lzf: .h5 only; zstd: .zarr "
    "and .h5 with hdf5plugin; blosc: .h5 with hdf5plugin).",
)
@nan_option("propagate")
@image_output_options
@click.option(
    "--range",
    "feature_range",
    nargs=2,
    type=float,
    metavar="LO HI",
    help="Image-folder OUTPUT: the range quantized to 8 or 16 bits (default 0 1).",
)
@click.option("--clip", is_flag=True, help="Image-folder OUTPUT: clip values into the range.")
@force_option
@fsync_option
@engine_options
@output_options
def invert_command(
    input_path, output_path, params_path, keys, chunk_bytes, image_mode, max_pixels, dtype,
    compression, nan_policy, image_format, bit_depth, feature_range, clip, force, engine,
    scheduler, as_json, quiet,
):  # fmt: skip
    """Undo a saved minmax, zscore or scale normalization of INPUT into OUTPUT."""
    renderer = Renderer(as_json=as_json, quiet=quiet)
    image_output, feature_range, clip = image_output_for(
        output_path, None, image_format, bit_depth, feature_range, clip
    )
    if feature_range is not None or clip:
        raise click.UsageError("--range and --clip apply to an image-folder OUTPUT only")
    params_doc = load_params(params_path)
    options = NormalizeOptions(
        keys=keys, dtype=dtype, compression=compression, chunk_bytes=chunk_bytes,
        nan_policy=nan_policy, force=force, read=read_options_from(image_mode, max_pixels),
        image_output=image_output, engine=engine, scheduler=scheduler,
    )  # fmt: skip
    report = invert_file(
        input_path, output_path, params_doc, options, params_where=str(params_path),
        progress=renderer.progress(),
    )  # fmt: skip
    with output_written(output_path):
        render_normalize(renderer, report)
