"""The command line: click parses, a library function does the work, rich renders.

Errors become exit codes here and nowhere else: a :class:`NormcliError` prints one
line ``Error: ...`` on stderr and exits 1 (2 for a command line that does not fit
the data); click's usage errors exit 2; Ctrl-C exits 130 and SIGTERM 143; a closed
stdout (``normcli describe ... | head -1``) ends quietly.
"""

from __future__ import annotations

import os
import signal
import sys

import click

from normcli import __version__
from normcli.errors import NormcliError
from normcli.options import (
    axis_option,
    exclude_zeros_option,
    input_argument,
    nan_option,
    output_options,
    read_options,
)
from normcli.render import Renderer, printable, render_describe, render_ls


class Terminated(BaseException):
    """Raised by the SIGTERM handler so every cleanup path runs, then exit 143."""


def _error(message: str, code: int):
    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


class NormcliGroup(click.Group):
    """Turns library errors and interruptions into one line and an exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
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


def _quiet_broken_pipe():
    # The reader of stdout went away (| head): stop quietly, as Unix tools do.
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

    Reads .npy, .npz and HDF5 files in chunks (datasets larger than memory are fine),
    prints scipy.stats.describe's statistics, and writes normalized copies.
    """


@cli.command("ls")
@input_argument
@output_options
def ls_command(input_path, as_json, quiet):
    """List the arrays in INPUT: name, shape, dtype and bytes."""
    from normcli.io import open_reader

    renderer = Renderer(as_json=as_json, quiet=quiet)
    with open_reader(input_path) as reader:
        render_ls(renderer, input_path, reader.format, reader.arrays())


@cli.command("describe")
@input_argument
@read_options
@axis_option("Default: all (one figure for the whole array); 0,1,2 on (N,H,W,C) is per channel.")
@exclude_zeros_option
@nan_option("omit")
@output_options
def describe_command(input_path, keys, chunk_bytes, axis, exclude_zeros, nan_policy, as_json,
                     quiet):  # fmt: skip
    """Statistics of each array in INPUT, as scipy.stats.describe computes them.

    nobs, min, max, mean, variance (ddof=1), skewness and kurtosis (biased, Fisher),
    plus std and the counts of NaN and zeros, accumulated exactly in float64 over
    streamed chunks.
    """
    from normcli.engine import describe_arrays, select_arrays
    from normcli.io import open_reader

    renderer = Renderer(as_json=as_json, quiet=quiet)
    with open_reader(input_path) as reader:
        infos = select_arrays(reader, keys, default_all=True)
        items = describe_arrays(
            reader, infos, axis if axis is not None else "all", chunk_bytes=chunk_bytes,
            exclude_zeros=exclude_zeros, nan_policy=nan_policy, progress=renderer.progress(),
        )  # fmt: skip
    render_describe(renderer, input_path, items, exclude_zeros)


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None):
    """Console-script entry point."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)
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
