"""Assertions about a dataset, for ``normcli check``: value range, mean and std, unit norm.

Each assertion is judged from figures streamed over the data (the
:class:`normcli.moments.Moments` of the reduce axes, or the Lp norms of each slice) and
gives an :class:`Outcome`: passed or not, and one line saying what was found. With
reduce axes that keep some axes, every kept slice must satisfy the assertion and the
line names the worst slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from normcli.axes import AxisSpec, format_axis
from normcli.moments import Moments
from normcli.normalizers import Lp

#: Absolute tolerance of --mean, --std and --unit-norm when --tol is not given.
DEFAULT_TOL = 1e-4


@dataclass
class Assertions:
    """What ``check`` asserts; None where not asked."""

    value_range: tuple[float, float] | None = None
    mean: float | None = None
    std: float | None = None
    unit_norm: bool = False
    order: float = 2.0
    ddof: int = 0
    tol: float | None = None

    @property
    def needs_moments(self) -> bool:
        return self.value_range is not None or self.mean is not None or self.std is not None

    def any(self) -> bool:
        return self.needs_moments or self.unit_norm


@dataclass
class Outcome:
    check: str  # "range", "mean", "std" or "unit-norm"
    passed: bool
    message: str  # one line: what was found
    figures: dict = field(default_factory=dict)

    def document(self) -> dict:
        return {
            "check": self.check,
            "passed": self.passed,
            "message": self.message,
            **self.figures,
        }


def fmt(value: float) -> str:
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.7g}"


def _slice_name(kept_axes: tuple[int, ...], kept_shape: tuple[int, ...], flat: int) -> str:
    """Where the worst value is: ``sample 5``, ``slice [3, 1]`` (of the axes kept)."""
    if not kept_shape:
        return ""
    index = tuple(int(i) for i in np.unravel_index(flat, kept_shape))
    if kept_axes == (0,):
        return f" in sample {index[0]}"
    return f" in slice [{', '.join(map(str, index))}] of axes {format_axis(kept_axes)}"


def _count_note(bad: np.ndarray, kept_shape) -> str:
    if not kept_shape:
        return ""
    return f"; {int(np.count_nonzero(bad)):,} of {bad.size:,} slices fail"


def _nan_note(m: Moments) -> str | None:
    n_nan = int(np.sum(m.nan))
    if n_nan:
        return f"holds {n_nan:,} NaN value{'s' if n_nan != 1 else ''}"
    return None


def judge_range(m: Moments, kept_axes, lo: float, hi: float, tol: float) -> Outcome:
    """Every value within [lo - tol, hi + tol] (NaN never is)."""
    kept = m.shape
    asked = f"(--range {fmt(lo)} {fmt(hi)})"
    nan = _nan_note(m)
    if nan:
        return Outcome("range", False, f"{nan} {asked}")
    mins, maxs = np.asarray(m.min, float), np.asarray(m.max, float)
    figures = {"min": float(np.nanmin(mins)), "max": float(np.nanmax(maxs))}
    below = mins < lo - tol
    above = maxs > hi + tol
    if below.any() or above.any():
        if below.any():
            i = int(np.argmin(mins.reshape(-1)))
            found = f"min {fmt(mins.reshape(-1)[i])}{_slice_name(kept_axes, kept, i)}"
            found += f" is below {fmt(lo)}"
        else:
            i = int(np.argmax(maxs.reshape(-1)))
            found = f"max {fmt(maxs.reshape(-1)[i])}{_slice_name(kept_axes, kept, i)}"
            found += f" is above {fmt(hi)}"
        msg = f"{found}{_count_note(below | above, kept)} {asked}"
        return Outcome("range", False, msg, figures)
    within = f"[{fmt(lo)}, {fmt(hi)}]"
    msg = f"values within {within}: min {fmt(figures['min'])}, max {fmt(figures['max'])}"
    return Outcome("range", True, msg, figures)


def _close(values: np.ndarray, target: float, tol: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(values - target) <= tol


def _judge_figure(check, values, kept_axes, kept, target, tol, label, asked) -> Outcome:
    flat = np.asarray(values, float).reshape(-1)
    ok = _close(flat, target, tol)
    with np.errstate(invalid="ignore"):
        err = np.where(np.isnan(flat), np.inf, np.abs(flat - target))
    i = int(np.argmax(err))
    figures = {check: float(flat[i]) if kept == () else [float(v) for v in flat]}
    if ok.all():
        worst = "" if not kept else " (worst slice)"
        msg = f"{label} {fmt(flat[i])}{worst} is {fmt(target)} within {fmt(tol)}"
        return Outcome(check, True, msg, figures)
    where = _slice_name(kept_axes, kept, i)
    msg = (
        f"{label} {fmt(flat[i])}{where} is not {fmt(target)} within {fmt(tol)}"
        f"{_count_note(~ok, kept)} {asked}"
    )
    return Outcome(check, False, msg, figures)


def judge_mean_std(
    m: Moments, kept_axes, mean: float | None, std: float | None, ddof: int, tol: float
) -> list[Outcome]:
    """The mean, and the std with ``ddof``, each equal to the target within ``tol``."""
    nan = _nan_note(m)
    out = []
    for check, target in (("mean", mean), ("std", std)):
        if target is None:
            continue
        asked = f"(--{check} {fmt(target)})"
        if nan:
            out.append(Outcome(check, False, f"{nan} {asked}"))
            continue
        n = m.n.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if check == "mean":
                values = np.where(n > 0, m.mean, np.nan)
                label = "mean"
            else:
                values = np.where(n > ddof, np.sqrt(m.m2 / np.maximum(n - ddof, 1)), np.nan)
                label = f"std (ddof={ddof})"
        out.append(_judge_figure(check, values, kept_axes, m.shape, target, tol, label, asked))
    return out


def judge_unit_norm(norms: np.ndarray, kept_axes, reduce_axes, order: float, tol: float) -> Outcome:
    """Every slice's Lp norm is 1 within ``tol``; all-zero slices (which lp leaves as
    they are, as keras.utils.normalize does) are allowed unless every slice is zero."""
    norms = np.asarray(norms, dtype=np.float64)
    kept = norms.shape
    p = "inf" if math.isinf(order) else fmt(order)
    label = f"L{p} norm over axes {format_axis(reduce_axes)}"
    asked = "(--unit-norm)"
    flat = norms.reshape(-1)
    zero = flat == 0
    figures = {"zero_slices": int(np.count_nonzero(zero)), "slices": int(flat.size)}
    if zero.all():
        msg = f"{label} is 0 everywhere: the data are all zeros {asked}"
        return Outcome("unit-norm", False, msg, figures)
    ok = _close(flat, 1.0, tol) | zero
    with np.errstate(invalid="ignore"):
        err = np.where(zero, 0.0, np.where(np.isnan(flat), np.inf, np.abs(flat - 1.0)))
    i = int(np.argmax(err))
    figures["worst"] = float(flat[i])
    if ok.all():
        n_zero = figures["zero_slices"]
        zeros = f"; {n_zero:,} all-zero slices left as they are" if n_zero else ""
        msg = f"{label} is 1 within {fmt(tol)} (worst {fmt(flat[i])}){zeros}"
        return Outcome("unit-norm", True, msg, figures)
    where = _slice_name(kept_axes, kept, i)
    msg = (
        f"{label} is {fmt(flat[i])}{where}, not 1 within {fmt(tol)}{_count_note(~ok, kept)} {asked}"
    )
    return Outcome("unit-norm", False, msg, figures)


class NormAccumulator:
    """The Lp norm of every slice over ``axis``, streamed over chunks of rows."""

    def __init__(self, shape: tuple[int, ...], axis: AxisSpec, order: float, where: str):
        self.lp = Lp(axis, order=order, nan_policy="propagate").bind(shape, where)
        self.axes = self.lp.axes_
        self._parts: list[np.ndarray] = []

    def update(self, chunk: np.ndarray) -> None:
        if self.lp.spans_samples:
            self.lp.partial_fit(chunk)
        else:
            self._parts.append(self.lp.slice_norms(chunk))

    def result(self) -> np.ndarray:
        if self.lp.spans_samples:
            return np.asarray(self.lp.norm(self.lp.state_), dtype=np.float64)
        return np.concatenate(self._parts, axis=0)
