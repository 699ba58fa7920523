"""Click options of the percentile and quantile features (describe --percentiles; the
robust, quantile and quantile-match methods; --clip-percentiles; --groups).

The method options are gathered into one ``quantile_options`` dict by
:func:`quantile_method_options`, so that the commands take one argument for them.
"""

from __future__ import annotations

import functools

import click

from normcli.ops.percentiles import PercentileRequest
from normcli.quantiles import DEFAULT_PERCENTILES, METHODS, parse_percentiles


def _percentiles_callback(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_percentiles(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


percentile_options = [
    click.option(
        "--percentiles",
        "percents",
        is_flag=False,
        flag_value=",".join(f"{p:g}" for p in DEFAULT_PERCENTILES),
        default=None,
        callback=_percentiles_callback,
        metavar="P,P,...",
        help="Exact percentiles (0-100), streamed; alone: 1,5,25,50,75,95,99.",
    ),
    click.option(
        "--percentile-method",
        type=click.Choice(METHODS),
        default="linear",
        show_default=True,
        help="numpy.percentile's method.",
    ),
]


def describe_percentile_options(f):
    for option in reversed(percentile_options):
        f = option(f)
    return f


def percentile_request(percents, method):
    """The engine's request for describe, or None without --percentiles."""

    if percents is None:
        if method != "linear":
            raise click.UsageError("--percentile-method applies to --percentiles; add it")
        return None
    return PercentileRequest(tuple(percents), method)


def _percent_callback(ctx, param, value):
    if value is None:
        return None
    for v in value:
        if not 0.0 <= v <= 100.0:
            raise click.BadParameter(f"{v:g} is outside 0-100", ctx=ctx, param=param)
    if not value[0] < value[1]:
        raise click.BadParameter(
            f"{value[0]:g} {value[1]:g}: LO must be smaller than HI", ctx=ctx, param=param
        )
    return tuple(value)


def _n_quantiles_callback(ctx, param, value):
    if value is not None and value < 2:
        raise click.BadParameter("must be at least 2", ctx=ctx, param=param)
    return value


_METHOD_OPTIONS = [
    click.option(
        "--quantile-range",
        nargs=2,
        type=float,
        callback=_percent_callback,
        metavar="LO HI",
        help="robust: the percentiles whose difference scales (default 25 75).",
    ),
    click.option("--no-centering", is_flag=True, default=None, help="robust: keep the median."),
    click.option("--no-scaling", is_flag=True, default=None, help="robust: do not divide."),
    click.option(
        "--unit-variance",
        is_flag=True,
        default=None,
        help="robust: divide by the normal distribution's spread over the quantile range too.",
    ),
    click.option(
        "--n-quantiles",
        type=int,
        callback=_n_quantiles_callback,
        metavar="N",
        help="quantile: quantiles of the fitted table (default 1000, at most the values).",
    ),
    click.option(
        "--output-distribution",
        type=click.Choice(["uniform", "normal"]),
        help="quantile: the distribution the values are mapped to (default uniform).",
    ),
    click.option(
        "--clip-percentiles",
        nargs=2,
        type=float,
        callback=_percent_callback,
        metavar="LO HI",
        help="minmax/zscore: clip to these percentiles first (fitted on the data).",
    ),
    click.option(
        "--groups",
        type=click.IntRange(min=1),
        metavar="G",
        help="zscore/minmax per sample: split the last (channel) axis into G groups "
        "(group normalization).",
    ),
]
_NAMES = (
    "quantile_range",
    "no_centering",
    "no_scaling",
    "unit_variance",
    "n_quantiles",
    "output_distribution",
    "clip_percentiles",
    "groups",
)
#: The flag of each option, for messages.
FLAGS = {name: "--" + name.replace("_", "-") for name in _NAMES}


def quantile_method_options(f):
    """Adds the options and passes them on as one dict ``quantile_options`` (only those
    given)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        given = {k: kwargs.pop(k) for k in _NAMES}
        kwargs["quantile_options"] = {
            k: v for k, v in given.items() if v is not None and v is not False
        }
        return f(*args, **kwargs)

    for option in reversed(_METHOD_OPTIONS):
        wrapper = option(wrapper)
    return wrapper
