"""Progress and warnings on stderr: a rich bar on a terminal, ``Warning: ...`` lines."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from rich.markup import escape as escape_markup

from normcli.cli.text import printable
from normcli.reporting import Reporter


class WarningsOnly(Reporter):
    def __init__(self, renderer):
        self.renderer = renderer

    def warn(self, message: str) -> None:
        self.renderer.warn(message)


class RichProgress(Reporter):
    """A progress bar on stderr that appears only once work has taken a second."""

    DELAY = 1.0

    def __init__(self, renderer):
        self.renderer = renderer
        self._bar = None
        self._task = None
        self._started = 0.0
        self._done = 0
        self._total = 0
        self._description = ""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Reporter]:
        self._started = time.monotonic()
        self._done, self._total, self._description = 0, total, description
        try:
            yield self
        finally:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def advance(self, amount: int) -> None:
        self._done += amount
        if self._bar is None:
            if time.monotonic() - self._started < self.DELAY:
                return
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.renderer.err,
                transient=True,
            )
            self._bar.start()
            # the description is rendered as markup: a name such as "[red]x" stays literal
            self._task = self._bar.add_task(
                escape_markup(printable(self._description)), total=self._total
            )
        self._bar.update(self._task, completed=self._done)

    def warn(self, message: str) -> None:
        self.renderer.warn(message)
