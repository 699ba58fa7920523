"""``normcli fit``: a normalizer's parameters, computed on one array and saved."""

from __future__ import annotations

import click

from normcli.cli.app import usage_errors
from normcli.cli.methods import method_options
from normcli.cli.options import (
    engine_options,
    input_argument,
    output_options,
    read_options,
    read_options_from,
)
from normcli.cli.quantile_options import quantile_method_options
from normcli.cli.render import Renderer, render_fit
from normcli.io.paths import check_output_path
from normcli.ops.fit import fit_file
from normcli.ops.options import NormalizeOptions
from normcli.ops.plan import normalizer_factory
from normcli.params import write_params

FIT_KEYS = "The array to fit on (/group/name for HDF5). Default: the file's only array."


@click.command("fit")
@input_argument
@method_options
@quantile_method_options
@read_options(FIT_KEYS)
@click.option(
    "-o",
    "--output",
    "params_out",
    metavar="PARAMS.json",
    help="Where to save the parameters (JSON). Without it they are only shown.",
)
@click.option("--strict", is_flag=True, help="Make every warning an error (exit 2).")
@click.option("--force", is_flag=True, help="Replace an existing -o PARAMS.json.")
@engine_options
@output_options
@usage_errors
def fit_command(
    input_path, method, axis, feature_range, clip, ddof, eps, order, factor, nan_policy,
    quantile_options, keys, chunk_bytes, image_mode, max_pixels, params_out, strict, force,
    engine, scheduler, as_json, quiet,
):  # fmt: skip
    """Compute a normalizer's parameters on one array of INPUT and save them.

    Apply them to other data with `normalize --params`, undo them with `invert`.
    """
    if method is None:
        raise click.UsageError("choose a method with -m")
    renderer = Renderer(as_json=as_json, quiet=quiet)
    make = normalizer_factory(
        method, axis, nan_policy, feature_range, clip, ddof, eps, order, factor, quantile_options
    )
    options = NormalizeOptions(
        keys=keys, chunk_bytes=chunk_bytes, nan_policy=nan_policy, force=force, strict=strict,
        read=read_options_from(image_mode, max_pixels), engine=engine, scheduler=scheduler,
    )  # fmt: skip
    if params_out:
        check_output_path(input_path, params_out, force, what="-o")
    doc, before = fit_file(input_path, make, options, progress=renderer.progress())
    if params_out:
        write_params(params_out, doc, force=force)
    render_fit(renderer, input_path, doc, before, params_out)
