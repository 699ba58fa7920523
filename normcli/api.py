"""The public Python API: the commands as functions, the same exact figures.

Each function takes the command's options as keyword arguments, runs the same library
code as the command line and returns what ``--json`` prints, as Python objects
(``check`` returns a :class:`~normcli.ops.check.CheckReport` with ``.passed``).
Failures raise :class:`normcli.NormcliError` subclasses (never ``SystemExit``);
warnings are ``warnings.warn(..., NormcliWarning)`` unless a ``reporter`` is given.

Shared keyword options:

- ``chunk_size``: bytes held in memory at once, an int or a text such as ``"64MiB"``;
- ``engine`` (``"local"`` or ``"dask"``) and ``scheduler``;
- ``mode``, ``max_pixels``: image folders; ``allow_external``: HDF5;
- ``raw``: HDF5, netCDF and Zarr values as stored, without CF decoding.
"""

from __future__ import annotations

from collections.abc import Sequence

from normcli.axes import ALL, AxisSpec, parse_axis
from normcli.checks import Assertions
from normcli.documents import describe_document, normalize_document
from normcli.engines import DEFAULT_CHUNK
from normcli.errors import ParameterError
from normcli.io import ReadOptions
from normcli.io.paths import check_output_path
from normcli.normalizers import Normalizer, parse_order
from normcli.ops.check import CheckReport, check_file
from normcli.ops.describe import describe_file
from normcli.ops.fit import fit_file
from normcli.ops.normalize import invert_file, normalize_file
from normcli.ops.options import NormalizeOptions
from normcli.ops.percentiles import PercentileRequest
from normcli.ops.plan import (
    check_no_method_options,
    image_output_for,
    normalizer_factory,
    range_from_params,
)
from normcli.params import load_params, write_params
from normcli.quantiles import DEFAULT_PERCENTILES
from normcli.reporting import Reporter
from normcli.units import parse_size

__all__ = ["check", "describe", "fit", "invert", "normalize"]


def _keys(keys) -> tuple[str, ...]:
    if keys is None:
        return ()
    return (keys,) if isinstance(keys, str) else tuple(keys)


def _axis(axis) -> AxisSpec | None:
    """``axis`` as numpy takes it (an int, a tuple, None) or as the command line
    writes it ("all", "0,1,2")."""
    if axis is None:
        return None
    if isinstance(axis, str):
        try:
            return parse_axis(axis)
        except ValueError as exc:
            raise ParameterError(f"axis={axis!r}: {exc}") from None
    if isinstance(axis, int):
        return (axis,)
    try:
        axes = tuple(int(a) for a in axis)
    except (TypeError, ValueError):
        raise ParameterError(f"axis={axis!r} is not an int, a tuple of ints or 'all'") from None
    if len(set(axes)) != len(axes):
        raise ParameterError(f"axis={axis!r} repeats an axis")
    return axes


def _size(chunk_size) -> int:
    try:
        return parse_size(chunk_size)
    except ValueError as exc:
        raise ParameterError(f"chunk_size={chunk_size!r}: {exc}") from None


def _read(mode, max_pixels, allow_external, raw=False) -> ReadOptions:
    return ReadOptions(
        mode=mode, max_pixels=max_pixels, allow_external=bool(allow_external), raw=bool(raw)
    )


def describe(
    path,
    keys: str | Sequence[str] | None = None,
    axis=None,
    *,
    exclude_zeros: bool = False,
    nan: str = "omit",
    chunk_size: int | str = DEFAULT_CHUNK,
    engine: str = "local",
    scheduler: str | None = None,
    mode: str | None = None,
    max_pixels: int | None = None,
    allow_external: bool = False,
    raw: bool = False,
    reporter: Reporter | None = None,
    percentiles=None,
    percentile_method: str = "linear",
) -> dict:
    """``normcli describe``: the statistics of each array (every one without ``keys``),
    over ``axis`` (default: all axes), as ``describe --json`` prints them; with
    ``percentiles`` (a list in percent, or True for 1, 5, 25, 50, 75, 95, 99) also
    their exact percentiles (numpy's ``percentile_method``)."""
    request = None
    if percentiles is not None and percentiles is not False:
        percents = DEFAULT_PERCENTILES if percentiles is True else tuple(map(float, percentiles))
        request = PercentileRequest(percents, percentile_method)
    items = describe_file(
        path,
        _keys(keys),
        _axis(axis) or ALL,
        chunk_bytes=_size(chunk_size),
        exclude_zeros=exclude_zeros,
        nan_policy=nan,
        read=_read(mode, max_pixels, allow_external, raw),
        engine=engine,
        scheduler=scheduler,
        progress=reporter,
        percentiles=request,
    )
    return describe_document(path, items, exclude_zeros=exclude_zeros)


def _factory(method, axis, nan, method_options: dict):
    """A maker of fresh normalizers from a method name, or from an estimator (copied,
    scikit-learn's ``clone``)."""
    if isinstance(method, Normalizer):
        if axis is not None or any(v is not None for v in method_options.values()):
            raise ParameterError(
                "give the options to the estimator, not beside it (normcli.ZScore(axis=0))"
            )
        template = method

        def make():
            return type(template)(**template.get_params())

        return make
    if not isinstance(method, str):
        raise ParameterError(
            f"method={method!r}: give a method name (minmax, zscore, ...) or an estimator"
        )
    o = method_options
    return normalizer_factory(
        method, _axis(axis), nan, o.get("feature_range"), o.get("clip"), o.get("ddof"),
        o.get("eps"), None if o.get("order") is None else parse_order(o["order"]),
        None if o.get("factor") is None else str(o["factor"]),
    )  # fmt: skip


def fit(
    path,
    method,
    key: str | None = None,
    axis=None,
    output=None,
    *,
    force: bool = False,
    strict: bool = False,
    nan: str = "raise",
    feature_range: tuple[float, float] | None = None,
    clip: bool | None = None,
    ddof: int | None = None,
    eps: float | None = None,
    order=None,
    factor=None,
    chunk_size: int | str = DEFAULT_CHUNK,
    engine: str = "local",
    scheduler: str | None = None,
    mode: str | None = None,
    max_pixels: int | None = None,
    allow_external: bool = False,
    raw: bool = False,
    reporter: Reporter | None = None,
) -> dict:
    """``normcli fit``: the params document of ``method`` fitted on one array (saved
    to ``output`` when given, atomically)."""
    opts = dict(feature_range=feature_range, clip=clip, ddof=ddof, eps=eps, order=order)
    make = _factory(method, axis, nan, {**opts, "factor": factor})
    options = NormalizeOptions(
        keys=_keys(key), chunk_bytes=_size(chunk_size), nan_policy=nan, force=force,
        strict=strict, read=_read(mode, max_pixels, allow_external, raw), engine=engine,
        scheduler=scheduler,
    )  # fmt: skip
    if output is not None:
        check_output_path(path, output, force, what="output")
    doc, _ = fit_file(path, make, options, progress=reporter)
    if output is not None:
        write_params(output, doc, force=force)
    return doc


def normalize(
    input,
    output,
    method_or_normalizer=None,
    *,
    keys: str | Sequence[str] | None = None,
    fit_key: str | None = None,
    params=None,
    axis=None,
    feature_range: tuple[float, float] | None = None,
    clip: bool | None = None,
    ddof: int | None = None,
    eps: float | None = None,
    order=None,
    factor=None,
    nan: str = "raise",
    dtype: str = "float32",
    compression: str | None = None,
    save_params=None,
    force: bool = False,
    strict: bool = False,
    chunk_size: int | str = DEFAULT_CHUNK,
    engine: str = "local",
    scheduler: str | None = None,
    mode: str | None = None,
    max_pixels: int | None = None,
    allow_external: bool = False,
    raw: bool = False,
    reporter: Reporter | None = None,
) -> dict:
    """``normcli normalize``: the selected arrays of ``input`` normalized into ``output``
    (the others copied through); returns what ``normalize --json`` prints: for each
    array ``before``, ``after`` and ``params``, and ``passed``.

    ``method_or_normalizer`` is a method name ("zscore") with its options as keywords,
    or an estimator (``normcli.ZScore(axis=0)``); ``params`` applies saved parameters
    instead (a path or a params document).
    """
    method = method_or_normalizer
    name = method if isinstance(method, str) else getattr(method, "method", None)
    image_output, feature_range, clip = image_output_for(
        output, name, None, None, feature_range, clip
    )
    method_opts = dict(
        feature_range=feature_range, clip=clip, ddof=ddof, eps=eps, order=order, factor=factor
    )
    params_doc, where, make = None, "params", None
    if params is not None:
        if fit_key is not None:
            raise ParameterError("fit_key and params both give the statistics; use one")
        params_doc, where = (params, "params") if isinstance(params, dict) else (
            load_params(params), str(params)
        )  # fmt: skip
        check_no_method_options(
            name, params_doc, where, axis, feature_range, clip or None, ddof, eps, order, factor
        )
        if image_output is not None and isinstance(params_doc, dict):
            range_from_params(image_output, params_doc)
    elif method_or_normalizer is None:
        raise ParameterError("choose a method (or apply saved parameters with params=)")
    else:
        make = _factory(method_or_normalizer, axis, nan, method_opts)
    options = NormalizeOptions(
        keys=_keys(keys), fit_key=fit_key, dtype=dtype, compression=compression,
        chunk_bytes=_size(chunk_size), nan_policy=nan, force=force, strict=strict,
        save_params=None if save_params is None else str(save_params),
        read=_read(mode, max_pixels, allow_external, raw), image_output=image_output,
        engine=engine, scheduler=scheduler,
    )  # fmt: skip
    report = normalize_file(
        input, output, make, options, params_doc=params_doc, params_where=where,
        progress=reporter,
    )  # fmt: skip
    return normalize_document(report)


def invert(
    input,
    output,
    params,
    *,
    keys: str | Sequence[str] | None = None,
    dtype: str = "float32",
    compression: str | None = None,
    nan: str = "propagate",
    force: bool = False,
    chunk_size: int | str = DEFAULT_CHUNK,
    engine: str = "local",
    scheduler: str | None = None,
    mode: str | None = None,
    max_pixels: int | None = None,
    allow_external: bool = False,
    raw: bool = False,
    reporter: Reporter | None = None,
) -> dict:
    """``normcli invert``: undo the normalization saved in ``params`` (a path or a
    params document); returns what ``invert --json`` prints."""
    params_doc, where = (params, "params") if isinstance(params, dict) else (
        load_params(params), str(params)
    )  # fmt: skip
    image_output, _, _ = image_output_for(output, None, None, None, None, None)
    options = NormalizeOptions(
        keys=_keys(keys), dtype=dtype, compression=compression, chunk_bytes=_size(chunk_size),
        nan_policy=nan, force=force, read=_read(mode, max_pixels, allow_external, raw),
        image_output=image_output, engine=engine, scheduler=scheduler,
    )  # fmt: skip
    report = invert_file(input, output, params_doc, options, params_where=where, progress=reporter)
    return normalize_document(report)


def check(
    path,
    *,
    keys: str | Sequence[str] | None = None,
    value_range: tuple[float, float] | None = None,
    mean: float | None = None,
    std: float | None = None,
    unit_norm: bool = False,
    axis=None,
    order=2,
    ddof: int = 0,
    tol: float | None = None,
    chunk_size: int | str = DEFAULT_CHUNK,
    mode: str | None = None,
    max_pixels: int | None = None,
    allow_external: bool = False,
    raw: bool = False,
    reporter: Reporter | None = None,
) -> CheckReport:
    """``normcli check``: judge the assertions on every selected array; the result's
    ``.passed`` says whether all hold, ``.failure_message()`` which failed first and
    ``.document()`` is what ``check --json`` prints."""
    assertions = Assertions(
        value_range=tuple(value_range) if value_range is not None else None,
        mean=mean, std=std, unit_norm=unit_norm, order=parse_order(order), ddof=ddof, tol=tol,
    )  # fmt: skip
    if not assertions.any():
        raise ParameterError("say what to check: value_range, mean, std or unit_norm")
    return check_file(
        path, _keys(keys), assertions, _axis(axis), chunk_bytes=_size(chunk_size),
        read=_read(mode, max_pixels, allow_external, raw), progress=reporter,
    )  # fmt: skip
