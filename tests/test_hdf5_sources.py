"""HDF5 files as PyTables, pandas and hdf5plugin write them, outputs that keep what the
input had, and honest numbers (issue 14).

Oracles: the writing libraries' own readers (PyTables, pandas, h5py), numpy,
scipy.stats.describe and scikit-learn.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_matches_scipy, scipy_describe

RNG = np.random.default_rng(1414)


def ls_json(invoke, path) -> dict:
    result = invoke("ls", path, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def stats_of(invoke, path, key, *extra) -> dict:
    result = invoke("describe", path, "-k", key, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["arrays"][0]["stats"]


# -- PyTables and pandas ---------------------------------------------------------------------


@pytest.fixture
def pytables_file(tmp_path) -> tuple[Path, dict]:
    tables = pytest.importorskip("tables", reason="PyTables writes the fixture")
    pytest.importorskip("hdf5plugin", reason="PyTables' Blosc is read through hdf5plugin")
    path = tmp_path / "pt.h5"
    images = RNG.integers(0, 256, size=(60, 8, 8)).astype("u1")
    labels = RNG.integers(0, 10, size=60)
    with tables.open_file(path, "w") as f:
        blosc = tables.Filters(complevel=5, complib="blosc")
        f.create_carray("/", "images", obj=images, filters=blosc, chunkshape=(16, 8, 8))
        f.create_array("/", "labels", obj=labels)

        class Row(tables.IsDescription):
            a = tables.Float64Col()
            b = tables.Int32Col()

        table = f.create_table("/", "meta", Row, filters=blosc)
        row = table.row
        for i in range(100):
            row["a"], row["b"] = i * 0.5, i
            row.append()
        table.flush()
        table.cols.b.create_index()
    return path, {"images": images, "labels": labels}


def test_pytables_arrays_beside_a_table_and_its_index(invoke, tmp_path, pytables_file):
    path, arrays = pytables_file
    doc = ls_json(invoke, path)
    assert [a["name"] for a in doc["arrays"]] == ["images", "labels"]
    skipped = {s["name"]: s["reason"] for s in doc["skipped"]}
    assert "structured records" in skipped["meta"]
    assert "PyTables index" in skipped["_i_meta"]
    for name, values in arrays.items():  # Blosc-compressed images read with no env var
        assert_matches_scipy(stats_of(invoke, path, name), scipy_describe(values))
    described = invoke("describe", path, "--json")  # without -k: skipped with a note
    assert described.exit_code == 0, described.stderr
    assert [a["name"] for a in json.loads(described.stdout)["arrays"]] == ["images", "labels"]
    assert "skipping" in described.stderr and "meta" in described.stderr
    refused = invoke("describe", path, "-k", "meta")
    assert refused.exit_code == 1 and "pt.h5:meta holds structured records" in refused.stderr
    out = tmp_path / "out.h5"
    result = invoke("normalize", path, out, "-k", "images", "-m", "minmax")
    assert result.exit_code == 0, result.stderr
    assert "meta is not written: holds structured records" in result.stderr
    with h5py.File(out) as f, h5py.File(path) as g:
        assert sorted(f) == ["images", "labels"]
        np.testing.assert_array_equal(f["labels"][()], arrays["labels"])
        assert f["images"].chunks == g["images"].chunks  # Blosc and chunking as the input
        ours = f["images"].id.get_create_plist().get_filter(0)[0]
        assert ours == g["images"].id.get_create_plist().get_filter(0)[0] == 32001
    strict = invoke("normalize", path, tmp_path / "s.h5", "-k", "images", "-m", "minmax",
                    "--strict")  # fmt: skip
    assert strict.exit_code == 2 and not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_pandas_to_hdf_files_are_read_array_by_array(invoke, tmp_path, fmt):
    pd = pytest.importorskip("pandas", reason="pandas writes the fixture")
    pytest.importorskip("tables", reason="pandas.to_hdf needs PyTables")
    frame = pd.DataFrame({"x": RNG.normal(size=300), "y": RNG.normal(5, 2, 300), "s": ["a"] * 300})
    path = tmp_path / f"{fmt}.h5"
    frame.to_hdf(path, key="df", format=fmt, data_columns=["x"] if fmt == "table" else None)
    doc = ls_json(invoke, path)
    assert doc["skipped"]  # byte strings, structured records, the index: listed, not fatal
    if fmt == "fixed":  # the numeric block is an array of its own
        numeric = frame[["x", "y"]].to_numpy()
        assert_matches_scipy(stats_of(invoke, path, "df/block0_values"), scipy_describe(numeric))
    else:
        skipped = {s["name"]: s["reason"] for s in doc["skipped"]}
        assert "structured records" in skipped["df/table"]
        assert any("PyTables index" in r for r in skipped.values())
        assert not any("incomplete" in r for r in skipped.values())  # not misdiagnosed


# -- hdf5plugin ------------------------------------------------------------------------------

PLUGINS = ["Blosc", "Blosc2", "Zstd", "LZ4", "Bitshuffle"]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_hdf5plugin_filters_read_and_are_kept(invoke, tmp_path, plugin):
    hdf5plugin = pytest.importorskip("hdf5plugin", reason="the optional extra hdf5plugin")
    path = tmp_path / "p.h5"
    values = RNG.normal(3.0, 2.0, size=(64, 16)).astype("f4")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=values, chunks=(8, 16), **getattr(hdf5plugin, plugin)())
        f["x"].attrs["units"] = "m"
    assert_matches_scipy(stats_of(invoke, path, "x"), scipy_describe(values))
    out = tmp_path / "out.h5"
    result = invoke("normalize", path, out, "-m", "zscore", "-q")
    assert result.exit_code == 0, result.stderr
    with h5py.File(out) as f, h5py.File(path) as g:
        code = g["x"].id.get_create_plist().get_filter(0)[0]
        assert f["x"].id.get_create_plist().get_filter(0)[0] == code
        assert f["x"].chunks == (8, 16)
        z = (values.astype(np.float64) - values.mean(dtype=np.float64)) / values.std(
            dtype=np.float64
        )
        np.testing.assert_allclose(f["x"][()], z, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("compression", ["zstd", "blosc"])
def test_compression_zstd_and_blosc_for_h5_with_hdf5plugin(invoke, tmp_path, compression):
    pytest.importorskip("hdf5plugin", reason="the optional extra hdf5plugin")
    src = tmp_path / "in.npy"
    values = RNG.normal(size=(100, 10))
    np.save(src, values)
    out = tmp_path / "out.h5"
    result = invoke("normalize", src, out, "-m", "minmax", "--compression", compression, "-q")
    assert result.exit_code == 0, result.stderr
    with h5py.File(out) as f:
        code = f["in"].id.get_create_plist().get_filter(0)[0]
        assert code == {"zstd": 32015, "blosc": 32001}[compression]
        lo, hi = values.min(), values.max()
        np.testing.assert_allclose(f["in"][()], (values - lo) / (hi - lo), rtol=1e-6, atol=1e-7)


# -- outputs keep what the input had -----------------------------------------------------


def gzip_input(path: Path) -> np.ndarray:
    values = RNG.normal(100.0, 15.0, size=(90, 12, 3))
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", data=values, chunks=(16, 12, 3), compression="gzip",
                              compression_opts=7, shuffle=True)  # fmt: skip
        ds.attrs.update({"units": "K", "long_name": "temperature", "scale_factor": 1.0})
        kept = f.create_dataset("y", data=np.arange(90, dtype="i4"), chunks=(30,),
                                compression="lzf")  # fmt: skip
        kept.attrs.update({"units": "count", "valid_range": np.array([0, 100], "i4")})
    return values


def test_gzip_chunked_input_keeps_compression_chunking_and_attributes(invoke, tmp_path):
    src = tmp_path / "in.h5"
    values = gzip_input(src)
    out = tmp_path / "out.h5"
    result = invoke("normalize", src, out, "-k", "x", "-m", "zscore", "--axis", "0", "-q")
    assert result.exit_code == 0, result.stderr
    with h5py.File(out) as f, h5py.File(src) as g:
        for name in ("x", "y"):
            assert f[name].compression == g[name].compression
            assert f[name].compression_opts == g[name].compression_opts
            assert f[name].shuffle == g[name].shuffle
            assert f[name].chunks == g[name].chunks  # along axis 0, as the input's
        x = dict(f["x"].attrs)
        assert x["long_name"] == "temperature"
        assert "units" not in x and "scale_factor" not in x  # they described the old values
        assert x["normcli_method"] == "zscore" and x["normcli_axis"] == "0"
        assert json.loads(x["normcli_params"])["method"] == "zscore"
        assert "normcli_missing" not in x
        y = dict(f["y"].attrs)  # copied through: every attribute, the stored values
        assert y["units"] == "count"
        np.testing.assert_array_equal(y["valid_range"], [0, 100])
        np.testing.assert_array_equal(f["y"][()], g["y"][()])
        mean, std = values.mean(axis=0), values.std(axis=0)
        np.testing.assert_allclose(f["x"][()], (values - mean) / std, rtol=1e-5, atol=1e-6)


def test_compression_none_writes_uncompressed(invoke, tmp_path):
    src = tmp_path / "in.h5"
    gzip_input(src)
    out = tmp_path / "out.h5"
    result = invoke("normalize", src, out, "-k", "x", "-m", "minmax", "--compression", "none")
    assert result.exit_code == 0, result.stderr
    with h5py.File(out) as f:
        assert f["x"].compression is None and f["y"].compression is None


# -- honest numbers ----------------------------------------------------------------------------


def timestamps(n: int = 20_000, window_ns: int = 86_400 * 10**9) -> np.ndarray:
    """Nanosecond timestamps in a window of 2024: a large offset, a small spread."""
    start = np.datetime64("2024-03-01T00:00:00", "ns").astype(np.int64)
    return start + np.sort(RNG.integers(0, window_ns, size=n))


def test_int64_beyond_2_53_warns_that_statistics_are_rounded(invoke, tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, timestamps())
    result = invoke("describe", path)
    assert result.exit_code == 0, result.stderr
    assert "beyond 2**53" in result.stderr
    small = tmp_path / "s.npy"
    np.save(small, np.arange(1000, dtype=np.int64))
    assert "2**53" not in invoke("describe", small).stderr


def test_zscore_of_timestamps_divides_by_the_std_unlike_scikit_learn(invoke, tmp_path):
    sklearn = pytest.importorskip("sklearn.preprocessing")
    values = timestamps(window_ns=10**7).reshape(-1, 1)  # 20,000 stamps in 10 ms
    path = tmp_path / "t.npy"
    np.save(path, values)
    out = tmp_path / "z.npy"
    result = invoke("normalize", path, out, "-m", "zscore", "--dtype", "float64")
    assert result.exit_code == 0, result.stderr
    assert "constant" not in result.stderr and "2**53" in result.stderr
    ours = np.load(out)
    as_float = values.astype(np.float64)
    # the oracle in exact arithmetic on the values as float64 (what the statistics see);
    # the float64 mean itself is only known to half an ulp of 1.7e18 (128 ns), so every
    # output may be off by that over the std, whatever computes it (numpy's own mean
    # differs by an ulp between numpy versions)
    ints = [int(v) for v in as_float.ravel()]
    mean = Fraction(sum(ints), len(ints))
    var = sum((Fraction(v) - mean) ** 2 for v in ints) / len(ints)
    std = math.sqrt(var)
    exact = np.array([float((Fraction(v) - mean) / Fraction(std)) for v in ints])
    slack = float(np.spacing(np.abs(as_float).max())) / std
    np.testing.assert_allclose(ours.ravel(), exact, rtol=0, atol=slack)
    assert ours.std() == pytest.approx(1.0, rel=1e-9)
    # scikit-learn's near-constant rule leaves the std out (scale 1): x - mean
    theirs = sklearn.StandardScaler().fit(as_float)
    assert theirs.scale_[0] == 1.0
    assert ours.std() != pytest.approx(theirs.transform(as_float).std())


def test_zscore_says_when_it_treats_a_slice_as_constant(invoke, tmp_path):
    values = np.column_stack([RNG.normal(size=200), np.full(200, 7.25), RNG.normal(size=200)])
    path = tmp_path / "c.npy"
    np.save(path, values)
    out = tmp_path / "z.npy"
    result = invoke("normalize", path, out, "-m", "zscore", "--axis", "0")
    assert result.exit_code == 0, result.stderr
    assert "1 of 3 slices are constant" in result.stderr
    np.testing.assert_array_equal(np.load(out)[:, 1], 0.0)
