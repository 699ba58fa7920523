"""Exact, mergeable statistics over any set of reduce axes.

A :class:`Moments` holds, for every element of the *kept* shape (the array's shape
without the reduce axes), the count ``n``, the mean and the central sums
``M2 = sum((x - mean)**2)``, ``M3`` and ``M4``, plus min, max and counts of NaN,
infinities and zeros. Two Moments over disjoint parts of the data merge into the
Moments of their union with the formulas of Chan, Golub & LeVeque (M2) and Pébay
(M3, M4), so any chunking gives the figures of one pass over the whole array.

Precision, all in float64:

* The data are cut into fixed groups of rows (about 256K values, counted from the
  array's first row, whatever the chunks: see :class:`GridFold`), whose figures are
  merged in order; so every chunking gives the same figures to the bit.
* Each piece of at most 256K values is centred on its own approximate mean before
  the powers are summed, and the residual of that centre is folded back exactly,
  so badly conditioned data (values near 1e8 with unit spread) lose nothing.
* Means are kept relative to a common ``shift`` (an early value of the data), so the
  difference of two block means, which the merge multiplies by large counts, is
  computed between small numbers rather than between two values near 1e8.
* 8- and 16-bit integers over all axes are counted exactly (:class:`IntHistogram`)
  and their moments computed from at most 65536 distinct values.

NaN is left out of every moment and counted; min and max ignore it. Whether NaN
should raise, propagate or be omitted is the caller's policy (:func:`describe`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

#: The fields of a described statistic, in scipy.stats.describe's order, then counts.
STAT_FIELDS = (
    "nobs",
    "min",
    "max",
    "mean",
    "variance",
    "skewness",
    "kurtosis",
    "std",
    "nan",
    "inf",
    "zeros",
)


#: Fields that are counts (integers) rather than floats.
COUNT_FIELDS = ("nobs", "nan", "inf", "zeros")


_EPS = np.finfo(np.float64).eps


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


@dataclass
class Moments:
    """Mergeable statistics; every field is an array of the kept shape."""

    n: np.ndarray  # int64: values counted (NaN left out)
    shift: np.ndarray  # float64: the origin means are kept relative to
    dmean: np.ndarray  # float64: mean - shift
    m2: np.ndarray
    m3: np.ndarray
    m4: np.ndarray
    min: np.ndarray
    max: np.ndarray
    nan: np.ndarray  # int64
    inf: np.ndarray  # int64
    zeros: np.ndarray  # int64

    # -- construction -------------------------------------------------------------

    @classmethod
    def empty(cls, shape: tuple[int, ...] = ()) -> Moments:
        """The Moments of no data: the identity of :meth:`merge`."""
        z = np.zeros(shape, dtype=np.float64)
        i = np.zeros(shape, dtype=np.int64)
        return cls(
            n=i.copy(),
            shift=z.copy(),
            dmean=z.copy(),
            m2=z.copy(),
            m3=z.copy(),
            m4=z.copy(),
            min=np.full(shape, np.nan),
            max=np.full(shape, np.nan),
            nan=i.copy(),
            inf=i.copy(),
            zeros=i.copy(),
        )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.n.shape

    @property
    def mean(self) -> np.ndarray:
        return self.shift + self.dmean

    def rebase(self, shift: np.ndarray) -> Moments:
        """The same Moments with means kept relative to ``shift``."""
        shift = np.broadcast_to(_f64(shift), self.shape)
        if np.array_equal(shift, self.shift, equal_nan=True):
            return self
        dmean = np.where(self.n > 0, (self.shift - shift) + self.dmean, 0.0)
        return Moments(
            self.n,
            shift.copy(),
            dmean,
            self.m2,
            self.m3,
            self.m4,
            self.min,
            self.max,
            self.nan,
            self.inf,
            self.zeros,
        )

    # -- combination --------------------------------------------------------------

    def merge(self, other: Moments) -> Moments:
        """The Moments of the union of the data behind ``self`` and ``other``.

        Both must have the same kept shape (they describe different samples of the
        same statistic). ``other`` is rebased onto ``self``'s shift when they differ.
        """
        if other.shape != self.shape:
            raise ValueError(f"cannot merge statistics of shape {self.shape} and {other.shape}")
        a = self
        b = other.rebase(np.where(a.n > 0, a.shift, other.shift))
        a = a.rebase(b.shift)
        na = a.n.astype(np.float64)
        nb = b.n.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            both = (na > 0) & (nb > 0)
            # an empty side contributes nothing; keep the other's mean exactly
            da = np.where(na > 0, a.dmean, b.dmean)
            db = np.where(nb > 0, b.dmean, a.dmean)
            dmean, m2, m3, m4 = _combine(na, nb, da, db, a.m2, b.m2, a.m3, b.m3, a.m4, b.m4)
            empty = ~both
            dmean = np.where(empty, da, dmean)
            m2 = np.where(empty, a.m2 + b.m2, m2)
            m3 = np.where(empty, a.m3 + b.m3, m3)
            m4 = np.where(empty, a.m4 + b.m4, m4)
        return Moments(
            n=a.n + b.n,
            shift=b.shift,
            dmean=dmean,
            m2=m2,
            m3=m3,
            m4=m4,
            min=np.fmin(a.min, b.min),
            max=np.fmax(a.max, b.max),
            nan=a.nan + b.nan,
            inf=a.inf + b.inf,
            zeros=a.zeros + b.zeros,
        )

    @classmethod
    def concat(cls, parts: Sequence[Moments]) -> Moments:
        """Stack Moments of consecutive rows along the kept axis 0 (no reduction)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        fields = {}
        for name in cls.__dataclass_fields__:
            fields[name] = np.concatenate([getattr(p, name) for p in parts], axis=0)
        return cls(**fields)

    @classmethod
    def merge_all(cls, parts: Iterable[Moments]) -> Moments:
        result = None
        for part in parts:
            result = part if result is None else result.merge(part)
        if result is None:
            raise ValueError("nothing to merge")
        return result


def _central(n, s1, s2, s3, s4):
    """Central sums about the mean from power sums about an approximate centre."""
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(n > 0, s1 / np.maximum(n, 1), 0.0)
    m2 = s2 - d * s1
    m3 = s3 - 3.0 * d * s2 + 2.0 * n * d**3
    m4 = s4 - 4.0 * d * s3 + 6.0 * d * d * s2 - 3.0 * n * d**4
    return d, m2, m3, m4


def _combine(na, nb, da, db, a2, b2, a3, b3, a4, b4):
    """Chan, Golub & LeVeque (M2) and Pébay (M3, M4): the union of two parts.

    ``na``/``nb`` are counts (both > 0), ``da``/``db`` the means relative to one
    common origin, ``a2``..``b4`` the central sums. Plain arithmetic, so it serves
    Python floats (the per-block fast path) and numpy arrays (kept axes) alike.
    Returns the union's mean (same origin) and its M2, M3, M4.
    """
    n = na + nb
    fa = na / n
    fb = nb / n
    delta = db - da
    nab = na * fb  # na * nb / n
    d2 = delta * delta
    m2 = a2 + b2 + d2 * nab
    m3 = a3 + b3 + d2 * delta * nab * (fa - fb) + 3.0 * delta * (fa * b2 - fb * a2)
    m4 = (
        a4
        + b4
        + d2 * d2 * nab * (fa * fa - fa * fb + fb * fb)
        + 6.0 * d2 * (fa * fa * b2 + fb * fb * a2)
        + 4.0 * delta * (fa * b3 - fb * a3)
    )
    return da + delta * fb, m2, m3, m4


def describe(m: Moments, *, nan_policy: str = "omit") -> dict[str, np.ndarray]:
    """scipy.stats.describe's figures (plus std and counts) from Moments.

    ``nobs``, ``min``, ``max``, ``mean``, ``variance`` (ddof=1), ``skewness`` (biased
    g1), ``kurtosis`` (Fisher, biased g2), ``std`` (sqrt of variance), and the counts
    ``nan``, ``inf``, ``zeros``. Like scipy, skewness and kurtosis are NaN when the
    data are constant to within float64's resolution. With ``nan_policy="propagate"``
    every figure but the counts is NaN where NaN was seen.
    """
    n = m.n.astype(np.float64)
    mean = m.mean
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        variance = np.where(n > 1, m.m2 / np.maximum(n - 1, 1), np.nan)
        m2n = m.m2 / n
        zero = m2n <= (_EPS * mean) ** 2
        skew = np.where(zero | (n == 0), np.nan, (m.m3 / n) / m2n**1.5)
        kurt = np.where(zero | (n == 0), np.nan, (m.m4 / n) / (m2n * m2n) - 3.0)
        std = np.sqrt(variance)
    mean = np.where(n > 0, mean, np.nan)
    out = {
        "nobs": m.n.copy(),
        "min": m.min.copy(),
        "max": m.max.copy(),
        "mean": mean,
        "variance": variance,
        "skewness": skew,
        "kurtosis": kurt,
        "std": std,
        "nan": m.nan.copy(),
        "inf": m.inf.copy(),
        "zeros": m.zeros.copy(),
    }
    if nan_policy == "propagate":
        seen = m.nan > 0
        for key in ("min", "max", "mean", "variance", "skewness", "kurtosis", "std"):
            out[key] = np.where(seen, np.nan, out[key])
    return out


def to_python(stats: dict[str, np.ndarray]) -> dict[str, object]:
    """Plain Python numbers (nested lists for kept axes) for JSON; NaN/inf become None."""

    def convert(value, count: bool):
        arr = np.asarray(value)
        if count:
            return arr.astype(np.int64).tolist()
        listed = arr.astype(np.float64).tolist()
        return _finite_or_none(listed)

    return {k: convert(v, k in COUNT_FIELDS) for k, v in stats.items()}


def _finite_or_none(value):
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value if math.isfinite(value) else None
