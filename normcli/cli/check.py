"""``normcli check``: assert something about INPUT (exit 0 when it holds, 1 otherwise)."""

from __future__ import annotations

import click

from normcli.checks import Assertions
from normcli.cli.methods import order_callback
from normcli.cli.options import (
    axis_option,
    input_argument,
    output_options,
    read_options,
    read_options_from,
)
from normcli.cli.render import Renderer, render_check
from normcli.errors import CheckFailed
from normcli.ops.check import check_file

CHECK_KEYS = "Array to check (repeatable; /group/name for HDF5). Default: the file's only array."


@click.command("check")
@input_argument
@read_options(CHECK_KEYS)
@click.option(
    "--range",
    "value_range",
    nargs=2,
    type=float,
    metavar="LO HI",
    help="Every value is within [LO, HI] (NaN never is).",
)
@click.option("--mean", type=float, metavar="M", help="The mean is M (within --tol).")
@click.option(
    "--std", type=click.FloatRange(min=0), metavar="S", help="The std is S (within --tol)."
)
@click.option(
    "--unit-norm",
    is_flag=True,
    help="Every slice over --axis (default -1, as lp) has norm 1; all-zero slices pass.",
)
@axis_option(
    "Every kept slice must pass. Default: all for --range/--mean/--std, -1 for --unit-norm."
)
@click.option(
    "--order",
    callback=order_callback,
    metavar="P",
    help="--unit-norm: the norm's order, 1, 2 (default), inf or any p > 0.",
)
@click.option(
    "--ddof",
    type=click.IntRange(min=0),
    metavar="D",
    help="--std: delta degrees of freedom (default 0).",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0),
    metavar="T",
    help="Absolute tolerance (default 1e-4 for --mean/--std/--unit-norm, 0 for --range).",
)
@output_options
def check_command(
    input_path, keys, chunk_bytes, image_mode, max_pixels, value_range, mean, std, unit_norm,
    axis, order, ddof, tol, as_json, quiet,
):  # fmt: skip
    """Assert something about INPUT: exit 0 when it holds, 1 with the reason otherwise.

    \b
    A guard before a training step in a Makefile:
      normcli check data.npz -k x_train --mean 0 --std 1
      normcli check data.npz -k x_train --range 0 1
      normcli check data.npz -k x_train --unit-norm --axis 1,2
    """
    if order is not None and not unit_norm:
        raise click.UsageError("--order applies to --unit-norm")
    if ddof is not None and std is None:
        raise click.UsageError("--ddof applies to --std")
    assertions = Assertions(
        value_range=tuple(value_range) if value_range else None,
        mean=mean,
        std=std,
        unit_norm=unit_norm,
        order=order if order is not None else 2.0,
        ddof=ddof or 0,
        tol=tol,
    )
    if not assertions.any():
        raise click.UsageError("say what to check: --range LO HI, --mean M, --std S or --unit-norm")
    renderer = Renderer(as_json=as_json, quiet=quiet)
    report = check_file(
        input_path,
        keys,
        assertions,
        axis,
        chunk_bytes=chunk_bytes,
        read=read_options_from(image_mode, max_pixels),
        progress=renderer.progress(),
    )
    render_check(renderer, report)
    if not report.passed:
        raise CheckFailed(report.failure_message())
