"""``check``: judge assertions on every selected array, one streamed pass each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from normcli.axes import ALL, AxisSpec, resolve_axes
from normcli.checks import (
    DEFAULT_TOL,
    NormAccumulator,
    judge_mean_std,
    judge_range,
    judge_unit_norm,
)
from normcli.documents import check_document
from normcli.engines import DEFAULT_CHUNK, single_blas_thread
from normcli.engines.base import stream_chunks, stream_shape
from normcli.io import ReadOptions
from normcli.ops.select import check_not_empty, open_input, select_arrays
from normcli.ragged import is_ragged, shape_json, source_for
from normcli.reporting import Reporter
from normcli.stats import Accumulator


@dataclass
class CheckedArray:
    name: str
    shape: tuple[int, ...]
    where: str
    outcomes: list


@dataclass
class CheckReport:
    input: str
    arrays: list[CheckedArray]

    @property
    def passed(self) -> bool:
        return all(o.passed for a in self.arrays for o in a.outcomes)

    def document(self) -> dict:
        """What ``check --json`` prints."""
        return check_document(self)

    def failure_message(self) -> str | None:
        """The first failure, and how many more there are (None when all passed)."""
        first = self.first_failure()
        if first is None:
            return None
        failures = sum(not o.passed for a in self.arrays for o in a.outcomes)
        return first + (f" (and {failures - 1} more failing)" if failures > 1 else "")

    def first_failure(self) -> str | None:
        for a in self.arrays:
            for o in a.outcomes:
                if not o.passed:
                    return f"{a.where}: {o.message}"
        return None


def check_file(
    input_path,
    keys: Sequence[str],
    assertions,
    axis: AxisSpec | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    read: ReadOptions | None = None,
    progress: Reporter | None = None,
) -> CheckReport:
    """``check``: judge the assertions on every selected array, one streamed pass each.

    ``axis`` gives the reduce axes (default: all for --range/--mean/--std, -1 for
    --unit-norm, as lp's default); every kept slice must satisfy each assertion.
    """

    progress = progress or Reporter()
    checked = []
    with open_input(input_path, read, progress) as reader, single_blas_thread():
        for info in select_arrays(reader, keys, default_all=False):
            check_not_empty(reader, info)
            where = f"{reader.path}:{info.name}"
            shape = stream_shape(info)
            ndim = len(shape)
            acc = norms = None
            axes = None
            source, per_image = reader, None
            if assertions.needs_moments:
                axes = resolve_axes(axis if axis is not None else ALL, ndim, where)
                source, source_info, per_image = source_for(reader, info, axes)
                acc = Accumulator(stream_shape(source_info), info.dtype, axes)
            if assertions.unit_norm and is_ragged(info):
                raise reader.ragged_error("be checked with --unit-norm")
            if assertions.unit_norm:
                norms = NormAccumulator(
                    shape, axis if axis is not None else (-1,), assertions.order, where
                )
            chunks = () if per_image is not None else stream_chunks(
                source, source.info(info.name), chunk_bytes, progress, f"check {info.name}"
            )  # fmt: skip
            for chunk in chunks:
                if acc is not None:
                    acc.update(chunk)
                if norms is not None:
                    norms.update(chunk)
            outcomes = []
            if acc is not None:
                m = acc.result() if per_image is None else per_image
                kept = tuple(i for i in range(ndim) if i not in axes)
                if assertions.value_range is not None:
                    lo, hi = assertions.value_range
                    tol = assertions.tol if assertions.tol is not None else 0.0
                    outcomes.append(judge_range(m, kept, lo, hi, tol))
                if assertions.mean is not None or assertions.std is not None:
                    tol = assertions.tol if assertions.tol is not None else DEFAULT_TOL
                    outcomes.extend(
                        judge_mean_std(
                            m, kept, assertions.mean, assertions.std, assertions.ddof, tol
                        )
                    )
            if norms is not None:
                tol = assertions.tol if assertions.tol is not None else DEFAULT_TOL
                kept = tuple(i for i in range(ndim) if i not in norms.axes)
                outcomes.append(
                    judge_unit_norm(norms.result(), kept, norms.axes, assertions.order, tol)
                )
            checked.append(CheckedArray(info.name, tuple(shape_json(info)), where, outcomes))
    return CheckReport(str(input_path), checked)
