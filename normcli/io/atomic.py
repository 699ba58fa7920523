"""Atomic commits: several outputs moved into place together, small text files written
whole or not at all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from normcli.errors import OutputError, stopped
from normcli.io.base import FileWriter
from normcli.signals import check_signals, deferred_signals


def params_writer(path):
    """The --save-params file as a writer (nothing is created until it is written)."""
    if not path:
        return contextlib.nullcontext(None)

    return FileWriter(Path(path))


def commit_together(writers, output_path) -> None:
    """Move every finished output into place, with Ctrl-C and SIGTERM held until all are
    (a signal then stops the command saying OUTPUT was written completely)."""

    check_signals()  # never commit after a Ctrl-C, even one whose exception was lost
    done = False
    try:
        with deferred_signals():
            for writer in writers:
                writer.commit()
            done = True
    except BaseException as exc:
        stop = stopped(exc, f"; {output_path} was written completely") if done else None
        if stop is None:
            raise
        raise stop from None


def write_text_atomically(path, text: str, *, force: bool) -> None:
    """Write a small text file atomically (temp file beside it, then os.replace)."""

    target = Path(path)
    if (target.exists() or target.is_symlink()) and not force:
        raise OutputError(f"{target} already exists; use --force to replace it")
    with FileWriter(target) as writer:
        writer.write_text(text)
        writer.commit()
