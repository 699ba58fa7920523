"""Does a normalization keep the order of the values within each sample?

A normalization that treats a whole sample alike (global, per image, per channel with
one scale for all channels) maps every sample by one increasing function, so the
order of its values survives: x_i < x_j gives y_i <= y_j (rounding to float32 may tie
two close values, never swap them) and x_i == x_j gives y_i == y_j. The wrong-axis
mistake (``lp --axis 1`` on images: one scale per column) breaks that, and so does
any per-feature scaling of tabular rows, by design. :class:`RankCheck` counts the
samples (rows along axis 0) where the order changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from normcli.grid import BLOCK


@dataclass
class RankResult:
    samples: int
    changed: int
    #: Index of the first sample whose order changed, or None.
    first_changed: int | None

    @property
    def fraction(self) -> float:
        return self.changed / self.samples if self.samples else 0.0

    def document(self) -> dict:
        return {
            "samples": self.samples,
            "changed": self.changed,
            "fraction_changed": self.fraction,
            "first_changed": self.first_changed,
        }


def changed_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each row (sample) of ``x`` and its normalized ``y``: did the order change?

    Sorting a row by x, the order is kept when y never decreases where x increases and
    stays equal where x ties; pairs involving NaN are not judged.
    """
    rows = x.shape[0] if x.ndim else 1
    x2 = np.asarray(x).reshape(rows, -1)
    y2 = np.asarray(y).reshape(rows, -1)
    if x2.shape[1] < 2:
        return np.zeros(rows, dtype=bool)
    # Any sort does (ties form one run whatever their order); numpy's stable sort is a
    # radix sort for 8/16-bit integers, several times faster there, quicksort elsewhere.
    small_ints = x2.dtype.kind in "biu" and x2.dtype.itemsize <= 2
    order = np.argsort(x2, axis=1, kind="stable" if small_ints else "quicksort")
    xs = np.take_along_axis(x2, order, axis=1)
    ys = np.take_along_axis(y2, order, axis=1)
    x0, x1 = xs[:, :-1], xs[:, 1:]
    y0, y1 = ys[:, :-1], ys[:, 1:]
    with np.errstate(invalid="ignore"):
        bad = ((x1 > x0) & (y1 < y0)) | ((x1 == x0) & (y1 != y0))
    if ys.dtype.kind == "f":
        bad &= ~(np.isnan(y0) | np.isnan(y1))
    return bad.any(axis=1)


class RankCheck:
    """Counts, over streamed chunks of rows, the samples whose value order changed."""

    def __init__(self):
        self.samples = 0
        self.changed = 0
        self.first_changed: int | None = None

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        if x.shape != y.shape:
            raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
        if x.ndim == 0:
            x, y = x.reshape(1), y.reshape(1)
        rows = x.shape[0] if x.ndim else 1
        per_row = max(1, math.prod(x.shape[1:]))
        step = max(1, BLOCK // per_row)  # argsort's int64 indices stay small
        for start in range(0, rows, step):
            bad = changed_rows(x[start : start + step], y[start : start + step])
            n_bad = int(np.count_nonzero(bad))
            if n_bad and self.first_changed is None:
                self.first_changed = self.samples + start + int(np.argmax(bad))
            self.changed += n_bad
        self.samples += rows

    def result(self) -> RankResult:
        return RankResult(self.samples, self.changed, self.first_changed)
