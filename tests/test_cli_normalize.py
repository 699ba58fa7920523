"""``normalize``, ``fit`` and ``invert`` through the CLI: outputs, JSON, keys, errors."""

from __future__ import annotations

import json

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
from sklearn.preprocessing import StandardScaler

from normcli.io import open_reader

RNG = np.random.default_rng(5)
NPZ = SAMPLE / "mnist_sample.npz"


def load(path, name=None):
    with open_reader(path) as r:
        return r.read(name or r.names()[0])


def listing(path):
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
def traintest(tmp_path):
    """An npz like keras.datasets.mnist.load_data() gives, flattened features."""
    path = tmp_path / "data.npz"
    np.savez(
        path,
        x_train=RNG.normal(3, 2, size=(120, 8)).astype(np.float32),
        y_train=RNG.integers(0, 10, 120).astype(np.uint8),
        x_test=RNG.normal(3.5, 2.5, size=(40, 8)).astype(np.float32),
        y_test=RNG.integers(0, 10, 40).astype(np.uint8),
    )
    return path


def test_normalize_json_contract_and_after_is_what_was_written(tmp_path, invoke):
    out = tmp_path / "out.npz"
    result = invoke("normalize", NPZ, out, "-k", "x_test", "-m", "zscore", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["input"] == str(NPZ) and doc["output"] == str(out)
    assert doc["passed"] == ["y_test"]
    (a,) = doc["arrays"]
    assert a["name"] == "x_test" and a["shape"] == [1000, 28, 28]
    assert (a["dtype_in"], a["dtype_out"], a["method"]) == ("uint8", "float32", "zscore")
    assert a["axis"] == [0, 1, 2]
    x = mnist_sample()
    assert_matches_scipy(a["before"], scipy_describe(x))
    written = load(out, "x_test")
    assert written.dtype == np.float32
    assert_matches_scipy(a["after"], scipy_describe(written))
    xf = x.astype(np.float64)
    np.testing.assert_array_equal(written, ((xf - xf.mean()) / xf.std()).astype(np.float32))
    np.testing.assert_array_equal(load(out, "y_test"), np.load(NPZ)["y_test"])
    assert load(out, "y_test").dtype == np.uint8
    assert a["params"]["statistics"]["mean"] == pytest.approx(xf.mean(), rel=1e-15)


def test_table_shows_before_and_after(tmp_path, invoke):
    result = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "minmax")
    assert result.exit_code == 0
    assert "before" in result.stdout and "after" in result.stdout
    assert "kurtosis" in result.stdout and "y_test" in result.stdout


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".h5"])
@pytest.mark.parametrize("chunk", ["1", "3KiB", "64MiB"])
def test_output_formats_and_chunk_sizes_give_identical_output(tmp_path, invoke, suffix, chunk):
    out = tmp_path / f"o{suffix}"
    result = invoke(
        "normalize",
        NPZ,
        out,
        "-k",
        "x_test",
        "-m",
        "minmax",
        "--axis",
        "0",
        "--chunk-size",
        chunk,
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    x = mnist_sample().astype(np.float64)
    rng = x.max(0) - x.min(0)
    expected = ((x - x.min(0)) / np.where(rng == 0, 1, rng)).astype(np.float32)
    np.testing.assert_array_equal(load(out, "x_test" if suffix != ".npy" else None), expected)
    assert listing(tmp_path) == [out.name]


def test_npy_output_keeps_only_the_selected_array(tmp_path, invoke):
    result = invoke(
        "normalize",
        NPZ,
        tmp_path / "x.npy",
        "-k",
        "x_test",
        "-m",
        "scale",
        "--factor",
        "1/255",
        "--json",
    )
    doc = json.loads(result.stdout)
    assert doc["dropped"] == ["y_test"] and doc["passed"] == []
    assert "y_test is not written" in result.stderr
    np.testing.assert_array_equal(
        np.load(tmp_path / "x.npy"), (mnist_sample() / 255).astype(np.float32)
    )


def test_fit_key_applies_train_statistics_to_test(traintest, tmp_path, invoke):
    out = tmp_path / "o.npz"
    result = invoke(
        "normalize",
        traintest,
        out,
        "-k",
        "x_train",
        "-k",
        "x_test",
        "--fit-key",
        "x_train",
        "-m",
        "zscore",
        "--axis",
        "0",
        "--dtype",
        "float64",
    )
    assert result.exit_code == 0, result.stderr
    with np.load(traintest) as z:
        scaler = StandardScaler().fit(z["x_train"].astype(np.float64))
        test64, train64 = z["x_test"].astype(np.float64), z["x_train"].astype(np.float64)
        np.testing.assert_allclose(load(out, "x_test"), scaler.transform(test64), rtol=1e-12)
        np.testing.assert_allclose(
            load(out, "x_train"), scaler.transform(train64), rtol=1e-12, atol=1e-13
        )
        np.testing.assert_array_equal(load(out, "y_train"), z["y_train"])
    with np.load(out) as z:
        assert list(z.keys()) == ["x_train", "y_train", "x_test", "y_test"]


def test_fitting_each_array_on_itself_warns(traintest, tmp_path, invoke):
    result = invoke(
        "normalize", traintest, tmp_path / "o.npz", "-k", "x_train", "-k", "x_test", "-m", "zscore"
    )
    assert result.exit_code == 0
    assert "--fit-key x_train" in result.stderr


def test_fit_then_params_on_another_file_equals_fit_key(traintest, tmp_path, invoke):
    params = tmp_path / "p.json"
    r = invoke(
        "fit",
        traintest,
        "-k",
        "x_train",
        "-m",
        "minmax",
        "--axis",
        "0",
        "--range",
        "-1",
        "1",
        "-o",
        params,
    )
    assert r.exit_code == 0, r.stderr
    doc = json.loads(params.read_text())
    assert doc["method"] == "minmax" and doc["options"]["range"] == [-1.0, 1.0]
    assert doc["fitted_on"] == {
        "file": str(traintest),
        "key": "x_train",
        "shape": [120, 8],
        "dtype": "float32",
    }
    with np.load(traintest) as z:
        # floats round-trip exactly
        assert doc["statistics"]["min"] == z["x_train"].min(0).astype(np.float64).tolist()
        np.save(tmp_path / "other.npy", z["x_test"])
    a, b = tmp_path / "a.npy", tmp_path / "b.npz"
    assert invoke("normalize", tmp_path / "other.npy", a, "--params", params).exit_code == 0
    assert (
        invoke(
            "normalize",
            traintest,
            b,
            "-k",
            "x_test",
            "--fit-key",
            "x_train",
            "-m",
            "minmax",
            "--axis",
            "0",
            "--range",
            "-1",
            "1",
        ).exit_code
        == 0
    )
    np.testing.assert_array_equal(np.load(a), load(b, "x_test"))


def test_save_params_during_normalize_then_invert(tmp_path, invoke):
    out, params, back = tmp_path / "o.npz", tmp_path / "p.json", tmp_path / "back.npz"
    r = invoke(
        "normalize",
        NPZ,
        out,
        "-k",
        "x_test",
        "-m",
        "zscore",
        "--dtype",
        "float64",
        "--save-params",
        params,
    )
    assert r.exit_code == 0, r.stderr
    r = invoke(
        "invert", out, back, "--params", params, "-k", "x_test", "--dtype", "original", "--json"
    )
    assert r.exit_code == 0, r.stderr
    restored = load(back, "x_test")
    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, mnist_sample())
    assert json.loads(r.stdout)["arrays"][0]["dtype_out"] == "uint8"


def test_scale_invert(tmp_path, invoke):
    r = invoke(
        "fit", NPZ, "-k", "x_test", "-m", "scale", "--factor", "1/255", "-o", tmp_path / "p.json"
    )
    assert r.exit_code == 0, r.stderr
    invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "--params", tmp_path / "p.json")
    r = invoke(
        "invert",
        tmp_path / "o.npz",
        tmp_path / "b.npz",
        "--params",
        tmp_path / "p.json",
        "-k",
        "x_test",
        "--dtype",
        "original",
    )
    assert r.exit_code == 0, r.stderr
    np.testing.assert_array_equal(load(tmp_path / "b.npz", "x_test"), mnist_sample())


def test_invert_refuses_lp_and_per_image(tmp_path, invoke):
    r = invoke("fit", NPZ, "-k", "x_test", "-m", "per-image", "-o", tmp_path / "p.json")
    assert r.exit_code == 2
    assert_one_error_line(r, "nothing to fit")
    np.save(tmp_path / "x.npy", RNG.normal(size=(10, 4)))
    r = invoke("fit", tmp_path / "x.npy", "-m", "lp", "-o", tmp_path / "p.json")
    assert r.exit_code == 2
    assert_one_error_line(r, "nothing to fit")


def test_lp_wrong_axis_warns_and_strict_refuses(tmp_path, invoke):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "lp", "--axis", "1")
    assert r.exit_code == 0
    assert "each column of each image" in r.stderr and "-m per-image" in r.stderr
    r = invoke("normalize", NPZ, tmp_path / "p.npz", "-k", "x_test", "-m", "per-image")
    assert "Warning" not in r.stderr
    r = invoke(
        "normalize", NPZ, tmp_path / "q.npz", "-k", "x_test", "-m", "lp", "--axis", "1", "--strict"
    )
    assert r.exit_code == 2
    assert_one_error_line(r, "--strict")
    assert not (tmp_path / "q.npz").exists()


# -- NaN ------------------------------------------------------------------------------------


@pytest.fixture
def with_nan(tmp_path):
    x = RNG.normal(size=(30, 4))
    x[5, 1] = np.nan
    np.save(tmp_path / "n.npy", x)
    return tmp_path / "n.npy", x


def test_nan_raises_by_default(with_nan, tmp_path, invoke):
    path, _ = with_nan
    r = invoke("normalize", path, tmp_path / "o.npy", "-m", "zscore", "--axis", "0")
    assert r.exit_code == 1
    assert_one_error_line(r, "n.npy", "NaN", "--nan omit")
    assert listing(tmp_path) == ["n.npy"]


def test_nan_omit_fits_on_the_rest_and_leaves_nan_in_place(with_nan, tmp_path, invoke):
    path, x = with_nan
    r = invoke(
        "normalize",
        path,
        tmp_path / "o.npy",
        "-m",
        "zscore",
        "--axis",
        "0",
        "--nan",
        "omit",
        "--dtype",
        "float64",
    )
    assert r.exit_code == 0, r.stderr
    out = np.load(tmp_path / "o.npy")
    expected = (x - np.nanmean(x, 0)) / np.nanstd(x, 0)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert np.isnan(out[5, 1]) and np.isnan(out).sum() == 1


def test_nan_propagate(with_nan, tmp_path, invoke):
    path, _ = with_nan
    r = invoke(
        "normalize", path, tmp_path / "o.npy", "-m", "minmax", "--axis", "0", "--nan", "propagate"
    )
    assert r.exit_code == 0
    out = np.load(tmp_path / "o.npy")
    assert np.isnan(out[:, 1]).all() and not np.isnan(out[:, [0, 2, 3]]).any()


# -- bad command lines and bad input ---------------------------------------------------------


def test_option_that_does_not_apply(tmp_path, invoke):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "minmax", "--order", "2")
    assert r.exit_code == 2
    assert_one_error_line(r, "--order does not apply to -m minmax")


def test_axis_out_of_range(tmp_path, invoke):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "lp", "--axis", "5")
    assert r.exit_code == 2
    assert_one_error_line(r, "out of range")
    assert listing(tmp_path) == []


def test_several_arrays_need_a_key(tmp_path, invoke):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-m", "zscore")
    assert r.exit_code == 2
    assert_one_error_line(r, "x_test, y_test", "-k")


def test_fit_key_must_exist(tmp_path, invoke):
    r = invoke(
        "normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "--fit-key", "x_train", "-m", "zscore"
    )
    assert r.exit_code == 2
    assert_one_error_line(r, "x_train", "x_test, y_test")


def test_params_of_another_method_or_shape(tmp_path, invoke):
    params = tmp_path / "p.json"
    np.save(tmp_path / "a.npy", RNG.normal(size=(20, 5)))
    np.save(tmp_path / "b.npy", RNG.normal(size=(20, 6)))
    invoke("fit", tmp_path / "a.npy", "-m", "zscore", "--axis", "0", "-o", params)
    r = invoke(
        "normalize", tmp_path / "a.npy", tmp_path / "o.npy", "--params", params, "-m", "minmax"
    )
    assert r.exit_code == 2
    assert_one_error_line(r, "zscore", "not minmax")
    r = invoke("normalize", tmp_path / "b.npy", tmp_path / "o.npy", "--params", params)
    assert r.exit_code == 2
    assert_one_error_line(r, "(20, 5)", "(20, 6)")
    (tmp_path / "bad.json").write_text("{not json")
    r = invoke(
        "normalize", tmp_path / "a.npy", tmp_path / "o.npy", "--params", tmp_path / "bad.json"
    )
    assert r.exit_code == 1
    assert_one_error_line(r, "bad.json", "not valid JSON")
    assert not (tmp_path / "o.npy").exists()


def test_subprocess_normalize_hdf5_to_npz(tmp_path):
    src = write_h5(tmp_path / "d.h5", {"train/images": mnist_sample()[:100]})
    out = tmp_path / "o.npz"
    p = run_subprocess("normalize", src, out, "-m", "per-image", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["arrays"][0]["name"] == "train/images"
    x = mnist_sample()[:100].astype(np.float64)
    lo, hi = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    np.testing.assert_array_equal(
        load(out, "train/images"), ((x - lo) / (hi - lo)).astype(np.float32)
    )
    p = run_subprocess("normalize", src, out, "-m", "per-image")
    assert p.returncode == 1 and p.stderr.startswith("Error: ") and "--force" in p.stderr


def test_compression(tmp_path, invoke):
    for suffix in (".npz", ".h5"):
        plain, packed = tmp_path / f"p{suffix}", tmp_path / f"c{suffix}"
        invoke("normalize", NPZ, plain, "-k", "x_test", "-m", "scale", "--factor", "1/255")
        r = invoke(
            "normalize",
            NPZ,
            packed,
            "-k",
            "x_test",
            "-m",
            "scale",
            "--factor",
            "1/255",
            "--compression",
            "gzip",
        )
        assert r.exit_code == 0, r.stderr
        assert packed.stat().st_size < plain.stat().st_size / 3
        np.testing.assert_array_equal(load(packed, "x_test"), load(plain, "x_test"))
