"""How the ``normcli`` process ends after an error: with the one ``Error:`` line and
nothing after it.

A reading library may leave work behind when normcli refuses its file: zarr's event
loop thread with pending tasks (at interpreter exit they print "Task was destroyed but
it is pending!", "Cannot close a running event loop" and the like), or a thread blocked
in a system call that would keep the interpreter from exiting at all. Once the error is
reported and every temporary output removed (the CLI does both first), nothing is left
to do: :func:`exit_after_error` flushes the output streams and ends the process at
once, without the interpreter's shutdown. Log records of the libraries (asyncio's debris
goes through :mod:`logging`) are never printed: :func:`silence_library_logs`.

Only the console script does this; the CLI run in-process (tests) exits as usual.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys


def silence_library_logs() -> None:
    """No log record reaches stderr (Python prints WARNING and above of a library that
    logs without a handler; normcli itself does not log)."""
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)


def exit_code_of(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def exit_after_error(exc: SystemExit) -> None:
    """End the process now with ``exc``'s code when it is an error (anything but 0):
    what a library left running can neither print nor hang. Returns for success."""
    code = exit_code_of(exc)
    if code == 0:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
