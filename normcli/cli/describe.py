"""``normcli describe``: statistics of each array, as scipy.stats.describe computes them."""

from __future__ import annotations

import click

from normcli.cli.options import (
    DESCRIBE_KEYS,
    axis_option,
    check_output_modes,
    csv_option,
    engine_options,
    exclude_zeros_option,
    input_argument,
    inspect_options,
    make_inspect,
    nan_option,
    output_options,
    read_options,
    read_options_from,
)
from normcli.cli.plots import describe_figure
from normcli.cli.quantile_options import describe_percentile_options, percentile_request
from normcli.cli.render import Renderer, render_describe
from normcli.cli.text import printable
from normcli.ops.describe import describe_file


@click.command("describe")
@input_argument
@read_options(DESCRIBE_KEYS)
@axis_option("Default: all (one figure for the whole array); 0,1,2 on (N,H,W,C) is per channel.")
@exclude_zeros_option
@nan_option("omit")
@inspect_options
@describe_percentile_options
@click.option("--force", is_flag=True, help="Replace an existing --plot file.")
@engine_options
@output_options
@csv_option
def describe_command(
    input_path, keys, chunk_bytes, image_mode, max_pixels, axis, exclude_zeros, nan_policy,
    hist, bins, plot_path, percents, percentile_method, force, engine, scheduler, as_json,
    quiet, as_csv,
):  # fmt: skip
    """Statistics of each array in INPUT, as scipy.stats.describe computes them.

    nobs, min, max, mean, variance (ddof=1), skewness and kurtosis (biased, Fisher),
    plus std and the counts of NaN and zeros, accumulated exactly in float64 over
    streamed chunks. --hist draws each array's histogram, --plot writes a figure.
    """
    check_output_modes(as_json, as_csv, hist)
    request = percentile_request(percents, percentile_method)
    inspect = make_inspect(
        hist, bins, plot_path, exclude_zeros=exclude_zeros, force=force, input_path=input_path
    )
    renderer = Renderer(as_json=as_json, quiet=quiet, as_csv=as_csv)
    items = describe_file(
        input_path,
        keys,
        axis if axis is not None else "all",
        chunk_bytes=chunk_bytes,
        exclude_zeros=exclude_zeros,
        nan_policy=nan_policy,
        read=read_options_from(image_mode, max_pixels),
        inspect=inspect,
        engine=engine,
        scheduler=scheduler,
        progress=renderer.progress(),
        percentiles=request,
    )
    if plot_path:
        describe_figure(plot_path, input_path, items, force=force)
    render_describe(renderer, input_path, items, exclude_zeros, hist)
    if plot_path:
        renderer.note(f"wrote {printable(plot_path)}")
