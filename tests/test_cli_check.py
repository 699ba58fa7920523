"""``normcli check``: exit 0 when the assertion holds, 1 with a one-line reason otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SAMPLE, assert_one_error_line, chunkings, mnist_sample, run_subprocess
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.preprocessing import MinMaxScaler, StandardScaler, normalize

NPZ = SAMPLE / "mnist_sample.npz"
RNG = np.random.default_rng(31)


@pytest.fixture
def prepared(tmp_path):
    """MNIST normalized by scikit-learn (the oracle), as a user's pipeline would."""
    x = mnist_sample().astype(np.float64)
    flat = x.reshape(len(x), -1)
    arrays = {
        "raw": x,
        "zscore": StandardScaler().fit_transform(flat.reshape(-1, 1)).reshape(x.shape),
        "minmax": MinMaxScaler().fit_transform(flat.reshape(-1, 1)).reshape(x.shape),
        "per_image_l2": normalize(flat).reshape(x.shape),  # one L2 norm per image
        "column_l2": x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300),
    }
    path = tmp_path / "prepared.npz"
    np.savez(path, **{k: v.astype(np.float32) for k, v in arrays.items()})
    return path


def ok(result):
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("ok")


def test_range(invoke, prepared):
    ok(invoke("check", prepared, "-k", "minmax", "--range", 0, 1))
    r = invoke("check", prepared, "-k", "raw", "--range", 0, 1)
    assert r.exit_code == 1
    assert_one_error_line(r, "prepared.npz:raw", "max 255 is above 1", "(--range 0 1)")
    r = invoke("check", prepared, "-k", "zscore", "--range", 0, 1)
    assert_one_error_line(r, "below 0")
    # the tolerance widens the interval
    lo = float(np.min(np.load(prepared)["zscore"]))
    r = invoke("check", prepared, "-k", "zscore", "--range", 0, 4, "--tol", -lo * 1.001)
    ok(r)


def test_mean_std(invoke, prepared):
    r = invoke("check", prepared, "-k", "zscore", "--mean", 0, "--std", 1)
    ok(r)
    assert len(r.stdout.splitlines()) == 2
    r = invoke("check", prepared, "-k", "minmax", "--mean", 0, "--std", 1)
    assert r.exit_code == 1
    mean = float(np.mean(np.load(prepared)["minmax"].astype(np.float64)))
    assert_one_error_line(r, f"mean {mean:.7g} is not 0 within 0.0001", "(and 1 more failing)")


def test_mean_and_std_thresholds_follow_numpy(invoke, tmp_path):
    x = RNG.normal(2.0, 3.0, size=(500, 4))
    path = tmp_path / "x.npy"
    np.save(path, x)
    mean, std0, std1 = x.mean(), x.std(), x.std(ddof=1)
    tol = 1e-6
    ok(invoke("check", path, "--mean", mean, "--std", std0, "--tol", tol))
    ok(invoke("check", path, "--std", std1, "--ddof", 1, "--tol", tol))
    for args in (
        ["--mean", mean + 2 * tol],
        ["--std", std0 - 2 * tol],
        ["--std", std0, "--ddof", 1],  # the ddof=1 std differs by more than tol
    ):
        r = invoke("check", path, *args, "--tol", tol)
        assert r.exit_code == 1, args
        assert_one_error_line(r, "not")


def test_per_slice_mean_std_with_axis(invoke, tmp_path):
    x = StandardScaler().fit_transform(RNG.normal(5, 2, size=(300, 6)))
    path = tmp_path / "x.npy"
    np.save(path, x)
    ok(invoke("check", path, "--axis", 0, "--mean", 0, "--std", 1))  # per feature
    x[:, 3] *= 1.5
    np.save(path, x)
    r = invoke("check", path, "--axis", 0, "--std", 1)
    assert r.exit_code == 1
    assert_one_error_line(r, "std (ddof=0) 1.5 in slice [3] of axes 1", "1 of 6 slices fail")


def test_unit_norm(invoke, prepared):
    ok(invoke("check", prepared, "-k", "per_image_l2", "--unit-norm", "--axis", "1,2"))
    r = invoke("check", prepared, "-k", "column_l2", "--unit-norm", "--axis", "1,2")
    assert r.exit_code == 1
    assert_one_error_line(r, "L2 norm over axes 1,2", "in sample", "not 1 within 0.0001")
    # the wrong-axis data pass the wrong-axis assertion: all-zero columns are allowed
    r = invoke("check", prepared, "-k", "column_l2", "--unit-norm", "--axis", "1")
    ok(r)
    assert "all-zero slices left as they are" in r.stdout
    r = invoke("check", prepared, "-k", "raw", "--unit-norm", "--axis", "1,2")
    assert r.exit_code == 1


def test_unit_norm_default_axis_and_order(invoke, tmp_path):
    x = RNG.normal(size=(40, 7))
    np.save(tmp_path / "l1.npy", normalize(x, norm="l1"))
    np.save(tmp_path / "l2.npy", normalize(x))  # axis -1, as keras.utils.normalize
    ok(invoke("check", tmp_path / "l2.npy", "--unit-norm"))
    ok(invoke("check", tmp_path / "l1.npy", "--unit-norm", "--order", 1))
    r = invoke("check", tmp_path / "l1.npy", "--unit-norm")
    assert r.exit_code == 1
    np.save(tmp_path / "z.npy", np.zeros((4, 3)))
    r = invoke("check", tmp_path / "z.npy", "--unit-norm")
    assert_one_error_line(r, "all zeros")


def test_unit_norm_across_samples(invoke, tmp_path):
    x = RNG.normal(size=(30, 3))
    x /= np.linalg.norm(x, axis=0)  # axis 0: one norm per feature, over all samples
    np.save(tmp_path / "x.npy", x)
    for rows in chunkings(30):
        r = invoke("check", tmp_path / "x.npy", "--unit-norm", "--axis", 0, "--chunk-size",
                   rows * 24)  # fmt: skip
        ok(r)


@pytest.mark.parametrize("rows", [1, 2, 50, 1000, 1042])
def test_every_chunking_gives_the_same_verdict(invoke, prepared, rows):
    chunk = rows * 28 * 28 * 4
    ok(invoke("check", prepared, "-k", "minmax", "--range", 0, 1, "--chunk-size", chunk))
    r = invoke("check", prepared, "-k", "column_l2", "--unit-norm", "--axis", "1,2",
               "--chunk-size", chunk)  # fmt: skip
    assert r.exit_code == 1


def test_nan_fails_every_assertion(invoke, tmp_path):
    x = RNG.random((10, 3))
    x[2, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    for args in (["--range", 0, 1], ["--mean", 0.5, "--tol", 1], ["--unit-norm"]):
        r = invoke("check", tmp_path / "x.npy", *args)
        assert r.exit_code == 1, args
        assert_one_error_line(r)


def test_json_output(invoke, prepared):
    r = invoke("check", prepared, "-k", "minmax", "-k", "raw", "--range", 0, 1, "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["passed"] is False
    assert [(a["name"], a["passed"]) for a in doc["arrays"]] == [("minmax", True), ("raw", False)]
    assert doc["arrays"][1]["checks"][0]["max"] == 255.0
    assert r.stderr.startswith("Error: ") and len(r.stderr.splitlines()) == 1


def test_usage_errors(invoke, prepared):
    for args in ([], ["--order", 2, "--range", 0, 1], ["--ddof", 1, "--mean", 0]):
        r = invoke("check", prepared, "-k", "raw", *args)
        assert r.exit_code == 2, args
    r = invoke("check", prepared, "--range", 0, 1)  # several arrays, no -k
    assert r.exit_code == 2 and "-k" in r.stderr
    r = invoke("check", prepared, "-k", "raw", "--range", 0, 1, "--axis", 5)
    assert r.exit_code == 2


def test_quiet_prints_nothing_on_success(invoke, prepared):
    r = invoke("check", prepared, "-k", "minmax", "--range", 0, 1, "-q")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""


def test_makefile_guard_as_a_real_process(tmp_path, prepared):
    good = run_subprocess("check", prepared, "-k", "zscore", "--mean", "0", "--std", "1")
    assert good.returncode == 0, good.stderr
    bad = run_subprocess("check", prepared, "-k", "raw", "--mean", "0", "--std", "1")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and bad.stderr.startswith("Error: ")
    assert "Traceback" not in bad.stderr
    missing = run_subprocess("check", tmp_path / "nope.npz", "--range", "0", "1")
    assert missing.returncode == 1 and "does not exist" in missing.stderr


@settings(max_examples=40)
@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
        elements=st.floats(-100, 100, allow_nan=False),
    ),
    lo=st.floats(-120, 120),
    width=st.floats(0, 200),
    rows=st.integers(1, 7),
)
def test_range_verdict_equals_numpy_for_any_data_and_chunking(tmp_path_factory, x, lo, width, rows):
    from normcli.checks import Assertions
    from normcli.ops.check import check_file

    path = tmp_path_factory.mktemp("range") / "x.npy"
    np.save(path, x)
    hi = lo + width
    report = check_file(
        path, (), Assertions(value_range=(lo, hi)), chunk_bytes=rows * max(1, x[0].nbytes)
    )
    assert report.passed == bool(x.min() >= lo and x.max() <= hi)
    per_row = check_file(path, (), Assertions(value_range=(lo, hi)), axis=tuple(range(1, x.ndim)))
    assert per_row.passed == report.passed  # every slice passes iff all values do
