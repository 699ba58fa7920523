"""Exact per-channel statistics of 8- and 16-bit images: one histogram per channel.

The reduction torchvision's users want, per channel over every other axis (``--axis
0,1,2`` on (N, H, W, C), and the pooled pixels of a folder of mixed sizes), is on
unsigned 8- or 16-bit pixels almost always. Counting every value of every channel
(``np.bincount`` of each channel) is exact, a fixed cost per pixel and
independent of the chunks; the moments come from the counts (:meth:`IntHistogram.moments`),
as for 8/16-bit data over all axes.
"""

from __future__ import annotations

import numpy as np

from normcli.grid import BLOCK
from normcli.inthist import IntHistogram
from normcli.moments import Moments

#: Channels counted this way at most (the counts are ``channels x 65536`` int64 for
#: 16-bit data: 2 MiB for RGB).
MAX_CHANNELS = 8


def supported(shape, dtype, axes, exclude_zeros: bool) -> bool:
    """Per channel (every axis but the last) of unsigned 8/16-bit data, few channels."""
    dtype = np.dtype(dtype).newbyteorder("=")
    ndim = len(shape)
    return (
        not exclude_zeros
        and ndim >= 2
        and dtype in (np.dtype(np.uint8), np.dtype(np.uint16))
        and tuple(axes) == tuple(range(ndim - 1))
        and 1 <= shape[-1] <= MAX_CHANNELS
    )


class ChannelHistogram:
    """Exact counts of every value of every channel (the last axis)."""

    def __init__(self, dtype, channels: int):
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.bins = 256 if self.dtype.itemsize == 1 else 65536
        self.channels = channels

    def empty(self) -> np.ndarray:
        return np.zeros(self.channels * self.bins, dtype=np.int64)

    def counts_of(self, chunk: np.ndarray) -> np.ndarray:
        """The counts of one chunk (a pure function of it): a bincount per channel (of
        the strided column; faster here than one bincount of value + channel offset)."""
        flat = np.ascontiguousarray(chunk).reshape(-1, self.channels)
        if flat.dtype != self.dtype:
            flat = flat.astype(self.dtype)
        counts = self.empty().reshape(self.channels, self.bins)
        rows = 4 * BLOCK
        for start in range(0, len(flat), rows):
            part = flat[start : start + rows]
            for c in range(self.channels):
                counts[c] += np.bincount(part[:, c], minlength=self.bins)
        return counts.reshape(-1)

    def moments(self, counts: np.ndarray) -> Moments:
        per_channel = []
        for c in range(self.channels):
            hist = IntHistogram(self.dtype)
            hist.counts = counts[c * self.bins : (c + 1) * self.bins].copy()
            per_channel.append(hist.moments())
        return Moments(
            **{
                name: np.stack([np.asarray(getattr(m, name)) for m in per_channel])
                for name in Moments.__dataclass_fields__
            }
        )
