"""Pass 1 (fitting a normalizer, with the before-statistics) and ``fit``."""

from __future__ import annotations

import numpy as np

from normcli.axes import format_axis, sample_split
from normcli.engines import LOCAL, Runner, runner_for, single_blas_thread
from normcli.engines.base import stream_shape
from normcli.errors import InputError, ParameterError
from normcli.io import ArrayInfo, Reader
from normcli.moments import describe
from normcli.ops.options import NormalizeOptions
from normcli.ops.select import check_not_empty, open_input, select_arrays
from normcli.params import params_document
from normcli.ragged import PixelStream, counted, is_ragged, shape_json
from normcli.ragged import reduction as ragged_reduction
from normcli.reporting import Reporter, warn
from normcli.stats import Accumulator


def _nonfinite_error(reader: Reader, info: ArrayInfo, acc: Accumulator) -> InputError:
    m = acc.result()
    n_nan, n_inf = int(np.sum(m.nan)), int(np.sum(m.inf))
    what = " and ".join(
        w for w in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "") if w
    )
    missing = " (missing values its CF attributes mark)" if "cf" in info.extra else ""
    return InputError(
        f"{reader.path}:{info.name} holds {what} value{'s' if n_nan + n_inf != 1 else ''}"
        f"{missing}; use --nan omit to fit on the finite values and leave the others in place, or "
        "--nan propagate"
    )


def nan_check(reader: Reader, info: ArrayInfo, options: NormalizeOptions, before):
    """With --nan raise, a check that fails as soon as a NaN or infinity has been seen."""
    if options.nan_policy != "raise" or info.dtype.kind != "f":
        return None

    def check():
        if before.nonfinite() > 0:
            raise _nonfinite_error(reader, info, before)

    return check


def before_accumulator(info: ArrayInfo) -> Accumulator:
    return Accumulator(info.shape, info.dtype, tuple(range(len(info.shape))))


def fit_array(
    reader: Reader,
    info: ArrayInfo,
    norm,
    options: NormalizeOptions,
    progress: Reporter,
    with_before: bool = True,
    runner: Runner | None = None,
):
    """Pass 1: fit ``norm`` on the array (and take its before-statistics)."""
    runner = runner or LOCAL
    if is_ragged(info):  # a folder of mixed sizes: fitted on its pooled pixels
        fitted = _fit_counted(reader, info, norm, with_before)
        if fitted is not False:
            return fitted
        reader = PixelStream(reader)
        info = reader.info_
    before = before_accumulator(info)
    norm.reset()
    norm.bind(stream_shape(info), f"{reader.path}:{info.name}")
    passes = hasattr(norm, "next_pass")  # a fit in several passes (robust, quantile, ...)
    if passes:
        norm.prepare_fit(info.dtype)
    # A global minmax or zscore needs nothing but the before-statistics: one
    # accumulator serves both (a second is used only if non-finite values turn up).
    shared = norm.fits_from_moments and norm.axes_ == tuple(range(len(stream_shape(info))))
    # ... and one per channel of 8/16-bit images counts exactly (normcli.channels)
    by_channel = None
    if norm.fits_from_moments and not shared:
        by_channel = Accumulator(stream_shape(info), info.dtype, norm.axes_)
        by_channel = by_channel if by_channel.channels is not None else None
    runner.scan(
        reader,
        info,
        [before] if shared else [before, by_channel or norm],
        chunk_bytes=options.chunk_bytes,
        progress=progress,
        label=f"fit {info.name}",
        check=nan_check(reader, info, options, before),
    )
    while passes and (consumer := norm.next_pass()) is not None:
        runner.scan(
            reader, info, [consumer], chunk_bytes=options.chunk_bytes, progress=progress,
            label=f"fit {info.name} (next pass)",
        )  # fmt: skip
    moments = before.result()
    if by_channel is not None and not norm.fit_from_kept_moments(by_channel.result()):
        raise InputError(f"internal error: {reader.path}:{info.name} could not be fitted")
    if shared and not norm.fit_from_moments(moments):
        runner.scan(
            reader,
            info,
            [norm],
            chunk_bytes=options.chunk_bytes,
            progress=progress,
            label=f"fit {info.name} (finite values)",
        )
    return describe(moments) if with_before else None


def _fit_counted(reader: Reader, info: ArrayInfo, norm, with_before: bool):
    """A ragged folder's fit from exact counts made as its images decode (8/16-bit
    pixels, a zscore or minmax over all axes or per channel); False when it needs the
    float path over the pixel stream."""
    ragged_reduction(info, norm.axes_, f"{reader.path}:{info.name}")
    pixels = PixelStream(reader)
    every = tuple(range(len(pixels.info_.shape)))
    accs = counted(reader, [every, norm.axes_]) if norm.fits_from_moments else None
    if accs is None:
        return False
    norm.reset()
    norm.bind(pixels.info_.shape, f"{reader.path}:{info.name}")
    if not norm.fit_from_kept_moments(accs[1].result()):
        raise InputError(f"internal error: {reader.path}:{info.name} could not be fitted")
    return describe(accs[0].result()) if with_before else None


def warn_split(norm, info: ArrayInfo, where: str, options: NormalizeOptions, progress) -> None:

    what = sample_split(tuple(info.shape), norm.axes_)
    if what is None:
        return
    per_image = ",".join(str(a) for a in range(1, len(info.shape)))
    alternative = f"for one normalization per image use --axis {per_image} or -m per-image"
    if 0 in norm.axes_:
        alternative = f"for one over the whole dataset use --axis all; {alternative}"
    message = (
        f"--axis {format_axis(norm.axes_)} on {where} of shape {tuple(info.shape)} normalizes "
        f"{what} separately, which is almost never meant; {alternative}"
    )
    warn(progress, strict=options.strict, message=message)


def fitted_params(norm, reader: Reader, info: ArrayInfo) -> dict:
    """The params document of ``norm``, fitted on the array ``info`` of ``reader``."""
    shape = shape_json(info) if info.shape else list(stream_shape(info))
    return params_document(
        norm, source=str(reader.path), key=info.name, shape=shape, dtype=info.dtype
    )


def fit_file(
    input_path,
    make_normalizer,
    options: NormalizeOptions,
    *,
    progress: Reporter | None = None,
    runner: Runner | None = None,
) -> tuple[dict, dict]:
    """``fit``: the params document of one array, and its before-statistics."""

    progress = progress or Reporter()
    with open_input(input_path, options.read, progress) as reader:
        keys = list(options.keys)
        if options.fit_key:
            keys = [options.fit_key]
        selected = select_arrays(reader, keys, default_all=False)
        if len(selected) != 1:
            raise ParameterError("fit takes one array: give one -k NAME")
        info = selected[0]
        check_not_empty(reader, info)
        norm = make_normalizer()
        norm.bind(stream_shape(info), f"{reader.path}:{info.name}")
        if not norm.needs_fit and norm.method != "scale":
            raise ParameterError(
                f"-m {norm.method} over axes {list(norm.axes_)} normalizes each sample with its "
                "own statistics: there is nothing to fit (include axis 0 to fit across samples)"
            )
        warn_split(norm, info, f"{reader.path}:{info.name}", options, progress)
        with (
            runner_for(options.engine, options.scheduler, runner) as runner,
            single_blas_thread(),
        ):
            before = fit_array(reader, info, norm, options, progress, runner=runner)
        doc = fitted_params(norm, reader, info)
    return doc, before
