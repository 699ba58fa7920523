"""What a run is asked for besides the normalizer: NormalizeOptions, and Inspect (what to
look at besides the statistics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from normcli.engines import DEFAULT_CHUNK
from normcli.histogram import DEFAULT_BINS
from normcli.io import ReadOptions


@dataclass
class NormalizeOptions:
    """Everything about a run but the normalizer itself."""

    keys: Sequence[str] = ()
    fit_key: str | None = None
    dtype: str = "float32"  # float32, float64, or "original" (invert only)
    compression: str | None = None
    chunk_bytes: int = DEFAULT_CHUNK
    nan_policy: str = "raise"
    force: bool = False
    strict: bool = False
    save_params: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    #: How an image-folder OUTPUT is written (normcli.io.image_writer.ImageOutput), if given.
    image_output: object | None = None
    inspect: Inspect | None = None
    #: Where the passes run: "local" or "dask" (with a ``scheduler`` address or local:N).
    engine: str = "local"
    scheduler: str | None = None


@dataclass
class Inspect:
    """What to look at besides the statistics: histograms, samples, rank order."""

    bins: int = DEFAULT_BINS
    hist: bool = False  # a histogram per array (terminal, JSON)
    exclude_zeros: bool = False  # ... of the nonzero values only
    plot: bool = False  # histograms with and without zeros, and samples of images
    samples: int = 8  # samples kept for the plot
    check_ranks: bool = False  # normalize: did the order within each sample change?

    def views(self) -> set[str]:
        """The histograms needed: "all" values, "nonzero" values."""
        views = set()
        if self.hist:
            views.add("nonzero" if self.exclude_zeros else "all")
        if self.plot:
            views |= {"all", "nonzero"}
        return views

    @property
    def shown(self) -> str:
        """The view the terminal and JSON show."""
        return "nonzero" if self.exclude_zeros else "all"
