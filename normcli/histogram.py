"""Exact histograms of streamed arrays, bin for bin what numpy.histogram gives.

Bins are ``bins`` equal intervals between the data's min and max (the last one closed),
as ``numpy.histogram(values, bins)`` makes them. The range comes first, from a streamed
:class:`ValueRange` (or the statistics already computed); then a :class:`BinCounter`
counts every chunk. 8- and 16-bit integers are counted value by value
(:class:`normcli.inthist.IntHistogram`) and folded into the bins at the end, which is
exact and needs no range up front; other dtypes go through ``numpy.histogram`` per
chunk with the same edges, so the sum over chunks is the histogram of the whole.

NaN and infinities are never counted in a bin; they are counted in ``nonfinite``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from normcli.inthist import IntHistogram, histogram_supported

#: Bins of a histogram when the user does not say (``--bins``).
DEFAULT_BINS = 40


@dataclass
class Histogram:
    """Counts of values in ``len(edges) - 1`` bins; the last bin includes its right edge."""

    edges: np.ndarray  # float64, bins + 1
    counts: np.ndarray  # int64, bins
    #: True when zeros were left out (of the values, or where the input was zero).
    zeros_excluded: bool = False
    #: NaN and infinite values seen (never in a bin).
    nonfinite: int = 0

    @property
    def bins(self) -> int:
        return int(self.counts.size)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def document(self) -> dict:
        """JSON-ready: edges and counts as lists."""
        return {
            "bins": self.bins,
            "range": [float(self.edges[0]), float(self.edges[-1])],
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "zeros_excluded": self.zeros_excluded,
            "nonfinite": self.nonfinite,
        }


class ValueRange:
    """The finite min and max of streamed values, optionally only where ``keep`` holds."""

    def __init__(self):
        self.lo = math.inf
        self.hi = -math.inf
        self.nonfinite = 0

    def update(self, chunk: np.ndarray, keep: np.ndarray | None = None) -> None:
        x = np.asarray(chunk)
        if x.dtype.kind == "b":
            x = x.view(np.uint8)
        where = keep
        if x.dtype.kind == "f":
            finite = np.isfinite(x)
            if not finite.all():
                self.nonfinite += int(x.size - np.count_nonzero(finite))
                where = finite if where is None else (finite & where)
        values = x if where is None else x[where]
        if values.size:
            self.lo = min(self.lo, float(values.min()))
            self.hi = max(self.hi, float(values.max()))

    @property
    def empty(self) -> bool:
        return self.lo > self.hi

    def bounds(self) -> tuple[float, float] | None:
        """(min, max), or None when no finite value was seen."""
        return None if self.empty else (self.lo, self.hi)


def _numpy_range(lo: float, hi: float, dtype: np.dtype):
    """The range as numpy.histogram(values, bins) would find it: scalars of the data's
    dtype for floats (so the edges are computed in that dtype, as numpy does), Python
    floats for integers (numpy computes their edges in float64)."""
    if dtype.kind == "f":
        return dtype.type(lo), dtype.type(hi)
    return float(lo), float(hi)


def _probe(dtype: np.dtype) -> np.ndarray:
    return np.empty(0, dtype=dtype if dtype.kind == "f" else np.float64)


def _bins_fit(value_range, bins: int, dtype: np.dtype) -> bool:
    """Can numpy make ``bins`` finite, increasing bins over the range in ``dtype``?"""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            _, edges = np.histogram(_probe(dtype), bins=bins, range=value_range)
    except ValueError:
        return False
    # numpy 2.0 gives equal edges where later versions raise ValueError
    return bool(np.all(np.isfinite(edges)) and np.all(edges[1:] > edges[:-1]))


def needs_bounds(dtype: np.dtype) -> bool:
    """False for the dtypes counted value by value (their range comes for free)."""
    dtype = np.dtype(dtype)
    return not (dtype.kind == "b" or histogram_supported(dtype))


class BinCounter:
    """Counts streamed values into ``bins`` equal bins over [min, max] of the values.

    ``bounds`` must be the (min, max) of the finite values that will be counted (None
    when there are none: numpy's empty range 0..1 is used). 8- and 16-bit integers
    (:func:`needs_bounds` is False) ignore it: their exact counts give the range at the
    end. ``exclude_zeros`` leaves zero values out; ``update(chunk, keep)`` counts only
    where the boolean mask ``keep`` holds.
    """

    def __init__(
        self,
        bounds: tuple[float, float] | None,
        bins: int,
        dtype: np.dtype,
        *,
        exclude_zeros: bool = False,
    ):
        if bins < 1:
            raise ValueError("a histogram needs at least one bin")
        dtype = np.dtype(dtype)
        if dtype.kind == "b":
            dtype = np.dtype(np.uint8)
        self.dtype = dtype.newbyteorder("=")
        self.bins = bins
        self.exclude_zeros = exclude_zeros
        self.nonfinite = 0
        # no values: numpy's range for empty data, 0..1 as Python ints
        self.range = _numpy_range(*bounds, self.dtype) if bounds is not None else (0, 1)
        self.exact = histogram_supported(self.dtype)
        self.work_dtype = self.dtype
        if not self.exact and not _bins_fit(self.range, bins, self.dtype):
            # numpy cannot make these bins in the data's dtype (float16 or float32 with a
            # range too narrow for its resolution): count in float64, widened if need be
            self.work_dtype = np.dtype(np.float64)
            lo, hi = (float(b) for b in self.range)
            if not _bins_fit((lo, hi), bins, self.work_dtype):
                pad = max(abs(lo), abs(hi), 1.0) * 1e-9 * bins
                lo, hi = lo - pad, hi + pad
            self.range = (lo, hi)
        self._values = IntHistogram(self.dtype) if self.exact else None
        self._counts = np.zeros(bins, dtype=np.int64)

    @classmethod
    def from_int_histogram(
        cls,
        counts: IntHistogram,
        bins: int,
        *,
        exclude_zeros: bool = False,
    ) -> BinCounter:
        """A counter holding exact value counts already made (no second pass)."""
        counter = cls(None, bins, counts.dtype, exclude_zeros=exclude_zeros)
        counter._values.merge(counts)
        return counter

    def update(self, chunk: np.ndarray, keep: np.ndarray | None = None) -> None:
        x = np.asarray(chunk)
        if x.dtype.kind == "b":
            x = x.view(np.uint8)
        values = x.reshape(-1) if keep is None else x[keep]
        if self.exact:
            self._values.update(values)
            return
        if x.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                self.nonfinite += int(values.size - np.count_nonzero(finite))
                values = values[finite]
        if self.exclude_zeros:
            values = values[values != 0]
        if values.dtype != self.work_dtype:
            values = values.astype(self.work_dtype)
        counts, _ = np.histogram(values, bins=self.bins, range=self.range)
        self._counts += counts

    def result(self) -> Histogram:
        if self.exact:
            h = self._values
            present = np.nonzero(h.counts)[0]
            values = h.values[present]
            weights = h.counts[present]
            if self.exclude_zeros:
                nonzero = values != 0
                values, weights = values[nonzero], weights[nonzero]
            bounds = (float(values[0]), float(values[-1])) if values.size else (0, 1)
            # numpy.histogram of the values themselves, each weighted by its count.
            counts, edges = np.histogram(values, bins=self.bins, range=bounds, weights=weights)
        else:
            _, edges = np.histogram(_probe(self.work_dtype), bins=self.bins, range=self.range)
            counts = self._counts
        return Histogram(
            edges=np.asarray(edges, dtype=np.float64),
            counts=np.asarray(counts, dtype=np.int64).copy(),
            zeros_excluded=self.exclude_zeros,
            nonfinite=self.nonfinite,
        )
