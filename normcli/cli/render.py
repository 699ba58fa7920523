"""Rendering: rich tables on stdout, progress and warnings on stderr, JSON documents.

Names that come from files (array names, paths) are shown literally: never parsed
as rich markup, and with control characters escaped so a hostile name cannot move
the cursor or recolour the terminal.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from normcli.cli.progress import RichProgress, WarningsOnly
from normcli.cli.text import literal, printable
from normcli.documents import (
    check_document,
    describe_document,
    fit_document,
    ls_document,
    normalize_document,
)
from normcli.jsonfmt import dumps, strict
from normcli.moments import COUNT_FIELDS, STAT_FIELDS
from normcli.ragged import shape_json, shape_text, sizes_note, stored_bytes
from normcli.reporting import Reporter
from normcli.units import format_bytes

#: Rows of a statistics table, in scipy.stats.describe's order, then the counts.
TABLE_ROWS = (
    "nobs",
    "min",
    "max",
    "mean",
    "variance",
    "std",
    "skewness",
    "kurtosis",
    "nan",
    "zeros",
)
#: At most this many kept slices get a column each; more are summarised.
MAX_COLUMNS = 16


def fmt_number(value, count: bool = False) -> str:
    if count:
        return f"{int(value):,}"
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.10g}"


class _Console(Console):
    """A rich Console that lets a closed pipe (``| head``) reach the CLI, which ends
    quietly with exit 141; rich's own handling would exit 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError()


class Renderer:
    """Where results and messages go for one command invocation."""

    def __init__(self, *, as_json: bool = False, quiet: bool = False, as_csv: bool = False):
        self.as_json = as_json
        self.as_csv = as_csv
        self.quiet = quiet
        self.out = _Console(file=sys.stdout, highlight=False, soft_wrap=False)
        self.err = _Console(file=sys.stderr, highlight=False, stderr=True, soft_wrap=True)

    # messages --------------------------------------------------------------------------

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.err.print(literal(f"Warning: {message}", style="yellow"))

    def note(self, message: str) -> None:
        if not self.quiet and not self.as_json and not self.as_csv:
            self.err.print(literal(message, style="dim"))

    def json(self, document: dict) -> None:
        # NaN or infinite figures (a slice with no finite values, say) are null
        sys.stdout.write(dumps(strict(document)) + "\n")
        sys.stdout.flush()

    def csv(self, header: Sequence[str], rows) -> None:
        """A CSV table on stdout: one header line, then the rows."""
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        sys.stdout.flush()

    def print(self, renderable) -> None:
        if not self.quiet:
            self.out.print(renderable)

    def line(self, text: Text) -> None:
        """One line of results, never wrapped (greppable whatever the terminal's width)."""
        if not self.quiet:
            self.out.print(text, soft_wrap=True)

    def progress(self) -> Reporter:
        if self.quiet or self.as_json or self.as_csv or not self.err.is_terminal:
            return WarningsOnly(self)
        return RichProgress(self)


# -- documents -------------------------------------------------------------------------


# -- tables ----------------------------------------------------------------------------


def _slice_labels(kept_shape: Sequence[int]) -> list[str]:
    return [",".join(str(i) for i in idx) for idx in np.ndindex(*kept_shape)]


def stats_table(
    columns: Sequence[tuple[str, dict]], kept_shape: tuple[int, ...], rows: Sequence[str] = ()
):
    """A table with one row per statistic and one column per (label, stats) given.

    With kept axes, each column expands into one column per slice when there are few,
    or into min/median/max across slices when there are many.
    """
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("statistic", style="bold")
    n_slices = math.prod(kept_shape) if kept_shape else 1
    per_slice = bool(kept_shape) and n_slices <= MAX_COLUMNS
    labels = _slice_labels(kept_shape) if per_slice else []
    for label, _ in columns:
        if not kept_shape:
            table.add_column(label, justify="right")
        elif per_slice:
            for s in labels:
                table.add_column(literal(f"{label} [{s}]"), justify="right")
        else:
            for what in ("min", "median", "max"):
                table.add_column(literal(f"{label} {what}"), justify="right")
    for row in rows or TABLE_ROWS:
        cells = [row]
        for _, stats in columns:
            values = np.asarray(stats[row])
            count = row in COUNT_FIELDS
            if not kept_shape:
                cells.append(fmt_number(values, count))
            elif per_slice:
                cells.extend(fmt_number(v, count) for v in values.reshape(-1))
            else:
                flat = values.reshape(-1).astype(np.float64)
                finite = flat[np.isfinite(flat)]
                if finite.size == 0:
                    cells.extend(["nan"] * 3)
                else:
                    cells.extend(
                        fmt_number(v, count)
                        for v in (finite.min(), np.median(finite), finite.max())
                    )
        table.add_row(*cells)
    return table


def describe_title(item, input_path: str) -> Text:
    title = Text()
    title.append(printable(item.name), style="bold cyan")
    title.append(f"  {_dims(item.shape)} {item.dtype}", style="")
    if item.extra.get("cf"):
        title.append(f"  (values: {item.extra['cf']})", style="yellow")
    if item.axes is not None:
        title.append(f"  axis={','.join(map(str, item.axes))}", style="magenta")
    return title


def render_describe(
    renderer: Renderer, input_path: str, items, exclude_zeros: bool, hist: bool = False
) -> None:
    """The statistics of each array; with ``hist``, its histogram (the view shown:
    nonzero values with --exclude-zeros, all values otherwise)."""
    shown = "nonzero" if exclude_zeros else "all"
    if renderer.as_json:
        renderer.json(describe_document(input_path, items, exclude_zeros=exclude_zeros, hist=hist))
        return
    if renderer.as_csv:
        renderer.csv(*describe_csv(items))
        return
    for item in items:
        kept = tuple(np.shape(item.stats["mean"]))
        label = "nonzero" if exclude_zeros else "value"
        renderer.print(describe_title(item, input_path))
        extra = getattr(item, "percentiles", None) or {}
        rows = (*TABLE_ROWS, *extra)
        renderer.print(stats_table([(label, {**item.stats, **extra})], kept, rows))
        if kept and math.prod(kept) > MAX_COLUMNS:
            renderer.print(
                literal(
                    f"  {math.prod(kept):,} slices of shape {kept}: min/median/max across them "
                    "shown; --json gives every slice",
                    style="dim",
                )
            )
        if hist and item.histograms:
            h = item.histograms[shown]
            renderer.print("")
            renderer.print(
                histogram_table([("nonzero" if exclude_zeros else "value", h)], renderer)
            )
            renderer.line(histogram_caption([("", h)]))
        renderer.print("")


def _shape_text(shape) -> str:
    return "x".join("*" if n is None else str(n) for n in shape) if shape else "scalar"


def _dims(shape) -> str:
    """``(6, 28, 28)``; a size that varies (a ragged image folder) is ``*``."""
    inner = ", ".join("*" if n is None else str(n) for n in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def _csv_number(value, count: bool) -> object:
    if count:
        return int(value)
    return repr(float(value))


#: Columns of ``describe --csv`` after name, shape, dtype, axis and slice.
CSV_STATS = STAT_FIELDS


def describe_csv(items) -> tuple[list[str], list[list]]:
    """``describe --csv``: one row per array, or per kept slice with --axis."""
    labels = [k for item in items for k in (getattr(item, "percentiles", None) or {})]
    extra = list(dict.fromkeys(labels))
    header = ["name", "shape", "dtype", "axis", "slice", *CSV_STATS, *extra]
    rows = []
    for item in items:
        axis = "all" if item.axes is None else ",".join(map(str, item.axes))
        kept = tuple(np.shape(item.stats["mean"]))
        for index in np.ndindex(*kept) if kept else [()]:
            cells = [item.name, _shape_text(item.shape), str(item.dtype), axis]
            cells.append(",".join(map(str, index)))
            for key in CSV_STATS:
                value = np.asarray(item.stats[key])[index] if kept else item.stats[key]
                cells.append(_csv_number(value, key in COUNT_FIELDS))
            found = getattr(item, "percentiles", None) or {}
            for key in extra:
                value = np.asarray(found[key])[index] if key in found else None
                cells.append("" if value is None else _csv_number(value, False))
            rows.append(cells)
    return header, rows


# -- histograms --------------------------------------------------------------------------

#: Eighths of a block, for bars drawn to 1/8 of a character.
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(count: int, peak: int, width: int) -> str:
    """A horizontal bar of ``count / peak`` of ``width`` characters; a nonzero count is
    never drawn as nothing."""
    if count <= 0 or peak <= 0:
        return ""
    eighths = round(count / peak * width * 8)
    full, part = divmod(max(eighths, 1), 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def _edge(value: float) -> str:
    v = float(value)
    return "0" if v == 0 else f"{v:.4g}"


def histogram_table(columns, renderer: Renderer) -> Table:
    """Histograms side by side, one row per bin: the bin's left edge, its exact count,
    and a bar scaled to the histogram's largest bin. All must have the same bins."""
    table = Table(show_edge=False, pad_edge=False)
    edges_w = [max(len(label) + 2, *(len(_edge(e)) for e in h.edges[:-1])) for label, h in columns]
    counts_w = [max(5, len(f"{int(h.counts.max()):,}")) for _, h in columns]
    fixed = sum(e + c for e, c in zip(edges_w, counts_w, strict=True)) + 8 * len(columns)
    width = max(8, (renderer.out.width - fixed) // len(columns))
    for label, _ in columns:
        table.add_column(literal(f"{label} ≥"), justify="right", no_wrap=True)
        table.add_column("count", justify="right", no_wrap=True)
        table.add_column("", justify="left", no_wrap=True)
    bins = columns[0][1].bins
    peaks = [int(h.counts.max()) for _, h in columns]
    for i in range(bins):
        cells = []
        for (_, h), peak, color in zip(columns, peaks, ("cyan", "yellow"), strict=False):
            count = int(h.counts[i])
            cells += [_edge(h.edges[i]), f"{count:,}", Text(bar(count, peak, width), style=color)]
        table.add_row(*cells)
    return table


def histogram_caption(columns) -> Text:
    """One line under a histogram: bins, the range of each, what was left out."""
    parts = []
    for label, h in columns:
        what = f"{label} " if label else ""
        parts.append(f"{what}[{_edge(h.edges[0])}, {_edge(h.edges[-1])}]")
    h0 = columns[0][1]
    text = f"  {h0.bins} bins over " + ", ".join(parts)
    if any(h.zeros_excluded for _, h in columns):
        text += "; zeros left out" + (
            " (where the input is zero, before and after)" if len(columns) > 1 else ""
        )
    nonfinite = sum(h.nonfinite for _, h in columns)
    if nonfinite:
        text += f"; {nonfinite:,} NaN or infinite values not counted"
    return literal(text, style="dim")


def ls_note(a) -> str:
    """What ls says beside an array: a coordinate variable, values CF-decoded."""
    notes = []
    if a.extra.get("coordinate"):
        notes.append("coordinate")
    if a.extra.get("cf"):
        notes.append(f"values: {a.extra['cf']}")
    if "stored_rows" in a.extra:
        notes.append(f"{a.extra['stored_rows']:,} of {a.shape[0]:,} records stored")
    return "; ".join(notes)


def render_ls(renderer: Renderer, input_path: str, fmt: str, infos, skipped=None) -> None:
    """The arrays of INPUT; a note column (coordinates, decoded values) and the arrays
    normcli cannot read (``skipped``: name -> reason), only when the file has some."""
    skipped = skipped or {}
    notes = {a.name: ls_note(a) for a in infos}
    any_note = any(notes.values()) or bool(skipped)
    if renderer.as_json:
        renderer.json(ls_document(input_path, fmt, infos, skipped))
        return
    if renderer.as_csv:
        header = ["name", "shape", "dtype", "bytes"] + (["note"] if any_note else [])
        rows = [
            [a.name, _shape_text(shape_json(a)), str(a.dtype), stored_bytes(a)]
            + ([notes[a.name]] if any_note else [])
            for a in infos
        ]
        rows += [[n, "", "", "", f"not read: {r}"] for n, r in skipped.items()]
        renderer.csv(header, rows)
        return
    table = Table(show_edge=False, pad_edge=False)
    columns = [
        ("name", "left"),
        ("shape", "left"),
        ("dtype", "left"),
        ("bytes", "right"),
        ("size", "right"),
    ]
    for col, justify in columns + ([("note", "left")] if any_note else []):
        table.add_column(col, justify=justify)
    for a in infos:
        cells = [
            literal(a.name),
            shape_text(a),
            str(a.dtype),
            f"{stored_bytes(a):,}",
            format_bytes(stored_bytes(a)),
        ]
        table.add_row(*cells, *([literal(notes[a.name])] if any_note else []))
    for name, reason in skipped.items():  # the reason in short; --json has what to do
        table.add_row(literal(name), "", "", "", "", literal(f"not read: {reason.split('; ')[0]}"))
    renderer.print(table)
    for a in infos:
        if sizes_note(a):
            renderer.print(literal(sizes_note(a)))


def _params_summary(params: dict) -> str:
    opts = params.get("options") or {}
    parts = [f"{k}={v}" for k, v in opts.items() if v is not None and v is not False]
    return printable(" ".join(parts))  # a --params file's options are shown as they are


def render_normalize(renderer: Renderer, report, inspect=None) -> None:
    """Before/after statistics of each array; with --hist their histograms side by side,
    with --check-ranks whether the order within each sample survived."""
    if renderer.as_json:
        renderer.json(normalize_document(report, inspect))
        return
    for a in report.arrays:
        title = Text()
        title.append(printable(a.name), style="bold cyan")
        title.append(f"  {_dims(a.shape)} {a.dtype_in} -> {a.dtype_out}  ")
        title.append(f"{a.method}", style="bold")
        axis = "all" if a.axis is None or a.axis == list(range(len(a.shape))) else a.axis
        title.append(f" axis={axis if isinstance(axis, str) else ','.join(map(str, axis))}")
        summary = _params_summary(a.params)
        if summary:
            title.append(f"  {summary}", style="dim")
        renderer.print(title)
        renderer.print(stats_table([("before", a.before), ("after", a.after)], ()))
        if inspect is not None and inspect.hist and a.histograms:
            columns = [(side, a.histograms[side][inspect.shown]) for side in ("before", "after")]
            renderer.print("")
            renderer.print(histogram_table(columns, renderer))
            renderer.line(histogram_caption(columns))
        if a.ranks is not None:
            renderer.line(rank_line(a.ranks))
        renderer.print("")
    if report.passed:
        renderer.print(literal(f"copied unchanged: {', '.join(report.passed)}", style="dim"))
    renderer.note(f"wrote {printable(report.output)}")
    if report.params_file:
        renderer.note(f"saved parameters to {printable(report.params_file)}")


def render_fit(renderer: Renderer, input_path: str, doc: dict, before: dict, saved) -> None:
    if renderer.as_json:
        renderer.json(fit_document(input_path, doc, before, saved))
        return
    fitted = doc.get("fitted_on", {})
    title = Text()
    title.append(printable(fitted.get("key", "")), style="bold cyan")
    title.append(f"  {_dims(fitted.get('shape', ()))} {fitted.get('dtype', '')}  ")
    title.append(doc["method"], style="bold")
    axes = doc.get("axes")
    title.append(f" axis={'all' if doc.get('axis') == 'all' else ','.join(map(str, axes or []))}")
    summary = _params_summary(doc)
    if summary:
        title.append(f"  {summary}", style="dim")
    renderer.print(title)
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("statistic", style="bold")
    stats = doc.get("statistics") or {}
    shaped = any(np.ndim(v) for v in stats.values())
    if shaped:
        for what in ("min", "median", "max"):
            table.add_column(f"{what} over slices", justify="right")
    else:
        table.add_column("value", justify="right")
    for key, value in stats.items():
        arr = np.asarray(value, dtype=np.float64)
        if shaped:
            finite = arr[np.isfinite(arr)]
            cells = (
                [fmt_number(v) for v in (finite.min(), np.median(finite), finite.max())]
                if finite.size
                else ["nan"] * 3
            )
            table.add_row(key, *cells)
        else:
            table.add_row(key, fmt_number(arr))
    if stats:
        renderer.print(table)
    if saved:
        renderer.note(f"saved parameters to {printable(saved)}")


def rank_line(ranks) -> Text:
    if ranks.changed == 0:
        return literal(
            f"rank check: order kept within each of the {ranks.samples:,} samples",
            style="green",
        )
    return literal(
        f"rank check: order changed within {ranks.changed:,} of {ranks.samples:,} samples "
        f"({ranks.fraction:.1%}), first sample {ranks.first_changed}",
        style="bold red",
    )


# -- check -------------------------------------------------------------------------------


def render_check(renderer: Renderer, report) -> None:
    """``check``: one line ``ok ...`` per assertion that holds (stdout); when one fails,
    nothing here (the caller reports the failure as one ``Error:`` line)."""
    if renderer.as_json:
        renderer.json(check_document(report))
        return
    if not report.passed:
        return
    for a in report.arrays:
        for o in a.outcomes:
            line = Text()
            line.append("ok", style="bold green")
            line.append(f"  {printable(a.where)}: {printable(o.message)}")
            renderer.line(line)
