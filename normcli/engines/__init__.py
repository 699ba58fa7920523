"""Engines: where the passes of the plan run.

:class:`~normcli.engines.base.Runner` is the protocol; :mod:`normcli.engines.local` is
the default (this process, overlapping reads, computation and writes);
:mod:`normcli.engines.dask_runner` runs the same steps as Dask tasks and is imported
only when asked for (``--engine dask``). This module alone names both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from normcli.engines.base import DEFAULT_CHUNK, ApplyStep, Runner, single_blas_thread
from normcli.engines.local import LocalRunner
from normcli.errors import ParameterError

__all__ = [
    "DEFAULT_CHUNK",
    "ENGINES",
    "LOCAL",
    "ApplyStep",
    "LocalRunner",
    "Runner",
    "open_runner",
    "single_blas_thread",
]


LOCAL = LocalRunner()


ENGINES = ("local", "dask")


@contextlib.contextmanager
def open_runner(engine: str = "local", scheduler: str | None = None) -> Iterator[Runner]:
    """The runner of ``--engine`` (``dask`` with ``--scheduler``), for one command."""
    if engine == "local":
        if scheduler:
            raise ParameterError("--scheduler runs the dask engine; add --engine dask")
        yield LOCAL
        return
    if engine != "dask":
        raise ParameterError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    from normcli.engines.dask_runner import dask_runner

    with dask_runner(scheduler) as runner:
        yield runner


def runner_for(engine: str = "local", scheduler: str | None = None, runner: Runner | None = None):
    """A context giving ``runner`` when one is given, else the runner of ``engine``
    (opened, and closed at the end)."""
    if runner is not None:
        return contextlib.nullcontext(runner)
    return open_runner(engine, scheduler)
