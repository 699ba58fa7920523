"""Ctrl-C (SIGINT) and SIGTERM: noted when they arrive, held back where a step must not
be cut in two, and acted on where it is safe.

The CLI installs handlers that note the signal in :data:`signals_received`, then raise
(KeyboardInterrupt, or the CLI's Terminated), so that every clean-up runs.
:func:`check_signals` raises again for a signal whose exception Python swallowed (it does
in ``__del__`` methods and weakref callbacks, which h5py runs many of).
:func:`deferred_signals` holds both signals over a block: renaming a finished output into
place, starting or joining the engine's threads (a KeyboardInterrupt inside the
threading module's own code can leave its locks broken).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from normcli.errors import Terminated

#: SIGINT and SIGTERM received, noted by the CLI's handlers before they raise: Python
#: swallows an exception raised in a ``__del__`` method or a weakref callback (h5py runs
#: many), where a handler may happen to run, so a Ctrl-C could otherwise be lost.
signals_received: list[int] = []


def check_signals() -> None:
    """Raise for a Ctrl-C (KeyboardInterrupt) or SIGTERM (Terminated) that arrived but
    whose exception got lost; called once per chunk and before OUTPUT is committed."""
    if signals_received:
        signum = signals_received[-1]
        signals_received.clear()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated()


@contextlib.contextmanager
def deferred_signals(*, insist: bool = False):
    """Hold Ctrl-C (SIGINT) and SIGTERM until the block is done, then act on them.

    For the few steps that must not be cut in two: renaming a finished output into
    place (and an old one aside), removing a temporary output, starting and joining
    threads. A signal that arrives meanwhile is delivered when the block ends, to the
    handler that was in place; with ``insist``, the same signal a second time is
    delivered at once (for a wait the user may want to cut short). Only the main thread
    can handle signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {}

    def restore():
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def hold(signum, frame):
        if insist and signum in held:
            held.clear()
            restore()
            _deliver(previous[signum], signum)
        held.append(signum)

    for signum in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if signum is None:
            continue
        handler = signal.getsignal(signum)
        if handler is None or handler is signal.SIG_IGN:
            continue  # not installed from Python (cannot be restored), or ignored
        previous[signum] = handler
        signal.signal(signum, hold)
    try:
        yield
    finally:
        restore()
        if held:
            _deliver(previous[held[0]], held[0])


def _deliver(handler, signum: int) -> None:
    """What ``handler`` does for ``signum``, now."""
    if callable(handler):
        handler(signum, None)  # raises KeyboardInterrupt (or the CLI's Terminated)
    else:
        os.kill(os.getpid(), signum)  # the default action: as if not held
