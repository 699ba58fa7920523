"""The command line's own manners: each command's --help speaks of its own options,
HDF5 paths with a leading slash, a hint for ``-k a,b``, ``--axis 1,2,`` refused, the
version, and -k completed by the shell."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import SAMPLE, assert_one_error_line

NPZ = SAMPLE / "mnist_sample.npz"


def help_of(invoke, command: str) -> str:
    r = invoke(command, "--help")
    assert r.exit_code == 0
    return " ".join(r.stdout.split())


def test_each_command_describes_its_own_key_option(invoke):
    texts = {c: help_of(invoke, c) for c in ("describe", "normalize", "fit", "invert", "check")}
    assert "Array to describe" in texts["describe"]
    assert "Array to normalize" in texts["normalize"] and "copied through" in texts["normalize"]
    assert "The array to fit on" in texts["fit"]
    assert "Array to restore" in texts["invert"]
    assert "Array to check" in texts["check"]
    assert len({t.split("-k, --key NAME")[1][:40] for t in texts.values()}) == 5


def test_fit_force_speaks_of_its_params_file_and_invert_compression_has_help(invoke):
    assert "Replace an existing -o PARAMS.json" in help_of(invoke, "fit")
    assert "Replace an existing OUTPUT" not in help_of(invoke, "fit")
    invert = help_of(invoke, "invert")
    assert "Compression of OUTPUT" in invert.split("--compression")[1][:60]


def test_chunk_size_means_bytes_held_at_once(invoke):
    text = help_of(invoke, "describe")
    assert "held in memory at once" in text and "read per chunk" not in text


def test_version(invoke):
    from normcli import __version__

    r = invoke("--version")
    assert r.exit_code == 0 and __version__ in r.stdout


def test_a_leading_slash_names_an_hdf5_dataset(invoke, tmp_path):
    path = tmp_path / "runs.h5"
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    with h5py.File(path, "w") as f:
        f.create_dataset("run1/frames", data=x)
        f.create_dataset("other", data=x)
    plain = invoke("describe", path, "-k", "run1/frames", "--json")
    slashed = invoke("describe", path, "-k", "/run1/frames", "--json")
    assert slashed.exit_code == 0, slashed.stderr
    assert slashed.stdout == plain.stdout
    r = invoke("normalize", path, tmp_path / "o.h5", "-k", "/run1/frames", "-m", "zscore")
    assert r.exit_code == 0, r.stderr
    with h5py.File(tmp_path / "o.h5") as f:
        assert f["run1/frames"].dtype == np.float32 and f["other"].dtype == x.dtype


def test_comma_separated_keys_get_a_hint_to_repeat_k(invoke):
    r = invoke("describe", NPZ, "-k", "x_test,y_test")
    assert r.exit_code == 2
    assert_one_error_line(r, "-k x_test -k y_test", "repeat")


@pytest.mark.parametrize("axis", ["1,2,", ",1", "1,,2"])
def test_an_empty_axis_is_a_usage_error(invoke, axis):
    r = invoke("describe", NPZ, "-k", "x_test", "--axis", axis)
    assert r.exit_code == 2
    assert "empty axis" in r.stderr


def test_the_shell_completes_array_names():
    env = dict(
        os.environ,
        _NORMCLI_COMPLETE="bash_complete",
        COMP_WORDS=f"normcli describe {NPZ} -k x",
        COMP_CWORD="4",
    )
    r = subprocess.run(
        [sys.executable, "-m", "normcli"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["plain,x_test"]  # bash's form: type, value
