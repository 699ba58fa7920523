"""Errors the user can act on.

Every failure that reaches the user is a :class:`NormcliError` whose message is one
line naming the file and saying what to do. The CLI prints it as ``Error: ...`` and
exits with :attr:`NormcliError.exit_code`. Nothing below ``cli.py`` imports click.
"""

from __future__ import annotations


class NormcliError(Exception):
    """A failure of the work (bad or corrupt input, I/O failure): exit code 1."""

    exit_code = 1


class InputError(NormcliError):
    """The input file is missing, unreadable, corrupt or holds something we refuse."""


class OutputError(NormcliError):
    """The output cannot be written (exists, not writable, disk full, ...)."""


class ParameterError(NormcliError):
    """The command line does not fit the data (axis out of range, unknown key, ...).

    These are command-line errors, so they exit with 2 like click's usage errors.
    """

    exit_code = 2


class CheckFailed(NormcliError):
    """An assertion made with ``normcli check`` does not hold: exit code 1."""


class Stopped(NormcliError):
    """Ctrl-C or SIGTERM once OUTPUT was complete (it stays): exit 130 or 143."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler, like KeyboardInterrupt for Ctrl-C, so that
    every clean-up path runs; the CLI then exits 143."""


def stopped(exc: BaseException, rest: str) -> Stopped | None:
    """Ctrl-C or SIGTERM (``exc``) once OUTPUT is complete, as the error that says so:
    ``interrupted`` or ``terminated`` then ``rest`` (exit 130 or 143). None for any
    other exception."""
    if isinstance(exc, KeyboardInterrupt):
        return Stopped(f"interrupted{rest}", 130)
    if isinstance(exc, Terminated):
        return Stopped(f"terminated{rest}", 143)
    return None


class UsageError(ParameterError):
    """Options that do not go together (``-m scale`` without ``--factor``, ...): the
    command line shows them as click's usage errors (the usage line, then the error),
    exit 2."""
