"""``normcli normalize``: normalize arrays of INPUT into OUTPUT, with statistics before
and after."""

from __future__ import annotations

import click

from normcli.cli.app import output_written, usage_errors
from normcli.cli.methods import method_options
from normcli.cli.options import (
    NORMALIZE_KEYS,
    engine_options,
    force_option,
    fsync_option,
    image_output_options,
    input_argument,
    inspect_options,
    make_inspect,
    output_argument,
    output_options,
    read_options,
    read_options_from,
)
from normcli.cli.plots import normalize_figure
from normcli.cli.quantile_options import FLAGS, quantile_method_options
from normcli.cli.render import Renderer, render_normalize
from normcli.cli.text import printable
from normcli.io.paths import check_distinct_outputs
from normcli.ops.normalize import normalize_file
from normcli.ops.options import NormalizeOptions
from normcli.ops.plan import (
    check_no_method_options,
    image_output_for,
    normalizer_factory,
    range_from_params,
)
from normcli.params import load_params

COMPRESSION = click.Choice(["gzip", "lzf", "zstd", "blosc", "none"])
COMPRESSION_HELP = (
    "gzip for .npz, .h5, .nc and .zarr (lzf: .h5 only; zstd: .zarr, and .h5 with "
    "hdf5plugin; blosc: .h5 with hdf5plugin). Default for .h5 and .zarr from the same "
    "kind of INPUT: as the input was."
)


@click.command("normalize")
@input_argument
@output_argument
@method_options
@quantile_method_options
@read_options(NORMALIZE_KEYS)
@click.option("--fit-key", metavar="NAME", help="Fit on this array, apply to every -k array.")
@click.option("--params", "params_path", metavar="FILE", help="Apply saved parameters.")
@click.option("--save-params", metavar="FILE", help="Save the fitted parameters as JSON.")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64"]),
    default="float32",
    show_default=True,
    help="dtype of the normalized arrays.",
)
@click.option("--compression", type=COMPRESSION, help=COMPRESSION_HELP)
@click.option("--strict", is_flag=True, help="Make every warning an error (exit 2).")
@image_output_options
@inspect_options
@click.option(
    "--exclude-zeros",
    is_flag=True,
    help="--hist: leave out the values whose input is zero (before and after).",
)
@click.option(
    "--check-ranks",
    is_flag=True,
    help="Count the samples whose within-sample order of values changed.",
)
@force_option
@fsync_option
@engine_options
@output_options
@usage_errors
def normalize_command(
    input_path, output_path, method, axis, feature_range, clip, ddof, eps, order, factor,
    nan_policy, quantile_options, keys, chunk_bytes, image_mode, max_pixels, fit_key,
    params_path, save_params, dtype, compression, strict, image_format, bit_depth, hist, bins,
    plot_path, exclude_zeros, check_ranks, force, engine, scheduler, as_json, quiet,
):  # fmt: skip
    """Normalize arrays of INPUT into OUTPUT and print statistics before and after.

    Arrays not selected with -k are copied through unchanged. OUTPUT's format comes
    from its extension (.npy, .npz, .h5, .zarr), or is a folder of images when OUTPUT is a
    directory or ends in /; it is written to a temporary file (or folder) beside it and
    moved into place only when complete.
    """
    if exclude_zeros and not hist:
        raise click.UsageError("--exclude-zeros on normalize applies to --hist; add --hist")
    check_distinct_outputs(
        {"OUTPUT": output_path, "--save-params": save_params, "--plot": plot_path}
    )
    inspect = make_inspect(
        hist, bins, plot_path, exclude_zeros=exclude_zeros, check_ranks=check_ranks,
        force=force, input_path=input_path,
    )  # fmt: skip
    renderer = Renderer(as_json=as_json, quiet=quiet)
    image_output, feature_range, clip = image_output_for(
        output_path, method, image_format, bit_depth, feature_range, clip
    )
    params_doc = make = None
    if params_path:
        if fit_key:
            raise click.UsageError("--fit-key and --params both give the statistics; use one")
        params_doc = load_params(params_path)
        check_no_method_options(
            method, params_doc, params_path, axis, feature_range, clip, ddof, eps, order, factor
        )
        if quantile_options:
            raise click.UsageError(
                f"{', '.join(FLAGS[k] for k in quantile_options)} cannot be combined with "
                "--params, which holds the method and its options"
            )
        if image_output is not None and isinstance(params_doc, dict):
            range_from_params(image_output, params_doc)
    else:
        if method is None:
            raise click.UsageError("choose a method with -m (or apply saved ones with --params)")
        make = normalizer_factory(
            method, axis, nan_policy, feature_range, clip, ddof, eps, order, factor,
            quantile_options,
        )  # fmt: skip
    options = NormalizeOptions(
        keys=keys, fit_key=fit_key, dtype=dtype, compression=compression,
        chunk_bytes=chunk_bytes, nan_policy=nan_policy, force=force, strict=strict,
        save_params=save_params, read=read_options_from(image_mode, max_pixels),
        image_output=image_output, inspect=inspect, engine=engine, scheduler=scheduler,
    )  # fmt: skip
    report = normalize_file(
        input_path, output_path, make, options, params_doc=params_doc,
        params_where=str(params_path), progress=renderer.progress(),
    )  # fmt: skip
    with output_written(output_path):
        if plot_path:
            normalize_figure(plot_path, report, force=force)
        render_normalize(renderer, report, inspect)
        if plot_path:
            renderer.note(f"wrote {printable(plot_path)}")
