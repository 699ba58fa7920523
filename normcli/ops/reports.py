"""What ``normalize`` and ``invert`` did (DESIGN.md's JSON contract, as objects)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from normcli.histogram import Histogram
from normcli.ranks import RankResult


@dataclass
class ArrayReport:
    """What ``normalize``/``invert`` did to one array (DESIGN.md's JSON contract)."""

    name: str
    shape: tuple[int, ...]
    dtype_in: np.dtype
    dtype_out: np.dtype
    method: str
    axis: list[int] | None
    params: dict
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    #: With --hist/--plot: {"before": {view: Histogram}, "after": {view: Histogram}}.
    histograms: dict[str, dict[str, Histogram]] | None = None
    #: With --plot, for image data: the first samples before and after.
    samples: tuple[np.ndarray, np.ndarray] | None = None
    #: With --check-ranks.
    ranks: RankResult | None = None


@dataclass
class NormalizeReport:
    input: str
    output: str
    arrays: list[ArrayReport]
    passed: list[str]
    dropped: list[str] = field(default_factory=list)
    params_file: str | None = None
    params: dict | None = None
