"""``ls`` and ``describe`` through click's CliRunner and as real processes."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from conftest import (
    SAMPLE,
    assert_matches_scipy,
    assert_one_error_line,
    mnist_sample,
    run_subprocess,
    scipy_describe,
    write_h5,
)

RNG = np.random.default_rng(3)


def test_describe_json_on_the_shipped_sample_matches_scipy(invoke):
    result = invoke("describe", SAMPLE / "mnist_sample.npz", "-k", "x_test", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["input"] == str(SAMPLE / "mnist_sample.npz")
    (item,) = doc["arrays"]
    assert item["name"] == "x_test" and item["shape"] == [1000, 28, 28]
    assert item["dtype"] == "uint8" and item["axis"] is None
    x = mnist_sample()
    assert_matches_scipy(item["stats"], scipy_describe(x))
    assert item["stats"]["zeros"] == np.count_nonzero(x == 0)
    assert item["stats"]["nan"] == 0


def test_describe_hdf5_sample_agrees_with_npz(invoke):
    a = json.loads(invoke("describe", SAMPLE / "mnist_sample.npz", "-k", "x_test", "--json").stdout)
    b = json.loads(
        invoke("describe", SAMPLE / "mnist_sample.h5", "-k", "test/images", "--json").stdout
    )
    assert a["arrays"][0]["stats"] == b["arrays"][0]["stats"]


def test_describe_without_key_describes_every_array(invoke):
    doc = json.loads(invoke("describe", SAMPLE / "mnist_sample.npz", "--json").stdout)
    assert [a["name"] for a in doc["arrays"]] == ["x_test", "y_test"]


@pytest.mark.parametrize("chunk", ["1", "784", "40KiB", "64MiB"])
def test_describe_is_the_same_for_every_chunk_size(invoke, chunk):
    ref = json.loads(
        invoke("describe", SAMPLE / "mnist_sample.npz", "-k", "x_test", "--json").stdout
    )
    got = json.loads(
        invoke(
            "describe", SAMPLE / "mnist_sample.npz", "-k", "x_test", "--json", "--chunk-size", chunk
        ).stdout
    )
    assert got == ref


def test_per_channel_figures_for_torchvision(tmp_path, invoke):
    x = RNG.random((40, 8, 8, 3)).astype(np.float32) * np.array([1, 2, 3], dtype=np.float32)
    np.save(tmp_path / "rgb.npy", x)
    result = invoke("describe", tmp_path / "rgb.npy", "--axis", "0,1,2", "--json")
    stats = json.loads(result.stdout)["arrays"][0]["stats"]
    assert json.loads(result.stdout)["arrays"][0]["axis"] == [0, 1, 2]
    np.testing.assert_allclose(stats["mean"], x.astype(np.float64).mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(
        stats["std"], x.astype(np.float64).std(axis=(0, 1, 2), ddof=1), rtol=1e-12
    )
    table = invoke("describe", tmp_path / "rgb.npy", "--axis", "0,1,2").stdout
    assert "std" in table and "[2]" in table


def test_exclude_zeros(invoke):
    doc = json.loads(
        invoke(
            "describe", SAMPLE / "mnist_sample.npz", "-k", "x_test", "--exclude-zeros", "--json"
        ).stdout
    )
    x = mnist_sample()
    stats = doc["arrays"][0]["stats"]
    assert_matches_scipy(stats, scipy_describe(x[x != 0]))
    assert stats["zeros"] == np.count_nonzero(x == 0)


def test_describe_table_shows_scipy_rows(invoke):
    out = invoke("describe", SAMPLE / "mnist_sample.npz", "-k", "x_test").stdout
    for row in ("nobs", "min", "max", "mean", "variance", "skewness", "kurtosis", "nan", "zeros"):
        assert row in out
    assert "784,000" in out


def test_ls(invoke):
    result = invoke("ls", SAMPLE / "mnist_sample.h5", "--json")
    doc = json.loads(result.stdout)
    assert doc["format"] == "hdf5"
    assert {a["name"]: a["shape"] for a in doc["arrays"]} == {
        "test/images": [1000, 28, 28],
        "test/labels": [1000],
    }
    assert doc["arrays"][0]["bytes"] == 784000
    assert "test/images" in invoke("ls", SAMPLE / "mnist_sample.h5").stdout


def test_nan_policy_in_describe(tmp_path, invoke):
    x = np.arange(10.0)
    x[4] = np.nan
    np.save(tmp_path / "n.npy", x)
    result = invoke("describe", tmp_path / "n.npy", "--json")
    assert result.exit_code == 0
    stats = json.loads(result.stdout)["arrays"][0]["stats"]
    assert stats["nan"] == 1 and stats["nobs"] == 9
    assert "NaN" in result.stderr  # warned
    raised = invoke("describe", tmp_path / "n.npy", "--nan", "raise")
    assert raised.exit_code == 1
    assert_one_error_line(raised, "n.npy", "NaN")
    prop = json.loads(invoke("describe", tmp_path / "n.npy", "--nan", "propagate", "--json").stdout)
    assert prop["arrays"][0]["stats"]["mean"] is None  # NaN is null in strict JSON


# -- bad input: one line, non-zero exit, no traceback ---------------------------------


def test_missing_file(invoke, tmp_path):
    result = invoke("describe", tmp_path / "nope.npz")
    assert result.exit_code == 1
    assert_one_error_line(result, "nope.npz", "does not exist")


def test_unknown_extension(invoke, tmp_path):
    (tmp_path / "data.csv").write_text("1,2,3\n")
    result = invoke("describe", tmp_path / "data.csv")
    assert result.exit_code == 1
    assert_one_error_line(result, "data.csv", "unknown format")


def test_missing_key_lists_keys(invoke):
    result = invoke("describe", SAMPLE / "mnist_sample.npz", "-k", "x_train")
    assert result.exit_code == 2
    assert_one_error_line(result, "x_train", "x_test, y_test")


def test_truncated_npy(invoke, tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((100, 10)))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:500])
    result = invoke("describe", tmp_path / "t.npy")
    assert result.exit_code == 1
    assert_one_error_line(result, "t.npy", "truncated")


def test_truncated_npz(invoke, tmp_path):
    np.savez_compressed(tmp_path / "t.npz", a=RNG.random((100, 10)))
    (tmp_path / "t.npz").write_bytes((tmp_path / "t.npz").read_bytes()[:3000])
    result = invoke("describe", tmp_path / "t.npz")
    assert result.exit_code == 1
    assert_one_error_line(result, "t.npz")


def test_corrupt_h5(invoke, tmp_path):
    write_h5(tmp_path / "t.h5", {"x": RNG.random((100, 100))})
    data = (tmp_path / "t.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(data[: len(data) // 3])
    result = invoke("describe", tmp_path / "t.h5")
    assert result.exit_code == 1
    assert_one_error_line(result, "t.h5")
    (tmp_path / "not.h5").write_text("hello")
    result = invoke("describe", tmp_path / "not.h5")
    assert_one_error_line(result, "not.h5", "not an HDF5 file")


def test_not_an_npy(invoke, tmp_path):
    (tmp_path / "x.npy").write_text("definitely not numpy")
    result = invoke("describe", tmp_path / "x.npy")
    assert result.exit_code == 1
    assert_one_error_line(result, "x.npy", "not a valid .npy")


def test_object_array(invoke, tmp_path):
    np.save(tmp_path / "o.npy", np.array([1, "a", None], dtype=object), allow_pickle=True)
    result = invoke("describe", tmp_path / "o.npy")
    assert result.exit_code == 1
    assert_one_error_line(result, "o.npy", "never unpickles")


def test_empty_array(invoke, tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((0, 5)))
    result = invoke("describe", tmp_path / "e.npy")
    assert result.exit_code == 1
    assert_one_error_line(result, "e.npy", "empty")


def test_axis_out_of_range(invoke):
    result = invoke("describe", SAMPLE / "mnist_sample.npz", "-k", "x_test", "--axis", "3")
    assert result.exit_code == 2
    assert_one_error_line(result, "--axis 3", "out of range")


def test_bad_chunk_size_is_a_usage_error(invoke):
    result = invoke("describe", SAMPLE / "mnist_sample.npz", "--chunk-size", "lots")
    assert result.exit_code == 2
    assert "not a size" in result.stderr


# -- as a real process --------------------------------------------------------------------


def test_subprocess_describe_json_and_exit_codes(tmp_path):
    ok = run_subprocess("describe", SAMPLE / "mnist_sample.npz", "-k", "y_test", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)  # exactly one JSON document on stdout
    labels = np.load(SAMPLE / "mnist_sample.npz")["y_test"]
    assert doc["arrays"][0]["stats"]["mean"] == pytest.approx(labels.mean(), rel=1e-14)
    assert ok.stderr == ""  # no progress bar when stderr is not a terminal
    bad = run_subprocess("describe", tmp_path / "missing.npy")
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: ") and "Traceback" not in bad.stderr
    usage = run_subprocess("describe")
    assert usage.returncode == 2


def test_subprocess_stdout_closed_early_is_quiet():
    import subprocess

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "normcli",
            "describe",
            str(SAMPLE / "mnist_sample.npz"),
            "--axis",
            "1,2",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait()
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.slow
def test_describe_2gib_float32_keeps_memory_bounded(tmp_path):
    # A sparse 2 GiB .npy (a header, then a hole of zeros): no disk, real reads.
    from normcli.io.npy import header_bytes

    n = (2 << 30) // (4 * 1024)
    path = tmp_path / "big.npy"
    header = header_bytes((n, 1024), np.dtype(np.float32))
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + n * 1024 * 4)
    code = (
        "import sys; from normcli.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(hwm.split()[1], file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", code, "describe", str(path), "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["arrays"][0]["stats"]["nobs"] == n * 1024
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"
