"""Exact streamed percentiles (normcli.quantiles, describe --percentiles) against
numpy.percentile / numpy.nanpercentile on the whole array in memory: equal to the bit,
for every method, dtype, axes and chunking."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import SAMPLE, assert_one_error_line, chunkings, mnist_sample
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from normcli import quantiles as Q

PERCENTS = [0, 1, 5, 25, 33.3, 50, 75, 95, 99, 100]
DTYPES = ["uint8", "int16", "float16", "float32", "float64"]
AXES = [(0,), (0, 1), (0, 2), (0, 1, 2), (1, 2), (2,)]


def _data(dtype: str, shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal(shape) * 100).astype(dtype)
        x[rng.random(shape) < 0.2] = 0  # ties
        return x
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -3000), min(info.max, 3000), size=shape).astype(dtype)


def _numpy(x, q, axes, method="linear", nan_policy="propagate"):
    func = np.nanpercentile if nan_policy == "omit" else np.percentile
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(func(x, q, axis=axes, method=method), dtype=np.float64)


def assert_same(got, want):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_method_axes_and_chunking_equals_numpy_to_the_bit(dtype):
    x = _data(dtype, (23, 4, 3))
    for axes in AXES:
        for method in Q.METHODS:
            want = _numpy(x, PERCENTS, axes, method)
            for rows in chunkings(x.shape[0]):
                got = Q.percentiles(x, PERCENTS, axes, method=method, chunk_rows=rows)
                assert_same(got, want)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "uint64"])
@pytest.mark.parametrize("caps", [(16, 4), (256, 40)])
def test_the_refining_and_collecting_passes_are_exact(monkeypatch, dtype, caps):
    """Tiny histogram and collection limits force every stage of the search: many
    refining passes, bins of full width, collected values."""
    monkeypatch.setattr(Q, "HIST_CAP", caps[0])
    monkeypatch.setattr(Q, "COLLECT_CAP", caps[1])
    x = _data(dtype, (300, 3))
    for axes in [(0,), (0, 1)]:
        for method in ("linear", "midpoint", "inverted_cdf"):
            want = _numpy(x, PERCENTS, axes, method)
            for rows in (29, 300):
                assert_same(Q.percentiles(x, PERCENTS, axes, method=method, chunk_rows=rows), want)


@pytest.mark.parametrize("nan_policy", ["omit", "propagate"])
def test_nan_follows_the_policy_and_infinities_are_values_at_the_ends(nan_policy):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 3))
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.03] = np.inf
    x[rng.random(x.shape) < 0.03] = -np.inf
    x[rng.random(x.shape) < 0.1] = -0.0
    x[:, 2] = np.nan  # a slice without values
    for rows in (1, 50, 242):
        got = Q.percentiles(x, PERCENTS, (0,), nan_policy=nan_policy, chunk_rows=rows)
        assert_same(got, _numpy(x, PERCENTS, (0,), nan_policy=nan_policy))


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.float16]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9),
        elements={"allow_nan": False},
    ),
    q=st.lists(st.floats(0, 100), min_size=1, max_size=5),
    rows=st.integers(1, 12),
    method=st.sampled_from(Q.METHODS),
)
def test_streamed_percentiles_equal_numpys_for_any_data_and_chunking(x, q, rows, method):
    axes = tuple(range(x.ndim))
    want = _numpy(x, q, axes, method)
    assert_same(Q.percentiles(x, q, axes, method=method, chunk_rows=rows), want)


def test_the_state_does_not_grow_with_the_data():
    x = np.random.default_rng(0).standard_normal(400_000).astype(np.float32)
    scan = Q.PercentileScan(x.shape, x.dtype, (0,), np.array([0.01, 0.5, 0.99]))
    while not scan.done:
        for s in range(0, x.size, 1 << 16):
            scan.absorb(scan.chunk_state(x[s : s + (1 << 16)], s))
        if scan.search.counts is not None:
            assert scan.search.counts.size <= Q.HIST_CAP
        scan.end_pass()
    assert scan.passes == 2  # float32: the top 16 bits, then the rest or the values
    assert_same(scan.result(), np.percentile(x, [1, 50, 99]))


def test_keys_keep_the_order_of_values():
    for dtype in ("float16", "float32", "float64", "int8", "int64", "uint16"):
        x = np.unique(_data(dtype, (500,)))
        if np.dtype(dtype).kind == "f":
            x = np.concatenate(([-np.inf], x, [np.inf]))
        keys = Q.to_keys(x)
        assert (np.diff(keys.astype(np.float64)) > 0).all() or (keys[1:] > keys[:-1]).all()
        assert_same(Q.from_keys(keys, x.dtype), x)


# -- describe --percentiles -------------------------------------------------------------------


def _describe(invoke, path, *args):
    r = invoke("describe", path, *args, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["arrays"]


def test_mnist_percentiles_come_from_the_exact_counts(invoke):
    x = mnist_sample()
    (a,) = _describe(invoke, SAMPLE / "mnist_sample.npz", "-k", "x_test", "--percentiles")
    want = np.percentile(x, Q.DEFAULT_PERCENTILES)
    assert [a["percentiles"][f"{p:g}"] for p in Q.DEFAULT_PERCENTILES] == want.tolist()
    assert a["percentiles"]["50"] == 0.0  # 82% zeros
    assert a["percentile_method"] == "linear"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", ["all", "0", "0,2", "1,2"])
def test_describe_percentiles_per_slice_equal_numpy(tmp_path, invoke, dtype, axis):
    x = _data(dtype, (120, 5, 4))
    src = tmp_path / "x.npy"
    np.save(src, x)
    axes = None if axis == "all" else tuple(int(a) for a in axis.split(","))
    for method, chunk in (("linear", "1KiB"), ("nearest", "64MiB"), ("hazen", "3KiB")):
        want = _numpy(x, [1, 50, 99.5], axes, method)
        if True:
            (a,) = _describe(
                invoke, src, "--axis", axis, "--percentiles", "1,50,99.5",
                "--percentile-method", method, "--chunk-size", chunk,
            )  # fmt: skip
            got = [a["percentiles"][k] for k in ("1", "50", "99.5")]
            assert_same(np.asarray(got, dtype=np.float64), want)


def test_describe_percentiles_in_the_table_and_csv(tmp_path, invoke):
    src = tmp_path / "x.npy"
    x = _data("float32", (50, 3))
    np.save(src, x)
    r = invoke("describe", src, "--percentiles", "25,75")
    assert r.exit_code == 0, r.stderr
    assert "p25" in r.stdout and "p75" in r.stdout
    r = invoke("describe", src, "--percentiles", "25,75", "--axis", "0", "--csv")
    lines = r.stdout.strip().splitlines()
    assert lines[0].endswith(",p25,p75")
    want = np.percentile(x, [25, 75], axis=0)
    for i, line in enumerate(lines[1:]):
        assert [float(v) for v in line.split(",")[-2:]] == want[:, i].tolist()


def test_dask_engine_gives_the_same_percentiles(tmp_path, invoke):
    pytest.importorskip("dask")
    src = tmp_path / "x.npy"
    np.save(src, _data("float64", (300, 4)))
    args = ("--axis", "0", "--percentiles", "--chunk-size", "2KiB")
    local = _describe(invoke, src, *args)
    dask = _describe(invoke, src, *args, "--engine", "dask")
    assert local[0]["percentiles"] == dask[0]["percentiles"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--percentiles", "50,101"), "outside 0-100"),
        (("--percentiles", "50,-1"), "outside 0-100"),
        (("--percentiles", "a"), "not a number"),
        (("--percentile-method", "lower"), "add it"),
        (("--percentiles", "50", "--percentile-method", "bogus"), "bogus"),
    ],
)
def test_bad_percentiles_are_usage_errors(tmp_path, invoke, args, needle):
    src = tmp_path / "x.npy"
    np.save(src, np.arange(10.0))
    r = invoke("describe", src, *args)
    assert r.exit_code == 2
    assert needle in r.stderr


def test_nan_raise_refuses_before_percentiles(tmp_path, invoke):
    src = tmp_path / "x.npy"
    np.save(src, np.array([1.0, np.nan, 3.0]))
    r = invoke("describe", src, "--percentiles", "--nan", "raise")
    assert r.exit_code == 1
    assert_one_error_line(r, "NaN")
