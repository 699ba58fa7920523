"""The command line: click parses, a library function does the work, rich renders.

Errors become exit codes here and nowhere else: a :class:`NormcliError` prints one
line ``Error: ...`` on stderr and exits 1 (2 for a command line that does not fit
the data); click's usage errors exit 2; Ctrl-C exits 130 and SIGTERM 143; a closed
stdout (``normcli describe ... | head -1``) ends quietly.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import warnings

import click

from normcli import __version__
from normcli.cli.text import printable
from normcli.errors import NormcliError, Terminated, UsageError, stopped
from normcli.io.base import abort_all
from normcli.signals import check_signals, signals_received


def _error(message: str, code: int):
    _abort_writers()
    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


def _check_signals() -> None:
    check_signals()


def _abort_writers() -> None:
    """Whatever stopped the command, no temporary output stays behind (the writers'
    ``with`` blocks clean up; this is the net under them)."""
    abort_all()


class NormcliGroup(click.Group):
    """Turns library errors and interruptions into one line and an exit code."""

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                # numpy's overflow/invalid-value warnings are not for users: normcli
                # counts NaN and infinities and says what they mean; nor are the reading
                # libraries' (zarr, tifffile): normcli refuses what is wrong in one line
                warnings.simplefilter("ignore")
                from normcli.reporting import NormcliWarning

                warnings.simplefilter("default", NormcliWarning)
                result = super().invoke(ctx)
            _check_signals()
            return result
        except NormcliError as exc:
            _error(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _error("interrupted; nothing was written", 130)
        except Terminated:
            _error("terminated; nothing was written", 143)
        except BrokenPipeError:
            _quiet_broken_pipe()
        except MemoryError:
            _error("out of memory; try a smaller --chunk-size", 1)
        except OSError as exc:
            # The formats turn their own I/O errors into NormcliError; this is the net
            # under them, so that no traceback ever reaches the user.
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _error(f"{where}{exc.strerror or exc}; nothing was written", 1)


def _quiet_broken_pipe():
    # The reader of stdout went away (| head): stop quietly, as Unix tools do.
    _abort_writers()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(141)


@click.group(cls=NormcliGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="normcli")
def cli():
    """Normalize array datasets for training neural networks, and prove what it did.

    Reads .npy, .npz, HDF5 and MNIST's IDX files, Zarr stores and folders of images in
    chunks (datasets larger than memory are fine), prints scipy.stats.describe's
    statistics, and writes normalized copies (also as folders of PNG or TIFF images).
    """


def _on_signal(signum, frame):
    """SIGINT and SIGTERM: noted (in case Python swallows the exception, see
    normcli.signals.signals_received), then raised so that every clean-up runs."""
    signals_received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated()


def _unraisable(hook):
    """sys.unraisablehook that keeps a Ctrl-C swallowed in a destructor off stderr (it
    is noted, and acted on at the next chunk); anything else goes to ``hook``."""

    def unraisable(info):
        if info.exc_type is not None and issubclass(info.exc_type, (KeyboardInterrupt, Terminated)):
            return
        hook(info)

    return unraisable


@contextlib.contextmanager
def output_written(output_path):
    """Once OUTPUT is in place (drawing --plot, printing): a failure or Ctrl-C says that
    OUTPUT stays, complete, rather than that nothing was written."""
    rest = f"; {output_path} was written completely"
    try:
        yield
        _check_signals()
    except NormcliError as exc:
        error = NormcliError(f"{exc}{rest}")
        error.exit_code = exc.exit_code
        raise error from None
    except BaseException as exc:
        stop = stopped(exc, rest)
        if stop is None:
            raise
        raise stop from None


def main(argv=None):
    """Console-script entry point (the commands are added by :mod:`normcli.cli`), then
    an exit that adds nothing to the one ``Error:`` line (:mod:`normcli.quiet_exit`)."""
    from normcli.quiet_exit import exit_after_error, silence_library_logs

    silence_library_logs()
    try:
        _main(argv)
    except SystemExit as exc:
        exit_after_error(exc)
        raise


def _main(argv=None):
    signal.signal(signal.SIGINT, _on_signal)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    try:
        try:
            cli.main(args=argv, prog_name="normcli")
        finally:
            sys.stdout.flush()  # surface a closed pipe here, not at interpreter exit
    except BrokenPipeError:
        _quiet_broken_pipe()
    except KeyboardInterrupt:
        _error("interrupted; nothing was written", 130)
    except Terminated:
        _error("terminated; nothing was written", 143)


def usage_errors(command):
    """The library's :class:`~normcli.errors.UsageError` shown as click shows its own
    (the usage line, a hint, then the error; exit 2)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UsageError as exc:
            raise click.UsageError(str(exc)) from None

    return run
