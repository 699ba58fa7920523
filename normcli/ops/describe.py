"""``describe``: scipy.stats.describe's figures for each array, streamed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from normcli.axes import ALL, AxisSpec, resolve_axes
from normcli.engines import DEFAULT_CHUNK, LOCAL, Runner, open_runner, single_blas_thread
from normcli.engines.base import stream_shape
from normcli.errors import InputError, ParameterError
from normcli.histogram import Histogram
from normcli.io import ArrayInfo, Reader, ReadOptions
from normcli.moments import describe
from normcli.ops import carry
from normcli.ops.inspect import describe_histograms, first_samples, is_image
from normcli.ops.options import Inspect
from normcli.ops.percentiles import (
    PercentileRequest,
    describe_percentiles,
    fused_consumers,
    percentile_scan,
)
from normcli.ops.select import check_not_empty, open_input, select_arrays
from normcli.ragged import counted, pooled_folder, shape_json, source_for
from normcli.reporting import Reporter
from normcli.stats import Accumulator


@dataclass
class ArrayStats:
    """The statistics of one array, as ``describe`` reports them."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: tuple[int, ...] | None  # None: over all axes
    stats: dict[str, np.ndarray]
    extra: dict = field(default_factory=dict)
    #: With --hist/--plot: "all" values and/or "nonzero" values (Inspect.views()).
    histograms: dict[str, Histogram] | None = None
    #: With --plot, for image data: the first few samples.
    samples: np.ndarray | None = None
    #: With --percentiles: {"p50": values shaped as the axes kept, ...} and the method.
    percentiles: dict | None = None
    percentile_method: str | None = None


def accumulate(
    reader: Reader,
    info: ArrayInfo,
    axes: tuple[int, ...],
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    progress: Reporter | None = None,
    label: str | None = None,
    runner: Runner | None = None,
    acc: Accumulator | None = None,
    also: Sequence = (),
) -> Accumulator:
    """One streamed pass of an :class:`Accumulator` over an array (its exact value
    counts, for 8/16-bit integers over all axes, serve the histograms too), and of the
    consumers ``also`` (a percentile pass)."""
    if acc is None:
        acc = Accumulator(info.shape, info.dtype, axes, exclude_zeros=exclude_zeros)
    (runner or LOCAL).scan(
        reader,
        info,
        [acc, *also],
        chunk_bytes=chunk_bytes,
        progress=progress or Reporter(),
        label=label or f"describe {info.name}",
    )
    return acc


def stats_of(reader: Reader, info: ArrayInfo, axes: tuple[int, ...], **kwargs):
    """The Moments of one array over ``axes``, streamed (see :func:`accumulate`)."""
    return accumulate(reader, info, axes, **kwargs).result()


def apply_nan_policy(reader: Reader, info: ArrayInfo, stats: dict, nan_policy: str) -> None:
    n_nan = int(np.sum(stats["nan"]))
    if n_nan and nan_policy == "raise":
        raise InputError(
            f"{reader.path}:{info.name} holds {n_nan} NaN value{'s' if n_nan != 1 else ''}; "
            "use --nan omit to leave them out or --nan propagate"
        )


def describe_arrays(
    reader: Reader,
    infos: Sequence[ArrayInfo],
    axis: AxisSpec = ALL,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    nan_policy: str = "omit",
    progress: Reporter | None = None,
    inspect: Inspect | None = None,
    runner: Runner | None = None,
    percentiles: PercentileRequest | None = None,
) -> list[ArrayStats]:
    """``describe``: scipy.stats.describe's figures for each array, streamed.

    With ``inspect``, also the histograms (``--hist``, ``--plot``) and, for image data
    and ``--plot``, the first few samples. With ``percentiles``, exact percentiles (the
    first pass joins the statistics pass; see normcli.ops.percentiles).
    """
    progress = progress or Reporter()
    results = []
    with single_blas_thread():
        for info in infos:
            check_not_empty(reader, info)
            axes = resolve_axes(axis, len(info.shape), f"{reader.path}:{info.name}")
            # a folder of mixed sizes: its pixel stream, or each image (normcli.ragged)
            source, source_info, per_image = source_for(reader, info, axes, exclude_zeros)
            scan = None
            if percentiles is not None:
                if per_image is not None:
                    raise ParameterError(
                        f"{reader.path}:{info.name}: --percentiles of each image of a folder "
                        "of mixed sizes is not supported; make them one size with --resize, "
                        "or describe over all values or per channel"
                    )
                scan = percentile_scan(
                    stream_shape(source_info), source_info.dtype, axes or (0,), percentiles,
                    nan_policy, exclude_zeros,
                )  # fmt: skip
            acc = None
            if per_image is None and scan is None and pooled_folder(reader, info, axes):
                acc = (counted(reader, [axes], exclude_zeros=exclude_zeros) or [None])[0]
            if acc is None and (per_image is None or (inspect is not None and inspect.views())):
                every = tuple(range(len(info.shape)))
                acc_axes = axes if per_image is None else every
                acc = Accumulator(
                    source_info.shape, source_info.dtype, acc_axes, exclude_zeros=exclude_zeros
                )
                accumulate(
                    source, source_info, acc_axes, chunk_bytes=chunk_bytes,
                    exclude_zeros=exclude_zeros, progress=progress, runner=runner, acc=acc,
                    also=fused_consumers(scan, acc),
                )  # fmt: skip
            moments = acc.result() if per_image is None else per_image
            stats = describe(moments, nan_policy=nan_policy)
            wide = carry.wide_integer_warning(f"{reader.path}:{info.name}", info.dtype, stats)
            if wide:
                progress.warn(wide)
            apply_nan_policy(reader, info, stats, nan_policy)
            n_nan = int(np.sum(stats["nan"]))
            if n_nan and nan_policy == "omit":
                missing = " (missing values its CF attributes mark)" if "cf" in info.extra else ""
                progress.warn(
                    f"{reader.path}:{info.name} holds {n_nan} NaN value"
                    f"{'s' if n_nan != 1 else ''}{missing}; they are left out of the statistics"
                )
            item = ArrayStats(
                info.name,
                tuple(shape_json(info)),
                info.dtype,
                None if axis == ALL or axes == tuple(range(len(info.shape))) else axes,
                stats,
                extra={"cf": info.extra["cf"]} if "cf" in info.extra else {},
            )
            if scan is not None:
                item.percentile_method = percentiles.method
                item.percentiles = describe_percentiles(
                    scan, percentiles, acc, runner or LOCAL, source, source_info,
                    chunk_bytes=chunk_bytes, progress=progress,
                )  # fmt: skip
            if inspect is not None and inspect.views():
                item.histograms = describe_histograms(
                    source, source_info, acc, stats, inspect, chunk_bytes, progress
                )
            if inspect is not None and inspect.plot and is_image(info.shape) and source is reader:
                item.samples = first_samples(reader, info, inspect.samples)
            results.append(item)
    return results


def describe_file(
    input_path,
    keys: Sequence[str] | None = None,
    axis: AxisSpec = ALL,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    nan_policy: str = "omit",
    read: ReadOptions | None = None,
    inspect: Inspect | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    progress: Reporter | None = None,
    percentiles: PercentileRequest | None = None,
) -> list[ArrayStats]:
    """``describe``: open INPUT, select the arrays (every one without ``keys``) and
    describe each (see :func:`describe_arrays`) on the engine asked for."""
    progress = progress or Reporter()
    with open_input(input_path, read, progress) as reader:
        infos = select_arrays(reader, keys, default_all=True)
        if not keys:  # the arrays of the file normcli cannot read: said, not fatal
            for note in carry.skipped_notes(reader):
                progress.warn(note)
        with open_runner(engine, scheduler) as runner:
            return describe_arrays(
                reader,
                infos,
                ALL if axis is None else axis,
                chunk_bytes=chunk_bytes,
                exclude_zeros=exclude_zeros,
                nan_policy=nan_policy,
                progress=progress,
                inspect=inspect,
                runner=runner,
                percentiles=percentiles,
            )
