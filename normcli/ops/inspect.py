"""What to look at besides the statistics: histograms, samples of images, rank order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from normcli.engines.base import as_stream_shape, stream_chunks
from normcli.errors import InputError
from normcli.histogram import BinCounter, Histogram, ValueRange, needs_bounds
from normcli.io import ONE_ARRAY_FORMATS, ArrayInfo, Reader, open_reader, rows_per_chunk
from normcli.ops.options import Inspect, NormalizeOptions
from normcli.ops.reports import ArrayReport
from normcli.ranks import RankCheck, RankResult
from normcli.reporting import Reporter
from normcli.stats import Accumulator


def is_image(shape: Sequence[int]) -> bool:
    """(N, H, W) or (N, H, W, C) with C in 1, 3, 4: samples can be shown as pictures."""
    shape = tuple(shape)
    if len(shape) == 3:
        return shape[1] >= 4 and shape[2] >= 4
    if len(shape) == 4:
        return shape[1] >= 4 and shape[2] >= 4 and shape[3] in (1, 3, 4)
    return False


def first_samples(reader: Reader, info: ArrayInfo, count: int) -> np.ndarray:
    """A copy of the first ``count`` rows of an array (one small read)."""
    for chunk in reader.iter_chunks(info.name, max(1, min(count, info.rows))):
        return np.array(chunk, copy=True)
    return np.empty((0, *info.shape[1:]), dtype=info.dtype)


def _finite_bounds(stats: dict) -> tuple[float, float] | None:
    """(min, max) over every slice, when both are finite (else a range pass is needed)."""
    lo = np.asarray(stats["min"], dtype=np.float64)
    hi = np.asarray(stats["max"], dtype=np.float64)
    if np.isnan(lo).all():
        return None
    lo, hi = float(np.nanmin(lo)), float(np.nanmax(hi))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return None
    return lo, hi


def describe_histograms(
    reader: Reader,
    info: ArrayInfo,
    acc: Accumulator,
    stats: dict,
    inspect: Inspect,
    chunk_bytes: int,
    progress: Reporter,
) -> dict[str, Histogram]:
    """The histograms of one array described: no pass for 8/16-bit integers over all
    axes (their exact counts are already made), else at most a range pass (only when
    the statistics do not give the range) and one counting pass."""
    views = sorted(inspect.views())
    if acc.hist is not None:
        return {
            v: BinCounter.from_int_histogram(
                acc.hist, inspect.bins, exclude_zeros=v == "nonzero"
            ).result()
            for v in views
        }
    bounds: dict[str, tuple[float, float] | None] = {}
    if needs_bounds(info.dtype):
        described = "nonzero" if acc.exclude_zeros else "all"
        known = _finite_bounds(stats)
        if known is not None and int(np.sum(stats.get("inf", 0))) == 0:
            bounds[described] = known
        missing = [v for v in views if v not in bounds]
        if missing:
            ranges = {v: ValueRange() for v in missing}
            for chunk in stream_chunks(reader, info, chunk_bytes, progress, f"range {info.name}"):
                for v, r in ranges.items():
                    r.update(chunk, (chunk != 0) if v == "nonzero" else None)
            bounds.update({v: r.bounds() for v, r in ranges.items()})
    counters = {
        v: BinCounter(bounds.get(v), inspect.bins, info.dtype, exclude_zeros=v == "nonzero")
        for v in views
    }
    for chunk in stream_chunks(reader, info, chunk_bytes, progress, f"histogram {info.name}"):
        for counter in counters.values():
            counter.update(chunk)
    return {v: c.result() for v, c in counters.items()}


class Watch:
    """What pass 2 notes beside the statistics: the value ranges the histograms'
    bins need (before and after, all values and where the input is nonzero), and
    whether the order of values within each sample changed."""

    def __init__(self, inspect: Inspect):
        views = inspect.views()
        self.ranges = {
            (side, v): ValueRange() for side in ("before", "after") for v in sorted(views)
        }
        self.ranks = RankCheck() if inspect.check_ranks else None

    def __call__(self, chunk: np.ndarray, out: np.ndarray) -> None:
        nonzero = None
        for (side, view), r in self.ranges.items():
            if view == "nonzero" and nonzero is None:
                nonzero = chunk != 0
            r.update(chunk if side == "before" else out, nonzero if view == "nonzero" else None)
        if self.ranks is not None:
            self.ranks.update(chunk, out)


def rank_warning(where: str, ranks: RankResult) -> str:
    first = ""
    if ranks.first_changed is not None:
        first = f"; the first is sample {ranks.first_changed}"
    return (
        f"the order of the values within {ranks.changed:,} of {ranks.samples:,} samples of "
        f"{where} changed ({ranks.fraction:.1%}){first}: the normalization treats parts of "
        "each sample differently (a per-image or global normalization keeps the order)"
    )


def _aligned(chunks_a, chunks_b) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The same rows of two arrays side by side, whatever chunks each reader yields
    (an HDF5 reader aligns its reads to the dataset's own chunks)."""
    a = b = None
    ia = ib = 0
    while True:
        if a is None or ia == a.shape[0]:
            a = next(chunks_a, None)
            if a is None:
                return
            a, ia = as_stream_shape(a), 0
        if b is None or ib == b.shape[0]:
            b = next(chunks_b, None)
            if b is None:
                raise InputError("the written OUTPUT has fewer rows than INPUT")
            b, ib = as_stream_shape(b), 0
        n = min(a.shape[0] - ia, b.shape[0] - ib)
        yield a[ia : ia + n], b[ib : ib + n]
        ia += n
        ib += n


def normalize_histograms(
    reader: Reader,
    output_path,
    report: ArrayReport,
    info: ArrayInfo,
    watch: Watch,
    inspect: Inspect,
    options: NormalizeOptions,
    progress: Reporter,
    written_files: list[str] | None = None,
) -> None:
    """One pass over INPUT and the written OUTPUT side by side: the histograms before
    and after ("nonzero": where the input value is nonzero, so the same pixels are
    left out of both), and the first samples of image data.

    ``written_files``: for an image-folder OUTPUT, the file of each row as written;
    the folder must read back in that order for its rows to pair with INPUT's.
    """

    views = sorted(inspect.views())
    dtypes = {"before": info.dtype, "after": report.dtype_out}
    counters = {
        side: {
            v: BinCounter(
                watch.ranges[(side, v)].bounds(),
                inspect.bins,
                dtypes[side],
                exclude_zeros=False,
            )
            for v in views
        }
        for side in ("before", "after")
    }
    want_samples = inspect.plot and is_image(info.shape)
    kept_before: list[np.ndarray] = []
    kept_after: list[np.ndarray] = []
    rows = rows_per_chunk(info, options.chunk_bytes)
    with open_reader(output_path) as written:
        out_name = info.name if written.format not in ONE_ARRAY_FORMATS else written.names()[0]
        if written_files and written.texts().get("filenames") != written_files:
            progress.warn(
                f"{output_path}: no histograms or samples of {info.name}: its image files do "
                "not read back in the order they were written"
            )
            return
        pairs = _aligned(reader.iter_chunks(info.name, rows), written.iter_chunks(out_name, rows))
        with progress.task(f"histogram {info.name}", info.nbytes) as task:
            for chunk, out in pairs:
                out = out.reshape(chunk.shape)  # an image folder reads (N, H, W, 1) as (N, H, W)
                nonzero = (chunk != 0) if "nonzero" in views else None
                for side, data in (("before", chunk), ("after", out)):
                    for v, counter in counters[side].items():
                        counter.update(data, nonzero if v == "nonzero" else None)
                if want_samples and sum(len(k) for k in kept_before) < inspect.samples:
                    need = inspect.samples - sum(len(k) for k in kept_before)
                    kept_before.append(np.array(chunk[:need], copy=True))
                    kept_after.append(np.array(out[:need], copy=True))
                task.advance(chunk.nbytes)
    report.histograms = {
        side: {v: c.result() for v, c in counters[side].items()} for side in counters
    }
    for hists in report.histograms.values():
        if "nonzero" in hists:
            hists["nonzero"].zeros_excluded = True
    if want_samples:
        report.samples = (np.concatenate(kept_before), np.concatenate(kept_after))
