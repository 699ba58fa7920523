"""The passes of exact percentiles over an array (see normcli.quantiles).

:func:`run_passes` repeats a runner's scan with a consumer that needs several passes
(a :class:`~normcli.quantiles.PercentileScan`, a robust or quantile fit) until it is
done. ``describe --percentiles`` makes its first pass together with the statistics
(:func:`fused_consumers`), or none at all for 8- and 16-bit integers over all axes,
whose exact value counts the statistics pass already made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from normcli.quantiles import DEFAULT_PERCENTILES, PercentileScan, percentile_label


@dataclass(frozen=True)
class PercentileRequest:
    """``--percentiles`` (in percent) and ``--percentile-method``."""

    percents: tuple[float, ...] = DEFAULT_PERCENTILES
    method: str = "linear"


def percentile_scan(shape, dtype, axes, request: PercentileRequest, nan_policy, exclude_zeros):
    q = np.asarray(request.percents, dtype=np.float64) / 100.0
    return PercentileScan(
        shape, dtype, axes, q, request.method, nan_policy=nan_policy, exclude_zeros=exclude_zeros
    )


def fused_consumers(scan: PercentileScan | None, acc) -> list:
    """The consumers that join the statistics pass: the scan, unless the Accumulator's
    exact counts will give its first pass."""
    if scan is None or _from_counts(scan, acc):
        return []
    return [scan]


def _from_counts(scan: PercentileScan, acc) -> bool:
    return acc.hist is not None and scan.search is not None and scan.search.K == 1


def run_passes(scan, runner, reader, info, *, chunk_bytes, progress, label, first_done=False):
    """Scan until ``scan.done`` (``first_done``: its first pass was fused with another)."""
    if first_done:
        scan.end_pass()
    while not scan.done:
        runner.scan(
            reader,
            info,
            [scan],
            chunk_bytes=chunk_bytes,
            progress=progress,
            label=f"{label} (pass {scan.passes + 1})",
        )
        scan.end_pass()


def describe_percentiles(
    scan, request: PercentileRequest, acc, runner, reader, info, *, chunk_bytes, progress
) -> dict:
    """The percentiles of one described array, as ``{"p50": array, ...}`` (float64,
    shaped as the axes kept), after the statistics pass."""
    if _from_counts(scan, acc):
        counts = acc.hist.counts.copy()
        if scan.exclude_zeros:
            counts[acc.hist.offset] = 0
        scan.search.absorb_counts(counts)
    run_passes(
        scan, runner, reader, info, chunk_bytes=chunk_bytes, progress=progress,
        label=f"percentiles {info.name}", first_done=True,
    )  # fmt: skip
    values = scan.result()
    return {percentile_label(p): values[i] for i, p in enumerate(request.percents)}
