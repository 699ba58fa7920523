"""Histograms (normcli.histogram) against numpy.histogram, for every dtype and chunking."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import chunkings, mnist_sample
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from normcli.histogram import BinCounter, ValueRange, needs_bounds
from normcli.stats import Accumulator

RNG = np.random.default_rng(7)


def stream(x: np.ndarray, rows: int, exclude_zeros: bool, bins: int):
    """Range pass then counting pass over chunks of ``rows`` rows, as the engine does."""
    r = ValueRange()
    for start in range(0, x.shape[0], rows):
        c = x[start : start + rows]
        r.update(c, (c != 0) if exclude_zeros else None)
    counter = BinCounter(r.bounds(), bins, x.dtype, exclude_zeros=exclude_zeros)
    for start in range(0, x.shape[0], rows):
        counter.update(x[start : start + rows])
    return counter.result()


def numpy_histogram(values: np.ndarray, bins: int):
    """np.histogram, raising ValueError whenever it cannot make ``bins`` increasing bins
    in the values' dtype: numpy 2.1+ says so itself, numpy 2.0 fails with IndexError or
    returns edges that do not increase."""
    try:
        counts, edges = np.histogram(values, bins=bins)
    except IndexError as exc:
        raise ValueError(str(exc)) from None
    if not np.all(edges[1:] > edges[:-1]):
        raise ValueError("Too many bins for data range")
    return counts, edges


def oracle(x: np.ndarray, bins: int, exclude_zeros: bool):
    values = x.reshape(-1)
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    if exclude_zeros:
        values = values[values != 0]
    return numpy_histogram(values, bins)


def data(dtype, shape=(67, 5, 3)) -> np.ndarray:
    x = RNG.normal(0, 40, size=shape)
    x[np.abs(x) < 15] = 0  # plenty of zeros
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        x = np.clip(x + (0 if info.min < 0 else 60), info.min, info.max)
    return x.astype(dtype)


DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64]
DTYPES += [np.float16, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("exclude_zeros", [False, True])
def test_counts_and_edges_equal_numpy_histogram_for_every_chunking(dtype, exclude_zeros):
    x = data(dtype)
    counts, edges = oracle(x, 40, exclude_zeros)
    for rows in chunkings(x.shape[0]):
        h = stream(x, rows, exclude_zeros, 40)
        np.testing.assert_array_equal(h.counts, counts, err_msg=f"rows={rows}")
        np.testing.assert_array_equal(h.edges, edges.astype(np.float64), err_msg=f"rows={rows}")
        assert h.zeros_excluded is exclude_zeros


@pytest.mark.parametrize("bins", [1, 7, 40, 256, 1000])
def test_mnist_exact_integer_path_equals_numpy(bins):
    x = mnist_sample()
    assert not needs_bounds(x.dtype)
    for exclude_zeros in (False, True):
        counts, edges = oracle(x, bins, exclude_zeros)
        # the exact path needs no range: the value counts give it
        counter = BinCounter(None, bins, x.dtype, exclude_zeros=exclude_zeros)
        for start in range(0, x.shape[0], 50):
            counter.update(x[start : start + 50])
        h = counter.result()
        np.testing.assert_array_equal(h.counts, counts)
        np.testing.assert_array_equal(h.edges, edges)


def test_from_the_describe_pass_counts_without_reading_again():
    x = mnist_sample()
    acc = Accumulator(x.shape, x.dtype, (0, 1, 2))
    acc.update(x)
    for exclude_zeros in (False, True):
        h = BinCounter.from_int_histogram(acc.hist, 40, exclude_zeros=exclude_zeros).result()
        counts, edges = oracle(x, 40, exclude_zeros)
        np.testing.assert_array_equal(h.counts, counts)
        np.testing.assert_array_equal(h.edges, edges)


def test_nan_and_infinities_are_not_counted_but_reported():
    x = RNG.normal(size=(30, 4))
    x[3, 1] = np.nan
    x[7, 2] = np.inf
    x[9, 0] = -np.inf
    h = stream(x, 4, False, 10)
    counts, edges = oracle(x, 10, False)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_array_equal(h.edges, edges)
    assert h.nonfinite == 3
    assert h.total == np.isfinite(x).sum()


def test_constant_and_empty_data_use_numpys_ranges():
    x = np.full((10, 3), 5.0, dtype=np.float32)
    counts, edges = oracle(x, 4, False)
    h = stream(x, 3, False, 4)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_array_equal(h.edges, edges)
    zeros = np.zeros((6, 2))
    counts, edges = oracle(zeros, 5, True)  # nothing left: numpy's range 0..1
    h = stream(zeros, 2, True, 5)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_array_equal(h.edges, edges)


def test_keep_mask_counts_only_where_it_holds():
    x = RNG.normal(size=(40, 6)).astype(np.float32)
    keep = RNG.random((40, 6)) < 0.3
    r = ValueRange()
    r.update(x, keep)
    counter = BinCounter(r.bounds(), 12, x.dtype)
    counter.update(x, keep)
    counts, edges = np.histogram(x[keep], bins=12)
    np.testing.assert_array_equal(counter.result().counts, counts)
    np.testing.assert_array_equal(counter.result().edges, edges)


def test_bool_arrays_are_counted_as_0_and_1():
    x = RNG.random((50, 3)) < 0.4
    h = stream(x, 7, False, 2)
    counts, edges = np.histogram(x.astype(np.uint8), bins=2)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_array_equal(h.edges, edges)


@given(
    x=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int16, np.uint8]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12),
        elements={"allow_nan": False, "allow_infinity": False},
    ),
    bins=st.integers(1, 60),
    rows=st.integers(1, 13),
    exclude_zeros=st.booleans(),
)
def test_any_array_any_chunking_equals_numpy(x, bins, rows, exclude_zeros):
    if x.dtype.kind == "f":
        # keep magnitudes where numpy's own bin arithmetic is finite
        x = np.clip(x, -1e30, 1e30).astype(x.dtype)
    h = stream(x, rows, exclude_zeros, bins)
    try:
        counts, edges = oracle(x, bins, exclude_zeros)
    except ValueError:
        # numpy cannot make the bins in the data's dtype (a constant float32 near 2**23:
        # x +- 0.5 is not representable); normcli counts in float64 instead
        kept = x[x != 0] if exclude_zeros else x
        assert h.total == kept.size
        return
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_array_equal(h.edges, edges.astype(np.float64))


def test_bins_numpy_cannot_make_in_the_data_dtype_fall_back_to_float64():
    x = np.full((5, 2), 8388610.0, dtype=np.float32)
    with pytest.raises(ValueError):
        numpy_histogram(x, bins=1)
    h = stream(x, 2, False, 1)
    counts, edges = np.histogram(x.astype(np.float64), bins=1)
    np.testing.assert_array_equal(h.counts, counts)
    np.testing.assert_array_equal(h.edges, edges)
    narrow = np.array([[1.0, 1.0009765625]], dtype=np.float16)  # one float16 step apart
    with pytest.raises(ValueError):
        numpy_histogram(narrow, bins=100)
    h = stream(narrow, 1, False, 100)
    assert h.total == 2 and h.bins == 100
