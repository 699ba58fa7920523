"""Statistics: every figure against scipy.stats.describe, for every dtype and chunking."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TOL, assert_matches_scipy, chunkings, scipy_describe
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from normcli.inthist import IntHistogram, histogram_supported
from normcli.moments import Moments, describe
from normcli.stats import moments

RNG = np.random.default_rng(20261123)

DTYPES = ["uint8", "int16", "int64", "float16", "float32", "float64"]


def sample(dtype: str, shape) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        return RNG.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    if dtype.kind == "i":
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -(10**12)), min(info.max, 10**12)
        return RNG.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    # skewed, with some zeros, so every moment has something to get right
    x = RNG.gamma(2.0, 3.0, size=shape) - 1.0
    x[RNG.random(shape) < 0.1] = 0
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axes", [None, (0,), (1, 2), (0, 1)])
def test_every_dtype_axis_and_chunking_matches_scipy(dtype, axes):
    x = sample(dtype, (37, 6, 5))
    oracle = scipy_describe(x, axes)
    for rows in chunkings(len(x)):
        ours = describe(moments(x, axes, chunk_rows=rows))
        assert_matches_scipy(ours, oracle)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16"])
def test_exact_integer_counting_agrees_with_moments(dtype):
    info = np.iinfo(dtype)
    x = RNG.integers(info.min, info.max, size=(300, 40), endpoint=True).astype(dtype)
    assert histogram_supported(x.dtype)
    counted = describe(moments(x, chunk_rows=7))
    summed = describe(moments(x, chunk_rows=7, exact_integers=False))
    oracle = scipy_describe(x)
    assert_matches_scipy(counted, oracle)
    assert_matches_scipy(summed, oracle)
    assert counted["zeros"] == np.count_nonzero(x == 0)


def test_histogram_is_exact_whatever_the_chunking():
    x = RNG.integers(0, 256, size=(1000, 28, 28)).astype(np.uint8)
    first = IntHistogram(x.dtype)
    first.update(x)
    second = IntHistogram(x.dtype)
    for part in np.array_split(x, 17):
        second.update(part)
    np.testing.assert_array_equal(first.counts, np.bincount(x.ravel(), minlength=256))
    np.testing.assert_array_equal(first.counts, second.counts)


@pytest.mark.parametrize("rows", chunkings(2000))
def test_badly_conditioned_data_keeps_every_digit(rows):
    # Values near 1e8 with unit spread. scipy on the raw values loses digits itself
    # (its mean is off by ~1e-8, which shifts the third moment): the oracle is scipy
    # on x - 1e8, which is exact in float64 (Sterbenz) and has the same moments.
    x = RNG.normal(1e8, 1.0, size=(2000, 300))
    oracle = scipy_describe(x - 1e8)
    ours = describe(moments(x, chunk_rows=rows))
    np.testing.assert_allclose(ours["mean"] - 1e8, oracle["mean"], atol=2e-8)
    for key in ("variance", "skewness", "kurtosis"):
        np.testing.assert_allclose(ours[key], oracle[key], rtol=TOL[key], err_msg=key)


def test_badly_conditioned_per_feature():
    x = RNG.normal(1e8, 1.0, size=(4000, 3)) + np.array([0.0, 5.0, -3.0])
    oracle = scipy_describe(x - 1e8, (0,))
    for rows in (1, 7, 4000):
        ours = describe(moments(x, (0,), chunk_rows=rows))
        for key in ("variance", "skewness", "kurtosis"):
            np.testing.assert_allclose(ours[key], oracle[key], rtol=TOL[key], err_msg=key)


def test_nan_is_counted_and_left_out():
    x = sample("float64", (50, 8))
    x[3, 2] = x[10, 0] = np.nan
    ours = describe(moments(x, chunk_rows=7))
    oracle = scipy_describe(x[~np.isnan(x)])
    assert ours["nan"] == 2
    assert_matches_scipy(ours, oracle)
    per_col = describe(moments(x, (0,), chunk_rows=7))
    for j in range(8):
        col = x[:, j][~np.isnan(x[:, j])]
        assert_matches_scipy({k: np.asarray(v)[j] for k, v in per_col.items()}, scipy_describe(col))
    propagated = describe(moments(x), nan_policy="propagate")
    assert np.isnan(propagated["mean"]) and propagated["nan"] == 2


def test_exclude_zeros_describes_nonzero_values():
    x = sample("uint8", (100, 28, 28))
    x[x < 100] = 0
    for exact in (True, False):
        ours = describe(moments(x, exclude_zeros=True, chunk_rows=9, exact_integers=exact))
        assert_matches_scipy(ours, scipy_describe(x[x != 0]))
        assert ours["zeros"] == np.count_nonzero(x == 0)
    f = x.astype(np.float32)
    per_image = describe(moments(f, (1, 2), exclude_zeros=True, chunk_rows=9))
    for i in (0, 50, 99):
        nz = f[i][f[i] != 0]
        assert per_image["nobs"][i] == nz.size
        np.testing.assert_allclose(per_image["mean"][i], nz.astype(np.float64).mean(), rtol=1e-12)


def test_constant_data_has_nan_skewness_like_scipy():
    x = np.full((10, 4), 3.0)
    ours = describe(moments(x))
    oracle = scipy_describe(x)
    assert ours["variance"] == 0
    assert np.isnan(ours["skewness"]) and np.isnan(oracle["skewness"])
    assert np.isnan(ours["kurtosis"]) and np.isnan(oracle["kurtosis"])


def test_infinity_propagates_and_is_counted():
    x = np.array([1.0, 2.0, np.inf, 4.0])
    ours = describe(moments(x))
    assert ours["inf"] == 1 and ours["max"] == np.inf
    assert not np.isfinite(ours["mean"])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow is the point
@pytest.mark.parametrize(
    "values", [[1.15103059e308, 0, 0, 0, 0, 0, 0, 0], [1.7e308, -1.7e308], [-1e308, 1e308, 1e308]]
)
def test_values_near_the_float64_limit_give_scipy_figures(values):
    # Finite values whose centred sum overflows once sent the flat path into endless
    # recursion (a traceback instead of figures). In one chunk the figures are scipy's
    # (the variance overflows, as in scipy); every chunking at least completes (merging
    # chunks of such values can still overflow: not settled here).
    x = np.array(values, dtype=np.float64)
    oracle = scipy_describe(x)
    for rows in chunkings(len(x)):
        ours = describe(moments(x, chunk_rows=rows))
        if rows >= len(x):
            for key in ("nobs", "min", "max", "mean", "variance"):
                np.testing.assert_allclose(ours[key], oracle[key], rtol=1e-12, err_msg=key)


def test_zero_dimensional_array():
    ours = describe(moments(np.array(5.0)))
    assert ours["nobs"] == 1 and ours["mean"] == 5.0 and np.isnan(ours["variance"])


# -- merging in any grouping is one pass ----------------------------------------------


def _tree_merge(parts: list[Moments], order: list[int]) -> Moments:
    """Merge neighbours in the order given: every binary grouping is reachable."""
    parts = list(parts)
    for i in order:
        if len(parts) == 1:
            break
        i %= len(parts) - 1
        parts[i : i + 2] = [parts[i].merge(parts[i + 1])]
    return Moments.merge_all(parts)


@given(
    x=hnp.arrays(
        np.float64,
        st.tuples(st.integers(2, 60), st.integers(1, 5)),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    ),
    cuts=st.lists(st.integers(1, 59), max_size=8),
    order=st.lists(st.integers(0, 100), min_size=10, max_size=10),
    offset=st.sampled_from([0.0, 1e8, -3e5]),
    per_feature=st.booleans(),
)
def test_merging_in_any_grouping_equals_one_pass(x, cuts, order, offset, per_feature):
    x = x + offset
    axes = (0,) if per_feature else (0, 1)
    bounds = sorted({c for c in cuts if c < len(x)})
    pieces = np.split(x, bounds)
    parts = [moments(p, axes) for p in pieces]
    merged = describe(_tree_merge(parts, order))
    whole = describe(moments(x, axes))
    for key in ("nobs", "min", "max", "nan", "zeros"):
        np.testing.assert_array_equal(merged[key], whole[key])
    spread = np.max(np.abs(x - np.mean(x, axis=axes, keepdims=True)), axis=axes)
    scale = np.maximum(np.abs(whole["mean"]), 1.0)
    np.testing.assert_allclose(
        merged["mean"], whole["mean"], rtol=1e-12, atol=1e-12 * float(np.max(scale))
    )
    var_floor = 1e-9 * (np.abs(whole["mean"]) * 1e-15 + spread) ** 2 + 1e-300
    ok = whole["variance"] > var_floor
    np.testing.assert_allclose(
        np.where(ok, merged["variance"], 0), np.where(ok, whole["variance"], 0), rtol=1e-10
    )
    # higher moments are only well defined away from (near-)constant data
    well = ok & (whole["variance"] > (1e-6 * np.maximum(np.abs(whole["mean"]), 1)) ** 2)
    for key in ("skewness", "kurtosis"):
        np.testing.assert_allclose(
            np.where(well, merged[key], 0),
            np.where(well, whole[key], 0),
            rtol=1e-8,
            atol=1e-8,
            err_msg=key,
        )


@given(
    x=hnp.arrays(
        st.sampled_from([np.uint8, np.int16, np.float32]),
        st.tuples(st.integers(1, 40), st.integers(1, 4), st.integers(1, 3)),
    ),
    rows=st.integers(1, 45),
    axes=st.sampled_from([None, (0,), (1, 2), (0, 2), (2,)]),
)
def test_streamed_equals_scipy_for_any_chunking(x, rows, axes):
    if x.dtype.kind == "f":
        x = np.nan_to_num(x, nan=0.0, posinf=1e30, neginf=-1e30).clip(-1e30, 1e30)
    ours = describe(moments(x, axes, chunk_rows=rows))
    oracle = scipy_describe(x, axes)
    np.testing.assert_array_equal(ours["nobs"], oracle["nobs"])
    np.testing.assert_array_equal(ours["min"], oracle["min"])
    np.testing.assert_array_equal(ours["max"], oracle["max"])
    scale = float(np.max(np.abs(x.astype(np.float64)), initial=1.0))
    np.testing.assert_allclose(ours["mean"], oracle["mean"], rtol=1e-12, atol=1e-13 * scale)
    np.testing.assert_allclose(
        ours["variance"], oracle["variance"], rtol=1e-10, atol=1e-12 * scale**2
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # infinities meet infinities
@given(
    x=hnp.arrays(
        st.sampled_from([np.uint8, np.int16, np.float32, np.float64]),
        st.tuples(st.integers(1, 30), st.integers(1, 4), st.integers(1, 3)),
        elements={"allow_subnormal": False},
    ),
    rows=st.integers(1, 35),
    axes=st.sampled_from([(0, 1, 2), (0,), (1, 2), (0, 2), (2,)]),
    offset=st.sampled_from([0.0, 1e8]),
    exclude_zeros=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_chunk_states_in_any_order_absorb_to_the_same_bits(
    x, rows, axes, offset, exclude_zeros, seed
):
    """What a parallel engine relies on: ``chunk_state`` reads nothing but the
    configuration, so states computed in any order (as workers finish) and absorbed in
    chunk order give the bits ``update`` gives, for the statistics and every method's
    fitted state."""
    from normcli.normalizers import make_normalizer
    from normcli.stats import Accumulator

    if x.dtype.kind == "f":
        x = x + offset
    chunks = [x[s : s + rows] for s in range(0, x.shape[0], rows)]
    shuffled = np.random.default_rng(seed).permutation(len(chunks))

    seq = Accumulator(x.shape, x.dtype, axes, exclude_zeros=exclude_zeros)
    par = Accumulator(x.shape, x.dtype, axes, exclude_zeros=exclude_zeros)
    for c in chunks:
        seq.update(c)
    states = {i: par.chunk_state(chunks[i], i * rows) for i in shuffled}
    for i in range(len(chunks)):
        par.absorb(states[i])
    a, b = seq.result(), par.result()
    for name in a.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)

    if 0 not in axes:
        return
    for method, opts in (("minmax", {}), ("zscore", {}), ("lp", {"order": 3.0})):
        fitted = make_normalizer(method, axes, nan_policy="omit", **opts).bind(x.shape)
        for c in chunks:
            fitted.partial_fit(c)
        norm = make_normalizer(method, axes, nan_policy="omit", **opts).bind(x.shape)
        parts = {i: norm.chunk_state(chunks[i], i * rows) for i in shuffled}
        for i in range(len(chunks)):
            norm.absorb(parts[i])
        for name, value in fitted.statistics().items():
            np.testing.assert_array_equal(norm.statistics()[name], value, err_msg=name)
