"""Shared fixtures and oracles for the tests.

Oracles are numpy and scipy.stats over the same values in float64; figures are never
typed in by hand.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner
from hypothesis import settings

from normcli.cli import cli

# hdf5plugin before any library with its own copy of HDF5 (netCDF4, PyTables): loaded
# after netCDF4, its Blosc filter fails ("error during user callback") in this process.
# normcli itself never imports those; the tests use them to write fixtures.
with contextlib.suppress(ImportError):
    import hdf5plugin  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("NORMCLI_HYPOTHESIS", "default"))

#: Chunk sizes in rows that every streamed computation must agree on (n and n+42
#: are added per array).
CHUNK_ROWS = (1, 2, 50)

#: Zarr stores need the zarr package, and zarr 3 needs Python 3.11: without it the tests
#: of Zarr input and output are skipped (only those).
HAVE_ZARR = importlib.util.find_spec("zarr") is not None
needs_zarr = pytest.mark.skipif(
    not HAVE_ZARR, reason="zarr is not installed (zarr 3 needs Python 3.11+)"
)


def chunkings(n: int) -> list[int]:
    return [*CHUNK_ROWS, n, n + 42]


def scipy_describe(x: np.ndarray, axes: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """scipy.stats.describe over ``axes`` (all by default), in float64."""
    xf = np.asarray(x, dtype=np.float64)
    if axes is None or set(axes) == set(range(xf.ndim)):
        flat = xf.reshape(-1)
    else:
        kept = [i for i in range(xf.ndim) if i not in axes]
        moved = np.transpose(xf, kept + list(axes))
        flat = moved.reshape([xf.shape[i] for i in kept] + [-1])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # scipy warns about constant data and n=1; its figures are still the oracle
        warnings.simplefilter("ignore", RuntimeWarning)
        r = scipy.stats.describe(flat, axis=-1)
    return {
        "nobs": np.asarray(r.nobs),
        "min": np.asarray(r.minmax[0]),
        "max": np.asarray(r.minmax[1]),
        "mean": np.asarray(r.mean),
        "variance": np.asarray(r.variance),
        "skewness": np.asarray(r.skewness),
        "kurtosis": np.asarray(r.kurtosis),
    }


#: The issue's tolerances against scipy: relative for mean and variance; skewness and
#: kurtosis relative, with an absolute floor for values near zero.
TOL = {"mean": 1e-12, "variance": 1e-12, "skewness": 1e-10, "kurtosis": 1e-10}


def assert_matches_scipy(ours: dict, oracle: dict, scale_floor: float = 1e-300) -> None:
    np.testing.assert_array_equal(np.asarray(ours["nobs"]), oracle["nobs"])
    np.testing.assert_array_equal(np.asarray(ours["min"], float), oracle["min"])
    np.testing.assert_array_equal(np.asarray(ours["max"], float), oracle["max"])
    for key, rtol in TOL.items():
        np.testing.assert_allclose(
            np.asarray(ours[key], float),
            oracle[key],
            rtol=rtol,
            atol=rtol * 1e-2,
            err_msg=key,
        )


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the CLI in-process; returns click's Result (stdout and stderr separate)."""

    def run(*args, **kwargs):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return run


def run_subprocess(*args, check=False, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m normcli ARGS`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "normcli", *map(str, args)],
        capture_output=True,
        text=True,
        check=check,
        **kwargs,
    )


def write_h5(path: Path, arrays: dict[str, np.ndarray], **kwargs) -> Path:
    with h5py.File(path, "w") as f:
        for name, arr in arrays.items():
            f.create_dataset(name, data=arr, **kwargs)
    return path


def mnist_sample() -> np.ndarray:
    with np.load(SAMPLE / "mnist_sample.npz") as z:
        return z["x_test"]


def assert_one_error_line(result, *needles: str) -> None:
    """One line ``Error: ...`` on stderr, nothing on stdout, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == ""


def tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``, hidden ones too: a file's sha256, ``dir``, a link's
    target (links are not followed, so loops are fine) or ``special`` (a pipe)."""
    import hashlib

    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "special"
    return out


@pytest.fixture
def refused(invoke, tmp_path):
    """Run a command that must refuse its input, and check the whole promise: exit code
    ``code`` (1: bad input data), one stderr line ``Error: ...`` holding every needle
    (the file's name, what to do), nothing on stdout, no traceback, and ``tmp_path``
    (input and output directory) exactly as it was: the input byte-identical, no OUTPUT,
    no temporary file. ``process=True`` runs a real process (with a timeout, for what
    could hang)."""

    def check(*args, needles=(), code=1, process=False, timeout=120):
        before = tree(tmp_path)
        if process:
            result = run_subprocess(*args, timeout=timeout)
            exit_code = result.returncode
        else:
            result = invoke(*args)
            exit_code = result.exit_code
        assert exit_code == code, (exit_code, result.stderr)
        assert_one_error_line(result, *needles)
        assert tree(tmp_path) == before
        return result

    return check


def png_bytes(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    """A PNG written by hand (for headers Pillow would never write)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
