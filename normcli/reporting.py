"""Where the library reports progress and warnings.

A :class:`Reporter` is handed down to every operation. The default one shows no
progress and turns every warning into ``warnings.warn(message, NormcliWarning)``, so a
Python caller never loses one (filter them with the ``warnings`` module as usual);
the command line passes its own, which prints ``Warning: ...`` lines on stderr and a
progress bar on a terminal. Whether ``--strict`` makes a warning an error is decided
in :func:`warn`, and nowhere else.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

from normcli.errors import ParameterError


class NormcliWarning(UserWarning):
    """Something the user should know about the data or the command (a wrong-looking
    axis, NaN left out, arrays not written, ...)."""


class Reporter:
    """Progress and warnings of one operation; this default shows no progress and emits
    warnings as :class:`NormcliWarning`."""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Reporter]:
        """A unit of work of ``total`` bytes (a pass over one array)."""
        yield self

    def advance(self, amount: int) -> None:
        """``amount`` more bytes of the current task are done."""

    def warn(self, message: str) -> None:
        """A warning (the command line prints it as ``Warning: ...`` on stderr)."""
        warnings.warn(message, NormcliWarning, stacklevel=3)


def warn(reporter: Reporter, message: str, *, strict: bool = False) -> None:
    """A warning through ``reporter``, or with ``strict`` (``--strict``) an error (exit
    2) raised before anything is written."""
    if strict:
        raise ParameterError(f"{message} (an error because of --strict)")
    reporter.warn(message)
