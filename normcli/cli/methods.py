"""The method options of ``normalize`` and ``fit``: -m and what each method takes."""

from __future__ import annotations

import click

from normcli.cli.options import axis_option, compose, nan_option
from normcli.normalizers import METHODS, parse_factor, parse_order


def order_callback(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_order(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _factor_callback(ctx, param, value):
    if value is None:
        return None
    try:
        parse_factor(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


METHOD_CHOICES = list(METHODS)

method_options = compose(
    click.option(
        "-m",
        "--method",
        type=click.Choice(METHOD_CHOICES),
        help="minmax, zscore, lp (x / p-norm, as keras.utils.normalize), per-image, scale, "
        "robust (median, quantile range), quantile, quantile-match.",
    ),
    axis_option(
        "Default: all for minmax and zscore, -1 for lp (as Keras), all but 0 for per-image."
    ),
    click.option(
        "--range",
        "feature_range",
        nargs=2,
        type=float,
        metavar="LO HI",
        help="minmax/per-image: target range (default 0 1). Image-folder OUTPUT: the range "
        "quantized to 8/16 bits, with any method.",
    ),
    click.option(
        "--clip",
        is_flag=True,
        help="minmax/per-image: clip held-out data into range. Image-folder OUTPUT: clip "
        "values outside the range instead of refusing them.",
    ),
    click.option("--ddof", type=click.IntRange(min=0), help="zscore: std's ddof (default 0)."),
    click.option("--eps", type=click.FloatRange(min=0), help="zscore: divide by sqrt(var + EPS)."),
    click.option(
        "--order",
        callback=order_callback,
        metavar="P",
        help="lp: 1, 2 (default), inf, 0 (count of nonzeros) or any p > 0.",
    ),
    click.option(
        "--factor",
        callback=_factor_callback,
        metavar="F",
        help="scale: the factor, a number or a fraction such as 1/255.",
    ),
    nan_option("raise"),
)
