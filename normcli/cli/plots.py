"""Figures of what the data look like, written with matplotlib (``pip install 'normcli[plot]'``).

For each array: its histogram with all values and with the zeros left out (MNIST is
82% zeros, which hide everything else), before and after for ``normalize``; and for
image data (``(N, H, W)`` or ``(N, H, W, C)``) the first few samples, before and after,
each row drawn on one grey scale from the array's min (black) to its max (white), so a
normalization that treats parts of an image differently shows as stripes or a grey
background.

The figure has a fixed width (:data:`WIDTH_PX`) and a height that depends only on the
number of arrays and which of them are images (:func:`figure_size_px`). It is written
to a temporary file beside the target and moved into place when complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from normcli.cli.text import printable
from normcli.errors import NormcliError, OutputError, ParameterError
from normcli.io.base import FileWriter
from normcli.io.paths import check_output_path

DPI = 100
WIDTH_IN = 12.0
WIDTH_PX = int(WIDTH_IN * DPI)
#: Heights in inches of the parts of one array's panel.
TITLE_IN = 0.4
HIST_ROW_IN = 2.6
SAMPLE_ROW_IN = 1.8
#: Formats the figure can be written in, by the file's extension.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

INSTALL_HINT = "pip install 'normcli[plot]' (or pip install matplotlib)"


def require_matplotlib() -> None:
    """Fail early, with how to get it, when the optional matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise NormcliError(
            f"--plot needs matplotlib, an optional extra of normcli: {INSTALL_HINT}"
        ) from None


def check_plot_path(path, *, force: bool, input_path=None) -> str:
    """The format for ``path`` (png, pdf, svg); refuse an existing file without --force,
    INPUT (or a file in an input folder), and a directory where no file can be created."""
    p = Path(path)
    fmt = FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ParameterError(
            f"--plot {p}: write a .png, .pdf or .svg file (the format comes from the extension)"
        )
    if p.is_dir():
        raise OutputError(f"--plot {p} is a directory; give a file name such as {p}/plot.png")
    if input_path is not None:  # not INPUT, --force, a directory files can be created in
        check_output_path(input_path, p, force, what="--plot file")
        return fmt
    if (p.exists() or p.is_symlink()) and not force:
        raise OutputError(f"{p} already exists; use --force to replace it")
    if not p.parent.exists():
        raise OutputError(f"cannot write {p}: its directory does not exist")
    return fmt


def panel_heights(rows: int, has_samples: bool) -> float:
    """Inches for one array: a title, ``rows`` rows of histograms (1 for describe, 2
    for before/after), and as many rows of samples for image data."""
    return TITLE_IN + rows * HIST_ROW_IN + (rows * SAMPLE_ROW_IN if has_samples else 0.0)


def figure_size_px(rows: int, images: list[bool]) -> tuple[int, int]:
    """(width, height) in pixels of a figure for arrays whose image-ness is ``images``."""
    height = sum(panel_heights(rows, img) for img in images)
    return WIDTH_PX, round(height * DPI)


def _text(value) -> str:
    return printable(value)


def _hist_axes(ax, hist, title: str, color: str) -> None:
    ax.stairs(hist.counts, hist.edges, fill=True, color=color, alpha=0.85)
    ax.set_title(title, fontsize=9, parse_math=False)
    ax.set_xlabel("value", fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    ax.margins(x=0.01)


def _hist_title(side: str, hist, zeros: int | None) -> str:
    prefix = f"{side}: " if side else ""
    if hist.zeros_excluded:
        where = "where the input is nonzero" if side == "after" else "zeros left out"
        return f"{prefix}{where} ({hist.total:,} values)"
    zero_note = f", {zeros:,} zeros" if zeros is not None else ""
    return f"{prefix}all values ({hist.total:,}{zero_note})"


def _as_picture(sample: np.ndarray, lo: float, hi: float):
    x = np.asarray(sample, dtype=np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 3:  # colour: scale onto 0..1 with the array's range, as imshow would
        span = hi - lo if hi > lo else 1.0
        return np.clip((x[..., :3] - lo) / span, 0.0, 1.0), {}
    return x, {"cmap": "gray", "vmin": lo, "vmax": hi if hi > lo else lo + 1.0}


def _sample_row(subfig, samples: np.ndarray, hist, label: str, count: int) -> None:
    axes = subfig.subplots(1, count, squeeze=False)[0]
    lo, hi = float(hist.edges[0]), float(hist.edges[-1])
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= len(samples):
            continue
        picture, kwargs = _as_picture(samples[i], lo, hi)
        ax.imshow(picture, interpolation="nearest", **kwargs)
        ax.set_title(f"sample {i}", fontsize=7, parse_math=False)
    axes[0].text(
        -0.08,
        0.5,
        label,
        transform=axes[0].transAxes,
        rotation=90,
        ha="right",
        va="center",
        fontsize=9,
        parse_math=False,
    )


def _new_figure(rows: int, images: list[bool]):
    from matplotlib.figure import Figure

    width, height = figure_size_px(rows, images)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    heights = [panel_heights(rows, img) for img in images]
    subfigs = fig.subfigures(len(images), 1, height_ratios=heights, squeeze=False)[:, 0]
    return fig, subfigs


def _save(fig, path, fmt: str, force: bool) -> None:
    target = Path(path)
    if (target.exists() or target.is_symlink()) and not force:
        raise OutputError(f"{target} already exists; use --force to replace it")
    with FileWriter(target) as out:  # removed if anything fails, Ctrl-C included
        try:
            fig.savefig(out.tmp, format=fmt, dpi=DPI)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        out.commit()


def _samples_note(samples: np.ndarray) -> str:
    count = len(samples)
    if samples.ndim == 4 and samples.shape[-1] in (3, 4):
        return f"first {count} samples, colours scaled from the array's min (0) to its max (full)"
    return f"first {count} samples, grey from the array's min (black) to its max (white)"


def describe_figure(path, input_path: str, items, *, force: bool = False) -> None:
    """``describe --plot``: per array, histograms with and without zeros, and the first
    samples of image data."""
    fmt = check_plot_path(path, force=force)
    images = [item.samples is not None for item in items]
    fig, subfigs = _new_figure(1, images)
    for item, sub in zip(items, subfigs, strict=True):
        title = f"{_text(input_path)}:{_text(item.name)}  {tuple(item.shape)} {item.dtype}"
        sub.suptitle(title, fontsize=11, fontweight="bold", parse_math=False)
        parts = sub.subfigures(
            2 if item.samples is not None else 1,
            1,
            height_ratios=[HIST_ROW_IN, SAMPLE_ROW_IN] if item.samples is not None else None,
            squeeze=False,
        )[:, 0]
        ax_all, ax_nz = parts[0].subplots(1, 2)
        zeros = int(np.sum(item.stats["zeros"]))
        _hist_axes(
            ax_all, item.histograms["all"], _hist_title("", item.histograms["all"], zeros), "C0"
        )
        _hist_axes(
            ax_nz,
            item.histograms["nonzero"],
            _hist_title("", item.histograms["nonzero"], None),
            "C0",
        )
        if item.samples is not None:
            parts[1].suptitle(_samples_note(item.samples), fontsize=8, parse_math=False)
            _sample_row(parts[1], item.samples, item.histograms["all"], "", len(item.samples))
    _save(fig, path, fmt, force)


def normalize_figure(path, report, *, force: bool = False) -> None:
    """``normalize --plot``: per array, histograms before and after, with and without
    zeros, and the first samples of image data before and after."""
    fmt = check_plot_path(path, force=force)
    arrays = [a for a in report.arrays if a.histograms]
    if not arrays:
        raise NormcliError(f"--plot {path}: nothing to plot (no histograms were made)")
    images = [a.samples is not None for a in arrays]
    fig, subfigs = _new_figure(2, images)
    for a, sub in zip(arrays, subfigs, strict=True):
        axis = "all" if a.axis is None or a.axis == list(range(len(a.shape))) else a.axis
        axis_text = axis if isinstance(axis, str) else ",".join(map(str, axis))
        title = (
            f"{_text(report.input)}:{_text(a.name)}  {tuple(a.shape)} {a.dtype_in} -> "
            f"{a.dtype_out}   {a.method} axis={axis_text}"
        )
        sub.suptitle(title, fontsize=11, fontweight="bold", parse_math=False)
        has = a.samples is not None
        parts = sub.subfigures(
            2 if has else 1,
            1,
            height_ratios=[2 * HIST_ROW_IN, 2 * SAMPLE_ROW_IN] if has else None,
            squeeze=False,
        )[:, 0]
        grid = parts[0].subplots(2, 2)
        for row, (side, stats, color) in enumerate(
            (("before", a.before, "C0"), ("after", a.after, "C1"))
        ):
            hists = a.histograms[side]
            zeros = int(np.sum(stats["zeros"]))
            _hist_axes(grid[row, 0], hists["all"], _hist_title(side, hists["all"], zeros), color)
            _hist_axes(
                grid[row, 1], hists["nonzero"], _hist_title(side, hists["nonzero"], None), color
            )
        if has:
            before, after = a.samples
            parts[1].suptitle(_samples_note(before), fontsize=8, parse_math=False)
            rows = parts[1].subfigures(2, 1, squeeze=False)[:, 0]
            _sample_row(rows[0], before, a.histograms["before"]["all"], "before", len(before))
            _sample_row(rows[1], after, a.histograms["after"]["all"], "after", len(before))
    _save(fig, path, fmt, force)
