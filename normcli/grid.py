"""The grid: fixed groups of rows, whatever the chunks.

Statistics whose merge is not exact (sums of floats) are folded over groups of
:func:`group_rows` rows, in order, so that every chunking, thread count and engine
gives the same bits: a chunk contributes the states of the whole groups it holds and
the rows of the groups it shares with its neighbours (:class:`GridState`), and
:class:`GridFold` completes those in order. Nothing here knows what is folded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Values per group of the grid and per piece of the kernels (a float64 piece, 2 MiB,
#: stays in the last-level cache; smaller pieces were no faster here, where the cost
#: is numpy's calls rather than memory).
BLOCK = 1 << 18


def group_rows(shape: Sequence[int]) -> int:
    """Rows per group of the grid (about BLOCK values, at least one row)."""
    return max(1, BLOCK // max(1, math.prod(tuple(shape)[1:])))


def grid_pieces(start: int, rows: int, step: int) -> Iterator[tuple[int, int]]:
    """The chunk of ``rows`` rows starting at row ``start`` of the array, cut at the lines
    of the grid of ``step`` rows: ``(a, b)`` row ranges relative to the chunk. Only the
    first piece can start off a line (it ends one group) and only the last can be short
    (it starts the next)."""
    a = 0
    while a < rows:
        b = min(rows, a + step - (start + a) % step)
        yield a, b
        a = b


@dataclass
class GridState:
    """What one chunk contributes to a grid-folded statistic: the states of the whole
    groups it holds, and copies of the rows of the groups it shares with its
    neighbours (``head`` ends a group begun before it, when ``head_closes``; ``tail``
    begins one that goes on after it). :class:`GridFold` completes those in order."""

    start: int
    rows: int
    head: np.ndarray | None = None
    head_closes: bool = False
    groups: list = field(default_factory=list)
    tail: np.ndarray | None = None

    def add(self, a: int, b: int, step: int, part) -> None:
        """Piece ``(a, b)`` of :func:`grid_pieces`: a whole group's state, or its rows."""
        if b - a == step:
            self.groups.append(part)
        elif (self.start + a) % step:
            self.head, self.head_closes = part, (self.start + b) % step == 0
        else:
            self.tail = part


def grid_state(chunk: np.ndarray, start: int, step: int, group_state) -> GridState:
    """The :class:`GridState` of a chunk whose first row is row ``start`` of the array."""
    state = GridState(start, chunk.shape[0])
    for a, b in grid_pieces(start, chunk.shape[0], step):
        rows = chunk[a:b]
        state.add(a, b, step, group_state(rows) if b - a == step else rows.copy())
    return state


class GridFold:
    """Folds the states of the grid's groups in order, ``merge(running, group)``, from
    :class:`GridState` s absorbed in chunk order. Every chunking of the same rows folds
    the same groups in the same order, so the result is the same to the bit."""

    def __init__(self, group_state, merge, initial=None):
        self.group_state, self.merge = group_state, merge
        self.running = initial
        self.pending: list[np.ndarray] = []  # rows of the group not yet complete
        self.next_row = 0

    def absorb(self, state: GridState) -> None:
        if state.start != self.next_row:
            raise ValueError(f"chunk at row {state.start} absorbed at row {self.next_row}")
        if state.head is not None:
            self.pending.append(state.head)
            if state.head_closes:
                self.running = self.merge(self.running, self.group_state(self._take()))
        for part in state.groups:
            self.running = self.merge(self.running, part)
        if state.tail is not None:
            self.pending = [state.tail]
        self.next_row += state.rows

    def _pending_rows(self) -> np.ndarray:
        return self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)

    def _take(self) -> np.ndarray:
        rows, self.pending = self._pending_rows(), []
        return rows

    def result(self):
        """The fold so far with the last, incomplete group (the fold itself unchanged)."""
        if not self.pending:
            return self.running
        return self.merge(self.running, self.group_state(self._pending_rows()))
