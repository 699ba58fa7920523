"""The command line: click parses, a library function does the work, rich renders.

Errors become exit codes here and nowhere else: a :class:`NormcliError` prints one
line ``Error: ...`` on stderr and exits 1 (2 for a command line that does not fit
the data); click's usage errors exit 2; Ctrl-C exits 130 and SIGTERM 143; a closed
stdout (``normcli describe ... | head -1``) ends quietly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import warnings

import click

from normcli import __version__
from normcli.errors import NormcliError, ParameterError, Terminated, stopped
from normcli.options import (
    allow_external_option,
    axis_option,
    check_output_modes,
    compose,
    csv_option,
    engine_options,
    exclude_zeros_option,
    force_option,
    image_output_options,
    image_read_options,
    input_argument,
    inspect_options,
    make_inspect,
    nan_option,
    output_argument,
    output_options,
    read_options,
)
from normcli.quantile_options import (
    FLAGS,
    describe_percentile_options,
    percentile_request,
    quantile_method_options,
)
from normcli.render import (
    Renderer,
    printable,
    render_check,
    render_describe,
    render_fit,
    render_ls,
    render_normalize,
)


def _error(message: str, code: int):
    _abort_writers()
    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


def _check_signals() -> None:
    if "normcli.signals" in sys.modules:
        from normcli.signals import check_signals

        check_signals()


def _abort_writers() -> None:
    """Whatever stopped the command, no temporary output stays behind (the writers'
    ``with`` blocks clean up; this is the net under them)."""
    if "normcli.io.base" in sys.modules:
        from normcli.io.base import abort_all

        abort_all()


class NormcliGroup(click.Group):
    """Turns library errors and interruptions into one line and an exit code."""

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                # numpy's overflow/invalid-value warnings are not for users: normcli
                # counts NaN and infinities and says what they mean
                warnings.simplefilter("ignore", RuntimeWarning)
                result = super().invoke(ctx)
            _check_signals()
            return result
        except NormcliError as exc:
            _error(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _error("interrupted; nothing was written", 130)
        except Terminated:
            _error("terminated; nothing was written", 143)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except MemoryError:
            _error("out of memory; try a smaller --chunk-size", 1)
        except OSError as exc:
            # The formats turn their own I/O errors into NormcliError; this is the net
            # under them, so that no traceback ever reaches the user.
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _error(f"{where}{exc.strerror or exc}; nothing was written", 1)


def _quiet_broken_pipe():
    # The reader of stdout went away (| head): stop quietly, as Unix tools do.
    _abort_writers()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(141)


@click.group(cls=NormcliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="normcli")
def cli():
    """Normalize array datasets for training neural networks, and prove what it did.

    Reads .npy, .npz, HDF5 and MNIST's IDX files, Zarr stores and folders of images in
    chunks (datasets larger than memory are fine), prints scipy.stats.describe's
    statistics, and writes normalized copies (also as folders of PNG or TIFF images).
    """


def _read_options(image_mode, max_pixels):
    from normcli.io import ReadOptions
    from normcli.options import allow_external

    return ReadOptions(mode=image_mode, max_pixels=max_pixels, allow_external=allow_external())


@cli.command("ls")
@input_argument
@image_read_options
@allow_external_option
@output_options
@csv_option
def ls_command(input_path, image_mode, max_pixels, as_json, quiet, as_csv):
    """List the arrays in INPUT: name, shape, dtype and bytes.

    Lists of text carried with the arrays (an image folder's class_names and
    filenames) are listed too, with the unicode dtype .npz stores them as.
    """
    from normcli.engine import open_input
    from normcli.io.base import text_info

    check_output_modes(as_json, as_csv)
    renderer = Renderer(as_json=as_json, quiet=quiet, as_csv=as_csv)
    options = _read_options(image_mode, max_pixels)
    with open_input(input_path, options, renderer.progress()) as reader:
        texts = [text_info(name, values) for name, values in reader.texts().items()]
        render_ls(renderer, input_path, reader.format, reader.arrays() + texts)


@cli.command("describe")
@input_argument
@read_options
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
    input_path,
    keys,
    chunk_bytes,
    image_mode,
    max_pixels,
    axis,
    exclude_zeros,
    nan_policy,
    hist,
    bins,
    plot_path,
    percents,
    percentile_method,
    force,
    engine,
    scheduler,
    as_json,
    quiet,
    as_csv,
):
    """Statistics of each array in INPUT, as scipy.stats.describe computes them.

    nobs, min, max, mean, variance (ddof=1), skewness and kurtosis (biased, Fisher),
    plus std and the counts of NaN and zeros, accumulated exactly in float64 over
    streamed chunks. --hist draws each array's histogram, --plot writes a figure.
    """
    from normcli.engine import describe_arrays, open_input, open_runner, select_arrays

    check_output_modes(as_json, as_csv, hist)
    request = percentile_request(percents, percentile_method)
    inspect = make_inspect(
        hist, bins, plot_path, exclude_zeros=exclude_zeros, force=force, input_path=input_path
    )
    renderer = Renderer(as_json=as_json, quiet=quiet, as_csv=as_csv)
    options = _read_options(image_mode, max_pixels)
    with open_input(input_path, options, renderer.progress()) as reader:
        infos = select_arrays(reader, keys, default_all=True)
        with open_runner(engine, scheduler) as runner:
            items = describe_arrays(
                reader,
                infos,
                axis if axis is not None else "all",
                chunk_bytes=chunk_bytes,
                exclude_zeros=exclude_zeros,
                nan_policy=nan_policy,
                progress=renderer.progress(),
                inspect=inspect,
                runner=runner,
                percentiles=request,
            )
    if plot_path:
        from normcli.plots import describe_figure

        describe_figure(plot_path, input_path, items, force=force)
    render_describe(renderer, input_path, items, exclude_zeros, hist)
    if plot_path:
        renderer.note(f"wrote {printable(plot_path)}")


def _on_signal(signum, frame):
    """SIGINT and SIGTERM: noted (in case Python swallows the exception, see
    normcli.signals.signals_received), then raised so that every clean-up runs."""
    from normcli.signals import signals_received

    signals_received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated()


def _unraisable(hook):
    """sys.unraisablehook that keeps a Ctrl-C swallowed in a destructor off stderr (it
    is noted, and acted on at the next chunk); anything else goes to ``hook``."""

    def unraisable(info):
        if info.exc_type is not None and issubclass(info.exc_type, (KeyboardInterrupt, Terminated)):
            return
        hook(info)

    return unraisable


@contextlib.contextmanager
def _output_written(output_path):
    """Once OUTPUT is in place (drawing --plot, printing): a failure or Ctrl-C says that
    OUTPUT stays, complete, rather than that nothing was written."""
    rest = f"; {output_path} was written completely"
    try:
        yield
        _check_signals()
    except NormcliError as exc:
        error = NormcliError(f"{exc}{rest}")
        error.exit_code = exc.exit_code
        raise error from None
    except BaseException as exc:
        stop = stopped(exc, rest)
        if stop is None:
            raise
        raise stop from None


def main(argv=None):
    """Console-script entry point."""
    signal.signal(signal.SIGINT, _on_signal)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    try:
        try:
            cli.main(args=argv, prog_name="normcli")
        finally:
            sys.stdout.flush()  # surface a closed pipe here, not at interpreter exit
    except BrokenPipeError:
        _quiet_broken_pipe()
    except KeyboardInterrupt:
        _error("interrupted; nothing was written", 130)
    except Terminated:
        _error("terminated; nothing was written", 143)


# -- normalize, fit, invert ------------------------------------------------------------------


def _order_callback(ctx, param, value):
    if value is None:
        return None
    from normcli.normalizers import parse_order

    try:
        return parse_order(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _factor_callback(ctx, param, value):
    if value is None:
        return None
    from normcli.normalizers import parse_factor

    try:
        parse_factor(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


METHOD_CHOICES = [
    "minmax",
    "zscore",
    "lp",
    "per-image",
    "scale",
    "robust",
    "quantile",
    "quantile-match",
]

method_options = compose(
    click.option(
        "-m",
        "--method",
        type=click.Choice(METHOD_CHOICES),
        help="minmax, zscore, lp (x / p-norm, as keras.utils.normalize), per-image, scale, "
        "robust (median and quantile range), quantile, quantile-match.",
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
        callback=_order_callback,
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


def _factory(method, axis, nan_policy, feature_range, clip, ddof, eps, order, factor, more=None):
    """Validate the method's options once and return a maker of fresh normalizers
    (``more``: the options of normcli.quantile_options)."""
    from normcli.normalizers import make_normalizer

    opts = {
        "feature_range": feature_range,
        "clip": True if clip else None,
        "ddof": ddof,
        "eps": eps,
        "order": order,
        "factor": factor,
        **(more or {}),
    }
    if method == "scale" and factor is None:
        raise click.UsageError("-m scale needs --factor, e.g. --factor 1/255")
    make_normalizer(method, axis, nan_policy=nan_policy, **opts)  # fails early if wrong

    def make():
        return make_normalizer(method, axis, nan_policy=nan_policy, **opts)

    return make


#: Methods whose --range/--clip are their own; for the others they only shape image output.
RANGE_METHODS = ("minmax", "per-image")


def _image_output(output_path, method, image_format, bit_depth, feature_range, clip):
    """How an image-folder OUTPUT is written, and the --range/--clip left for the method.

    minmax and per-image map into --range, so images are quantized over the same range;
    for other methods --range and --clip only say how the written images are quantized.
    """
    from normcli.io import output_format
    from normcli.io.images import ImageOutput

    try:
        folder = output_format(output_path) == "images"
    except NormcliError:
        folder = False
    if not folder and image_format is None and bit_depth is None:
        return None, feature_range, clip
    image_output = ImageOutput(
        image_format=image_format or "png",
        bit_depth=bit_depth,
        value_range=tuple(feature_range) if feature_range else (0.0, 1.0),
        clip=bool(clip),
    )
    if method in RANGE_METHODS or not folder:
        return image_output, feature_range, clip
    return image_output, None, False


def _range_from_params(image_output, params_doc: dict) -> None:
    """Saved minmax/per-image parameters carry the range the images are quantized over."""
    options = params_doc.get("options") or {}
    if params_doc.get("method") in RANGE_METHODS and options.get("range"):
        image_output.value_range = tuple(float(v) for v in options["range"])
        image_output.clip = bool(options.get("clip"))


def _no_method_options_with_params(
    method, params_doc, params_path, axis, feature_range, clip, ddof, eps, order, factor
):
    given = [
        name
        for name, value in (
            ("--axis", axis),
            ("--range", feature_range),
            ("--clip", clip or None),
            ("--ddof", ddof),
            ("--eps", eps),
            ("--order", order),
            ("--factor", factor),
        )
        if value is not None
    ]
    if given:
        raise click.UsageError(
            f"{', '.join(given)} cannot be combined with --params, which holds the method "
            "and its options"
        )
    saved = params_doc.get("method") if isinstance(params_doc, dict) else None
    if method is not None and saved is not None and method != saved:
        raise ParameterError(
            f"{params_path} holds {saved} parameters, not {method}; drop -m or use "
            f"parameters fitted with -m {method}"
        )


@cli.command("normalize")
@input_argument
@output_argument
@method_options
@quantile_method_options
@read_options
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
@click.option(
    "--compression",
    type=click.Choice(["gzip", "lzf", "zstd", "none"]),
    help="gzip for .npz, .h5 and .zarr (lzf: .h5 only; zstd: .zarr only).",
)
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
@engine_options
@output_options
def normalize_command(
    input_path,
    output_path,
    method,
    axis,
    feature_range,
    clip,
    ddof,
    eps,
    order,
    factor,
    nan_policy,
    quantile_options,
    keys,
    chunk_bytes,
    image_mode,
    max_pixels,
    fit_key,
    params_path,
    save_params,
    dtype,
    compression,
    strict,
    image_format,
    bit_depth,
    hist,
    bins,
    plot_path,
    exclude_zeros,
    check_ranks,
    force,
    engine,
    scheduler,
    as_json,
    quiet,
):
    """Normalize arrays of INPUT into OUTPUT and print statistics before and after.

    Arrays not selected with -k are copied through unchanged. OUTPUT's format comes
    from its extension (.npy, .npz, .h5, .zarr), or is a folder of images when OUTPUT is a
    directory or ends in /; it is written to a temporary file (or folder) beside it and
    moved into place only when complete.
    """
    from normcli.engine import NormalizeOptions, load_params, normalize_file, open_runner

    if exclude_zeros and not hist:
        raise click.UsageError("--exclude-zeros on normalize applies to --hist; add --hist")
    from normcli.engine import check_distinct_outputs

    check_distinct_outputs(
        {"OUTPUT": output_path, "--save-params": save_params, "--plot": plot_path}
    )
    inspect = make_inspect(
        hist,
        bins,
        plot_path,
        exclude_zeros=exclude_zeros,
        check_ranks=check_ranks,
        force=force,
        input_path=input_path,
    )
    renderer = Renderer(as_json=as_json, quiet=quiet)
    image_output, feature_range, clip = _image_output(
        output_path, method, image_format, bit_depth, feature_range, clip
    )
    params_doc = None
    if params_path:
        if fit_key:
            raise click.UsageError("--fit-key and --params both give the statistics; use one")
        params_doc = load_params(params_path)
        _no_method_options_with_params(
            method, params_doc, params_path, axis, feature_range, clip, ddof, eps, order, factor
        )
        if quantile_options:
            raise click.UsageError(
                f"{', '.join(FLAGS[k] for k in quantile_options)} cannot be combined with "
                "--params, which holds the method and its options"
            )
        if image_output is not None and isinstance(params_doc, dict):
            _range_from_params(image_output, params_doc)
        make = None
    else:
        if method is None:
            raise click.UsageError("choose a method with -m (or apply saved ones with --params)")
        make = _factory(
            method, axis, nan_policy, feature_range, clip, ddof, eps, order, factor,
            quantile_options,
        )  # fmt: skip
    options = NormalizeOptions(
        keys=keys,
        fit_key=fit_key,
        dtype=dtype,
        compression=compression,
        chunk_bytes=chunk_bytes,
        nan_policy=nan_policy,
        force=force,
        strict=strict,
        save_params=save_params,
        read=_read_options(image_mode, max_pixels),
        image_output=image_output,
        inspect=inspect,
    )
    with open_runner(engine, scheduler) as runner:
        report = normalize_file(
            input_path,
            output_path,
            make,
            options,
            params_doc=params_doc,
            params_where=str(params_path),
            progress=renderer.progress(),
            runner=runner,
        )
    with _output_written(output_path):
        if plot_path:
            from normcli.plots import normalize_figure

            normalize_figure(plot_path, report, force=force)
        render_normalize(renderer, report, inspect)
        if plot_path:
            renderer.note(f"wrote {printable(plot_path)}")


@cli.command("fit")
@input_argument
@method_options
@quantile_method_options
@read_options
@click.option(
    "-o",
    "--output",
    "params_out",
    metavar="PARAMS.json",
    help="Where to save the parameters (JSON). Without it they are only shown.",
)
@click.option("--strict", is_flag=True, help="Make every warning an error (exit 2).")
@force_option
@engine_options
@output_options
def fit_command(
    input_path,
    method,
    axis,
    feature_range,
    clip,
    ddof,
    eps,
    order,
    factor,
    nan_policy,
    quantile_options,
    keys,
    chunk_bytes,
    image_mode,
    max_pixels,
    params_out,
    strict,
    force,
    engine,
    scheduler,
    as_json,
    quiet,
):
    """Compute a normalizer's parameters on one array of INPUT and save them.

    Apply them to other data with `normalize --params`, undo them with `invert`.
    """
    from normcli.engine import NormalizeOptions, fit_file, open_runner, write_params

    if method is None:
        raise click.UsageError("choose a method with -m")
    renderer = Renderer(as_json=as_json, quiet=quiet)
    make = _factory(
        method, axis, nan_policy, feature_range, clip, ddof, eps, order, factor, quantile_options
    )
    options = NormalizeOptions(
        keys=keys,
        chunk_bytes=chunk_bytes,
        nan_policy=nan_policy,
        force=force,
        strict=strict,
        read=_read_options(image_mode, max_pixels),
    )
    if params_out:
        from normcli.engine import check_output_path

        check_output_path(input_path, params_out, force, what="-o")
    with open_runner(engine, scheduler) as runner:
        doc, before = fit_file(
            input_path, make, options, progress=renderer.progress(), runner=runner
        )
    if params_out:
        write_params(params_out, doc, force=force)
    render_fit(renderer, input_path, doc, before, params_out)


@cli.command("invert")
@input_argument
@output_argument
@click.option(
    "--params",
    "params_path",
    required=True,
    metavar="FILE",
    help="The parameters the data were normalized with.",
)
@read_options
@click.option(
    "--dtype",
    type=click.Choice(["float32", "float64", "original"]),
    default="float32",
    show_default=True,
    help="dtype of the restored arrays; original rounds back to the fitted array's dtype.",
)
@click.option("--compression", type=click.Choice(["gzip", "lzf", "zstd", "none"]))
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
@engine_options
@output_options
def invert_command(
    input_path,
    output_path,
    params_path,
    keys,
    chunk_bytes,
    image_mode,
    max_pixels,
    dtype,
    compression,
    nan_policy,
    image_format,
    bit_depth,
    feature_range,
    clip,
    force,
    engine,
    scheduler,
    as_json,
    quiet,
):
    """Undo a saved minmax, zscore or scale normalization of INPUT into OUTPUT."""
    from normcli.engine import NormalizeOptions, load_params, normalize_file, open_runner

    renderer = Renderer(as_json=as_json, quiet=quiet)
    image_output, feature_range, clip = _image_output(
        output_path, None, image_format, bit_depth, feature_range, clip
    )
    if feature_range is not None or clip:
        raise click.UsageError("--range and --clip apply to an image-folder OUTPUT only")
    params_doc = load_params(params_path)
    options = NormalizeOptions(
        keys=keys,
        dtype=dtype,
        compression=compression,
        chunk_bytes=chunk_bytes,
        nan_policy=nan_policy,
        force=force,
        read=_read_options(image_mode, max_pixels),
        image_output=image_output,
    )
    with open_runner(engine, scheduler) as runner:
        report = normalize_file(
            input_path,
            output_path,
            None,
            options,
            params_doc=params_doc,
            params_where=str(params_path),
            invert=True,
            progress=renderer.progress(),
            runner=runner,
        )
    with _output_written(output_path):
        render_normalize(renderer, report)


# -- check -----------------------------------------------------------------------------------


@cli.command("check")
@input_argument
@read_options
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
    callback=_order_callback,
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
    input_path,
    keys,
    chunk_bytes,
    image_mode,
    max_pixels,
    value_range,
    mean,
    std,
    unit_norm,
    axis,
    order,
    ddof,
    tol,
    as_json,
    quiet,
):
    """Assert something about INPUT: exit 0 when it holds, 1 with the reason otherwise.

    \b
    A guard before a training step in a Makefile:
      normcli check data.npz -k x_train --mean 0 --std 1
      normcli check data.npz -k x_train --range 0 1
      normcli check data.npz -k x_train --unit-norm --axis 1,2
    """
    from normcli.checks import Assertions
    from normcli.engine import check_file
    from normcli.errors import CheckFailed

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
        read=_read_options(image_mode, max_pixels),
        progress=renderer.progress(),
    )
    render_check(renderer, report)
    if not report.passed:
        failures = sum(not o.passed for a in report.arrays for o in a.outcomes)
        more = f" (and {failures - 1} more failing)" if failures > 1 else ""
        raise CheckFailed(report.first_failure() + more)
