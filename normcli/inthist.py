"""Exact counting for small integers: 8- and 16-bit values counted per value, their
moments computed from at most 65536 distinct values.
"""

from __future__ import annotations

import numpy as np

from normcli.grid import BLOCK
from normcli.moments import Moments

_HIST_KINDS = {
    np.dtype(np.uint8): (256, 0),
    np.dtype(np.int8): (256, 128),
    np.dtype(np.uint16): (65536, 0),
    np.dtype(np.int16): (65536, 32768),
}


def histogram_supported(dtype: np.dtype) -> bool:
    """True for the 8- and 16-bit integer dtypes counted exactly by IntHistogram."""
    return np.dtype(dtype).newbyteorder("=") in _HIST_KINDS


class IntHistogram:
    """Exact counts of every value of an 8- or 16-bit integer array."""

    def __init__(self, dtype: np.dtype):
        dtype = np.dtype(dtype).newbyteorder("=")
        self.bins, self.offset = _HIST_KINDS[dtype]
        self.dtype = dtype
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.values = np.arange(self.bins, dtype=np.int64) - self.offset

    def update(self, x: np.ndarray) -> None:
        flat = np.ascontiguousarray(x).reshape(-1)
        if flat.dtype != self.dtype:
            flat = flat.astype(self.dtype)
        unsigned = flat.view(np.uint8 if self.bins == 256 else np.uint16)
        counts = np.zeros(self.bins, dtype=np.int64)
        if self.bins == 256:
            # Count pairs of bytes as uint16 (half the elements for bincount), then
            # fold the 256 x 256 table of pairs onto single values.
            even = unsigned.size - unsigned.size % 2
            pairs = unsigned[:even].view(np.uint16)
            table = np.zeros(65536, dtype=np.int64)
            for start in range(0, pairs.size, 4 * BLOCK):
                table += np.bincount(pairs[start : start + 4 * BLOCK], minlength=65536)
            square = table.reshape(256, 256)
            counts += square.sum(axis=0) + square.sum(axis=1)
            counts += np.bincount(unsigned[even:], minlength=256)
        else:
            for start in range(0, unsigned.size, 4 * BLOCK):
                counts += np.bincount(unsigned[start : start + 4 * BLOCK], minlength=self.bins)
        # int8 viewed as uint8 puts -128..-1 at 128..255; roll them to sorted order.
        self.counts += np.roll(counts, self.offset) if self.offset else counts

    def merge(self, other: IntHistogram) -> IntHistogram:
        self.counts += other.counts
        return self

    def moments(self) -> Moments:
        """Moments computed from the exact counts (no chunking can change them)."""
        present = np.nonzero(self.counts)[0]
        if present.size == 0:
            return Moments.empty(())
        h = self.counts[present]
        v = self.values[present]
        n = int(h.sum())
        total = sum(int(a) * int(b) for a, b in zip(h.tolist(), v.tolist(), strict=False))
        k = round(total / n)  # an integer origin near the mean
        dmean = (total - k * n) / n  # exact integers, one rounding
        d = (v - k).astype(np.float64) - dmean
        hf = h.astype(np.float64)
        d2 = d * d
        zero_index = self.offset
        return Moments(
            n=np.array(n, dtype=np.int64),
            shift=np.array(float(k)),
            dmean=np.array(dmean),
            m2=np.array(float(np.dot(hf, d2))),
            m3=np.array(float(np.dot(hf, d2 * d))),
            m4=np.array(float(np.dot(hf, d2 * d2))),
            min=np.array(float(v[0])),
            max=np.array(float(v[-1])),
            nan=np.array(0, dtype=np.int64),
            inf=np.array(0, dtype=np.int64),
            zeros=np.array(int(self.counts[zero_index]), dtype=np.int64),
        )
