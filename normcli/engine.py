"""The plan: stream arrays through statistics and normalizers, chunk by chunk.

``describe_arrays`` is one pass of :class:`normcli.stats.Accumulator` per array.
``normalize`` (below) is pass 1 (fit and before-statistics) when the statistic spans
samples, then pass 2 (transform, write, after-statistics on the values written).
Nothing here knows about click or rich: progress is reported to a
:class:`Progress` the caller passes in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from normcli.axes import ALL, AxisSpec, resolve_axes
from normcli.errors import InputError, ParameterError
from normcli.io import ArrayInfo, Reader, rows_per_chunk
from normcli.stats import Accumulator, describe

DEFAULT_CHUNK = 64 * 1024 * 1024
NAN_POLICIES = ("raise", "omit", "propagate")


class Progress:
    """Where the engine reports progress; this base class reports nowhere."""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Progress]:
        yield self

    def advance(self, amount: int) -> None:
        pass

    def warn(self, message: str) -> None:
        """A warning for stderr (the caller decides how to show it)."""


@contextlib.contextmanager
def single_blas_thread():
    """Run the kernels with one BLAS thread (faster here, and fair to the other core)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def select_arrays(
    reader: Reader, keys: Sequence[str] | None, *, default_all: bool
) -> list[ArrayInfo]:
    """The arrays named by ``-k`` (in that order), or the default selection.

    Without keys, ``default_all`` selects every array (``describe``, ``ls``); otherwise a
    file holding one array uses it and a file holding several is an error listing them.
    """
    arrays = reader.arrays()
    if keys:
        by_name = {a.name: a for a in arrays}
        chosen = []
        for key in keys:
            if key not in by_name:
                listing = ", ".join(by_name) or "no arrays"
                raise ParameterError(f"no array {key!r} in {reader.path}; it holds: {listing}")
            if by_name[key] not in chosen:
                chosen.append(by_name[key])
        return chosen
    if not arrays:
        raise InputError(f"{reader.path} holds no arrays")
    if default_all or len(arrays) == 1:
        return arrays
    raise ParameterError(
        f"{reader.path} holds several arrays ({', '.join(a.name for a in arrays)}); "
        "choose with -k/--key NAME"
    )


def check_not_empty(reader: Reader, info: ArrayInfo) -> None:
    if info.size == 0:
        raise InputError(
            f"{reader.path}:{info.name} is empty (shape {tuple(info.shape)}); "
            "there is nothing to describe or normalize"
        )


@dataclass
class ArrayStats:
    """The statistics of one array, as ``describe`` reports them."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: tuple[int, ...] | None  # None: over all axes
    stats: dict[str, np.ndarray]
    extra: dict = field(default_factory=dict)


def stats_of(
    reader: Reader,
    info: ArrayInfo,
    axes: tuple[int, ...],
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    progress: Progress | None = None,
    label: str | None = None,
):
    """The Moments of one array over ``axes``, streamed."""
    progress = progress or Progress()
    acc = Accumulator(info.shape, info.dtype, axes, exclude_zeros=exclude_zeros)
    rows = rows_per_chunk(info, chunk_bytes)
    with progress.task(label or f"describe {info.name}", info.nbytes) as task:
        for chunk in reader.iter_chunks(info.name, rows):
            acc.update(chunk)
            task.advance(chunk.nbytes)
    return acc.result()


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
    progress: Progress | None = None,
) -> list[ArrayStats]:
    """``describe``: scipy.stats.describe's figures for each array, streamed."""
    progress = progress or Progress()
    results = []
    with single_blas_thread():
        for info in infos:
            check_not_empty(reader, info)
            axes = resolve_axes(axis, len(info.shape), f"{reader.path}:{info.name}")
            m = stats_of(
                reader, info, axes, chunk_bytes=chunk_bytes, exclude_zeros=exclude_zeros,
                progress=progress,
            )  # fmt: skip
            stats = describe(m, nan_policy=nan_policy)
            apply_nan_policy(reader, info, stats, nan_policy)
            n_nan = int(np.sum(stats["nan"]))
            if n_nan and nan_policy == "omit":
                progress.warn(
                    f"{reader.path}:{info.name} holds {n_nan} NaN value"
                    f"{'s' if n_nan != 1 else ''}; they are left out of the statistics"
                )
            results.append(
                ArrayStats(
                    info.name,
                    tuple(info.shape),
                    info.dtype,
                    None if axis == ALL or axes == tuple(range(len(info.shape))) else axes,
                    stats,
                )
            )
    return results
