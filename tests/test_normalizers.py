"""Normalizers against their oracles: keras.utils.normalize's formula, scikit-learn."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
from conftest import ROOT, chunkings
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.preprocessing import normalize as sk_normalize

from normcli.errors import ParameterError
from normcli.moments import describe
from normcli.normalizers import (
    Lp,
    MinMax,
    PerImage,
    Scale,
    ZScore,
    make_normalizer,
)
from normcli.params import normalizer_from_params, params_document
from normcli.stats import moments

RNG = np.random.default_rng(11)


def keras_normalize(x, axis=-1, order=2):
    """keras.utils.normalize's numpy path, verbatim."""
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def vector_norm_normalize(x, axis, order):
    """The same with numpy's vector norm (numpy's matrix norms differ for axis pairs)."""
    norm = np.linalg.vector_norm(x, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm


def streamed(norm, x, rows, dtype=np.float64):
    """Fit over chunks of ``rows`` rows when needed, then transform chunk by chunk."""
    norm.reset()
    norm.bind(x.shape)
    if norm.needs_fit:
        for start in range(0, len(x), rows):
            norm.partial_fit(x[start : start + rows])
    out = np.empty(x.shape, dtype=dtype)
    for start in range(0, len(x), rows):
        norm.transform(x[start : start + rows], out=out[start : start + rows])
    return out


def images(shape=(30, 7, 5)):
    x = RNG.integers(0, 256, size=shape).astype(np.uint8)
    x[3] = 0  # an all-zero image: zero norm, constant
    x[4] = 17  # a constant image
    return x


@pytest.mark.parametrize("axis", [-1, 1, 2])
@pytest.mark.parametrize("order", [1, 2, np.inf])
def test_lp_equals_keras_normalize(axis, order):
    x = images().astype(np.float64)
    expected = keras_normalize(x, axis, order)
    for rows in chunkings(len(x)):
        got = streamed(Lp((axis,), order=order), x, rows)
        np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("order", [0, 1, 2, 3.5, np.inf])
def test_lp_over_axis_tuples_is_the_vector_norm(order):
    x = images().astype(np.float64)
    expected = vector_norm_normalize(x, (1, 2), order)
    for rows in chunkings(len(x)):
        got = streamed(Lp((1, 2), order=order), x, rows)
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)


def test_lp_axis_zero_spans_samples_as_tf_keras_did():
    x = RNG.normal(size=(40, 6))
    x[:, 2] = 0
    expected = keras_normalize(x, 0, 2)
    for rows in chunkings(40):
        np.testing.assert_allclose(streamed(Lp((0,), order=2), x, rows), expected, rtol=1e-14)


@pytest.mark.parametrize("order", [1, 2, np.inf])
def test_lp_rows_equal_sklearn_normalize(order):
    x = RNG.normal(size=(50, 9))
    sk_norm = {1: "l1", 2: "l2", np.inf: "max"}[order]
    expected = sk_normalize(x, norm=sk_norm, axis=1)
    if order == np.inf:
        # sklearn's "max" divides by max(x), not max(|x|): compare on |x|
        x = np.abs(x)
        expected = sk_normalize(x, norm="max", axis=1)
    np.testing.assert_allclose(streamed(Lp((1,), order=order), x, 7), expected, rtol=1e-14)


def test_mnist_lp_row_of_the_reference_table():
    """The MNIST README's lp row: order 2 over axis -1 of x/255 (float32), (10000, 784)."""
    with gzip.open(ROOT / "tests" / "data" / "t10k-images.idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(10000, 784)
    x = (x / 255).astype(np.float32)
    out = streamed(Lp((-1,), order=2), x, 1000, dtype=np.float32)
    stats = describe(moments(out))
    reference = {  # ../shared/data/README.md, lp row
        "nobs": 7840000,
        "min": 0.0,
        "max": 0.272013038,
        "mean": 0.013869191031,
        "variance": 0.00108315588559,
        "skewness": 2.27324662583,
        "kurtosis": 3.87093731624,
    }
    for key, value in reference.items():
        np.testing.assert_allclose(stats[key], value, rtol=1e-8, err_msg=key)
    # keras's formula evaluated in float64 then stored as float32: within half an ulp
    # (keras run in float32 itself is off by up to 2 ulp, its own rounding)
    keras = keras_normalize(x.astype(np.float64), -1, 2)
    np.testing.assert_allclose(out, keras, rtol=2**-24)


def _with_constant_columns(n=60):
    x = RNG.normal(5, 3, size=(n, 6))
    x[:, 1] = 7.25  # constant
    x[:, 4] = 0.0  # constant zero
    return x


def test_minmax_axis0_equals_sklearn_minmaxscaler():
    x = _with_constant_columns()
    for rng in ((0.0, 1.0), (-1.0, 1.0)):
        expected = MinMaxScaler(feature_range=rng).fit_transform(x)
        for rows in chunkings(len(x)):
            got = streamed(MinMax((0,), feature_range=rng), x, rows)
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_zscore_axis0_equals_sklearn_standardscaler():
    x = _with_constant_columns()
    expected = StandardScaler().fit_transform(x)
    for rows in chunkings(len(x)):
        got = streamed(ZScore((0,)), x, rows)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_zscore_ddof_and_eps():
    x = RNG.normal(2, 4, size=(100, 3))
    got = streamed(ZScore("all", ddof=1), x, 9)
    np.testing.assert_allclose(got, (x - x.mean()) / x.std(ddof=1), rtol=1e-12)
    got = streamed(ZScore((0,), eps=1e-3), x, 9)
    np.testing.assert_allclose(got, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-12)


def test_train_statistics_applied_to_test_equal_sklearn():
    train, test = RNG.normal(3, 2, size=(80, 4)), RNG.normal(3.5, 2.5, size=(30, 4))
    for ours, theirs in ((ZScore((0,)), StandardScaler()), (MinMax((0,)), MinMaxScaler())):
        theirs.fit(train)
        ours.reset().bind(train.shape)
        for start in range(0, 80, 7):
            ours.partial_fit(train[start : start + 7])
        got = ours.transform(test, dtype=np.float64)
        np.testing.assert_allclose(got, theirs.transform(test), rtol=1e-12, atol=1e-14)


def test_minmax_clip_keeps_held_out_data_in_range():
    train, test = RNG.random((50, 3)), RNG.random((20, 3)) * 3 - 1
    norm = MinMax((0,), clip=True).fit(train)
    got = norm.transform(test, dtype=np.float64)
    assert got.min() >= 0 and got.max() <= 1
    expected = MinMaxScaler(clip=True).fit(train).transform(test)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_per_image_is_the_familiar_formula():
    x = images().astype(np.float64)
    for rows in chunkings(len(x)):
        got = streamed(PerImage(), x, rows)
        for i in (0, 1, 29):
            np.testing.assert_allclose(got[i], (x[i] - x[i].min()) / np.ptp(x[i]), rtol=1e-15)
        assert np.all(got[3] == 0) and np.all(got[4] == 0)  # constant images map to 0


def test_scale_one_over_255_divides_exactly():
    x = images()
    got = streamed(Scale(factor="1/255"), x, 7)
    np.testing.assert_array_equal(got, x / 255)
    got32 = streamed(Scale(factor="1/255"), x, 7, dtype=np.float32)
    np.testing.assert_array_equal(got32, (x / 255).astype(np.float32))


def test_float32_output_is_within_an_ulp_of_float64():
    x = RNG.normal(100, 20, size=(200, 16)).astype(np.float32)
    for norm in (ZScore((0,)), MinMax("all"), Lp((-1,)), PerImage()):
        f64 = streamed(norm, x, 13, dtype=np.float64)
        f32 = streamed(norm, x, 13, dtype=np.float32)
        np.testing.assert_array_equal(f32, f64.astype(np.float32))


def test_output_identical_for_every_chunking():
    x = RNG.normal(size=(57, 4, 3)).astype(np.float32)
    for method, axis in (("minmax", (0,)), ("zscore", "all"), ("lp", (1, 2)), ("per-image", None)):
        outs = [streamed(make_normalizer(method, axis), x, r, np.float32) for r in chunkings(57)]
        for other in outs[1:]:
            np.testing.assert_array_equal(other, outs[0])


def test_options_that_do_not_apply_are_refused():
    with pytest.raises(ParameterError, match="--order does not apply to -m minmax"):
        make_normalizer("minmax", order=2.0)
    with pytest.raises(ParameterError, match="--range"):
        make_normalizer("zscore", feature_range=(0, 1))
    with pytest.raises(ParameterError, match="cannot include 0"):
        make_normalizer("per-image", (0, 1)).bind((5, 3, 3))


def test_params_round_trip_exactly():
    import json

    x = RNG.normal(size=(40, 5)) * np.pi
    for norm in (ZScore((0,), ddof=1), MinMax((0,), feature_range=(-1, 2)), Lp((0,), order=3)):
        norm.fit(x)
        doc = params_document(norm, source="s.npy", key="s", shape=x.shape, dtype=x.dtype)
        again = normalizer_from_params(json.loads(json.dumps(doc)), "p.json")
        np.testing.assert_array_equal(
            again.transform(x, dtype=np.float64), norm.transform(x, dtype=np.float64)
        )


def test_params_of_another_shape_are_refused():
    norm = ZScore((0,)).fit(RNG.normal(size=(10, 5)))
    doc = params_document(norm, source="a", key="a", shape=(10, 5), dtype=np.float64)
    loaded = normalizer_from_params(doc, "p.json")
    loaded.bind((99, 5))  # other sample count: fine
    with pytest.raises(ParameterError, match="do not fit"):
        loaded.bind((10, 6))


def test_lp_and_per_image_are_not_invertible():
    for norm in (Lp((-1,)), PerImage()):
        norm.bind((4, 3, 3))
        with pytest.raises(ParameterError, match="cannot be inverted"):
            norm.inverse_transform(np.zeros((4, 3, 3)))


# -- invariants ------------------------------------------------------------------------------


@given(
    # keras squares without scaling, so below ~1e-150 its norm underflows to 0 and it
    # leaves the slice unchanged; normcli does not (test_safety.py, lp near 1e-200)
    x=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 25), st.integers(1, 6)),
        elements=st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: 0.0 if abs(v) < 1e-100 else v),
    ),
    rows=st.integers(1, 30),
    order=st.sampled_from([1, 2, 3, math.inf]),
)
def test_lp_streamed_equals_keras_for_any_chunking(x, rows, order):
    got = streamed(Lp((-1,), order=order), x, rows)
    np.testing.assert_allclose(got, keras_normalize(x, -1, order), rtol=1e-13, atol=1e-300)
