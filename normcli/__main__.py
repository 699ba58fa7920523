"""The ``normcli`` command and ``python -m normcli``.

Ctrl-C and SIGTERM are handled from the first instant: while the modules load (click,
numpy, rich: a fraction of a second), a signal ends the command with the same one line
and exit code as later, never with a traceback. :func:`normcli.cli.main` then installs
its own handlers.
"""

from __future__ import annotations

import signal
import sys


class _EarlySignal(BaseException):
    """A signal that arrived while normcli was still loading."""


def _early(signum, frame):
    raise _EarlySignal(signum)


def main(argv=None):
    """Console-script entry point."""
    signal.signal(signal.SIGINT, _early)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _early)
    try:
        from normcli.cli import main as cli_main
    except _EarlySignal as exc:
        interrupted = exc.args[0] == signal.SIGINT
        sys.stderr.write(
            f"Error: {'interrupted' if interrupted else 'terminated'}; nothing was written\n"
        )
        sys.exit(130 if interrupted else 143)
    cli_main(argv)


if __name__ == "__main__":
    main()
