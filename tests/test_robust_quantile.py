"""-m robust, -m quantile, -m quantile-match, --clip-percentiles and --groups against
their oracles: scikit-learn's RobustScaler and QuantileTransformer(subsample=None) on
the same data in memory, numpy percentiles and reshapes, a direct implementation of
quantile normalization."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import chunkings
from normalize_oracle import assert_close, oracle, tolerance
from scipy.stats import rankdata
from sklearn.preprocessing import QuantileTransformer, RobustScaler

from normcli.normalizers import make_normalizer
from normcli.normalizers.quantile import match_ranks
from normcli.params import normalizer_from_params, params_document

DTYPES = ["uint8", "int16", "float16", "float32", "float64"]


def _data(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal(shape) * 50 + 3).astype(dtype)
    else:
        x = rng.integers(0, 200, shape).astype(dtype)
    x[:, 0] = x[0, 0]  # a constant slice for --axis 0
    return x


def fit_in_chunks(norm, x, rows):
    """What the engine does: pass 1 and every next pass over chunks of ``rows`` rows."""
    norm.reset()
    norm.bind(x.shape)
    if not norm.needs_fit:
        return norm
    if hasattr(norm, "prepare_fit"):
        norm.prepare_fit(x.dtype)
    consumer = norm
    while consumer is not None:
        for s in range(0, x.shape[0], rows):
            consumer.absorb(consumer.chunk_state(x[s : s + rows], s))
        consumer = norm.next_pass() if hasattr(norm, "next_pass") else None
    return norm


def columns(x, axes):
    """``x`` as (values, slices) for scikit-learn, and the way back."""
    kept = [d for d in range(x.ndim) if d not in axes]
    order = list(axes) + kept
    t = np.transpose(x, order)
    back = np.argsort(order)
    return t.reshape(int(np.prod([x.shape[a] for a in axes])), -1), (
        lambda y: np.transpose(y.reshape(t.shape), back)
    )


def per_sample(x, axes, make):
    """The oracle over axes without 0: scikit-learn fitted on each sample alone."""
    out = np.empty(x.shape)
    for i in range(x.shape[0]):
        sample = x[i : i + 1]
        cols, back = columns(sample, (0, *axes))
        out[i : i + 1] = back(make().fit_transform(cols))
    return out


SPANNING = [(0,), (0, 1), (0, 2), (0, 1, 2)]
ROBUST_OPTIONS = [
    {},
    {"unit_variance": True, "quantile_range": (10.0, 90.0)},
    {"no_centering": True},
    {"no_scaling": True, "quantile_range": (5.0, 95.0)},
]


def _sk_robust(opts):
    return RobustScaler(
        with_centering=not opts.get("no_centering", False),
        with_scaling=not opts.get("no_scaling", False),
        unit_variance=opts.get("unit_variance", False),
        quantile_range=opts.get("quantile_range", (25.0, 75.0)),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_robust_equals_robustscaler_for_any_axes_and_chunking(dtype):
    x = _data(dtype, (40, 5, 3))
    xf = x.astype(np.float64)
    for axes in SPANNING:
        for opts in ROBUST_OPTIONS:
            cols, back = columns(xf, axes)
            want = back(_sk_robust(opts).fit_transform(cols))
            for rows in chunkings(x.shape[0]):
                norm = fit_in_chunks(make_normalizer("robust", axes, **opts), x, rows)
                got = norm.transform(x, dtype=np.float64)
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
                back_x = norm.inverse_transform(got, dtype=np.float64)
                np.testing.assert_allclose(back_x, xf, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_robust_per_sample_is_robustscaler_on_each_sample(dtype):
    x = _data(dtype, (6, 7, 5))
    for axes in [(1, 2), (1,)]:
        want = per_sample(x.astype(np.float64), axes, RobustScaler)
        got = make_normalizer("robust", axes).transform(x, dtype=np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_quantile_equals_quantiletransformer_for_any_axes_and_chunking(dtype):
    x = _data(dtype, (40, 5, 3))
    xf = x.astype(np.float64)
    for axes in [(0,), (0, 2), (0, 1, 2)]:
        for nq, dist in [(2, "uniform"), (17, "normal"), (40, "uniform")]:
            cols, back = columns(xf, axes)
            qt = QuantileTransformer(n_quantiles=nq, subsample=None, output_distribution=dist)
            want = back(qt.fit_transform(cols))
            want_back = back(qt.inverse_transform(qt.transform(cols)))
            for rows in chunkings(x.shape[0]):
                norm = make_normalizer("quantile", axes, n_quantiles=nq, output_distribution=dist)
                fit_in_chunks(norm, x, rows)
                got = norm.transform(x, dtype=np.float64)
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
                restored = norm.inverse_transform(got, dtype=np.float64)
                np.testing.assert_allclose(restored, want_back, rtol=1e-9, atol=1e-9)


def test_quantile_per_image_is_histogram_equalization_of_each_image():
    x = _data("uint8", (5, 12, 10))
    want = per_sample(
        x.astype(np.float64),
        (1, 2),
        lambda: QuantileTransformer(n_quantiles=100, subsample=None),
    )
    got = make_normalizer("quantile", (1, 2), n_quantiles=100).transform(x, dtype=np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_fitted_statistics_survive_the_params_file():
    x = _data("float32", (30, 4))
    for method, opts in [
        ("robust", {"unit_variance": True}),
        ("quantile", {"n_quantiles": 10}),
        ("zscore", {"clip_percentiles": (5.0, 95.0)}),
        ("minmax", {"clip_percentiles": (1.0, 99.0)}),
        ("quantile-match", {}),
    ]:
        axes = None if method == "quantile-match" else (0,)
        norm = fit_in_chunks(make_normalizer(method, axes, **opts), x, 7)
        doc = params_document(norm, source="x.npy", key="x", shape=x.shape, dtype=x.dtype)
        doc = json.loads(json.dumps(doc))
        again = normalizer_from_params(doc, "p.json")
        np.testing.assert_array_equal(again.transform(x), norm.transform(x))


# -- --clip-percentiles ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["zscore", "minmax"])
@pytest.mark.parametrize("axes", [None, (0,), (1,)])
def test_clip_percentiles_then_the_method_equals_the_numpy_recipe(method, axes):
    x = _data("float32", (50, 6)).astype(np.float64)
    x[3, 2] = 1e6  # a hot pixel
    reduce = (0, 1) if axes is None else axes
    lo, hi = np.percentile(x, [0.5, 99.5], axis=reduce, keepdims=True)
    clipped = np.clip(x, lo, hi)
    want = oracle(clipped, method, reduce)[0]
    for rows in chunkings(x.shape[0]):
        norm = make_normalizer(method, axes, clip_percentiles=(0.5, 99.5))
        fit_in_chunks(norm, x, rows)
        got = norm.transform(x, dtype=np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        if norm.invertible:  # the scaling is undone; the clipping cannot be
            np.testing.assert_allclose(
                norm.inverse_transform(got, dtype=np.float64), clipped, rtol=1e-9, atol=1e-6
            )


# -- --groups -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["zscore", "minmax"])
@pytest.mark.parametrize("groups", [1, 2, 4, 8])
def test_groups_equal_the_reshape_oracle(method, groups):
    x = _data("float32", (4, 5, 6, 8)).astype(np.float64)
    n, h, w, c = x.shape
    split = x.reshape(n, h, w, groups, c // groups)
    want = oracle(split, method, (1, 2, 4))[0].reshape(x.shape)
    got = make_normalizer(method, (1, 2, 3), groups=groups).bind(x.shape).transform(x, dtype=float)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_groups_of_one_channel_each_are_instance_norm():
    x = _data("float32", (3, 4, 4, 6)).astype(np.float64)
    got = make_normalizer("zscore", (1, 2, 3), groups=6).bind(x.shape).transform(x, dtype=float)
    want = oracle(x, "zscore", (1, 2))[0]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


# -- quantile-match ------------------------------------------------------------------------


def quantile_normalize(x):
    """Quantile normalization written directly: the mean of the sorted samples, each
    value at its rank, ties at the mean of their ranks (the reference interpolated)."""
    rows = x.reshape(x.shape[0], -1).astype(np.float64)
    ref = np.sort(rows, axis=1).mean(axis=0)
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        r = rankdata(row, method="average") - 1
        out[i] = np.interp(r, np.arange(ref.size), ref)
    return out.reshape(x.shape)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_quantile_match_equals_a_direct_implementation(dtype):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, (30, 4, 5)).astype(dtype)  # many ties
    want = quantile_normalize(x)
    for rows in chunkings(x.shape[0]):
        norm = fit_in_chunks(make_normalizer("quantile-match"), x, rows)
        np.testing.assert_allclose(norm.transform(x, dtype=np.float64), want, rtol=1e-12)


def test_quantile_match_gives_every_sample_one_distribution():
    x = np.random.default_rng(1).standard_normal((8, 50)) * np.arange(1, 9)[:, None]
    y = make_normalizer("quantile-match").fit(x).transform(x, dtype=np.float64)
    np.testing.assert_allclose(np.sort(y, axis=1), np.sort(y, axis=1)[:1].repeat(8, 0))
    assert (np.argsort(y, axis=1) == np.argsort(x, axis=1)).all()


def test_match_ranks_ties_take_the_mean_of_their_ranks():
    ref = np.array([1.0, 2.0, 4.0, 8.0])
    got = match_ranks(np.array([[5.0, 5.0, 1.0, 7.0], [3.0, 3.0, 3.0, 0.0]]), ref)
    np.testing.assert_array_equal(got, [[3.0, 3.0, 1.0, 8.0], [4.0, 4.0, 4.0, 1.0]])


# -- the command line ----------------------------------------------------------------------


def _run(invoke, *args):
    r = invoke(*args)
    assert r.exit_code == 0, r.stderr
    return r


@pytest.mark.parametrize("chunk", ["1KiB", "7KiB", "64MiB"])
def test_normalize_robust_and_invert_round_trip(tmp_path, invoke, chunk):
    x = _data("float32", (300, 6))
    src = tmp_path / "x.npy"
    np.save(src, x)
    out, back, params = tmp_path / "y.npy", tmp_path / "b.npy", tmp_path / "p.json"
    _run(
        invoke, "normalize", src, out, "-m", "robust", "--axis", "0", "--save-params", params,
        "--chunk-size", chunk, "-q",
    )  # fmt: skip
    want = RobustScaler().fit_transform(x.astype(np.float64))
    np.testing.assert_allclose(np.load(out), want, rtol=1e-6, atol=1e-6)
    doc = json.loads(params.read_text())
    np.testing.assert_array_equal(doc["statistics"]["center"], np.median(x, axis=0))
    _run(invoke, "invert", out, back, "--params", params, "--dtype", "float64", "-q")
    np.testing.assert_allclose(np.load(back), x, rtol=1e-6, atol=1e-5)


def test_normalize_quantile_and_invert_round_trip(tmp_path, invoke):
    x = np.random.default_rng(2).standard_normal((400, 3))
    src = tmp_path / "x.npy"
    np.save(src, x)
    out, back, params = tmp_path / "y.npy", tmp_path / "b.npy", tmp_path / "p.json"
    _run(
        invoke, "normalize", src, out, "-m", "quantile", "--axis", "0", "--n-quantiles", "400",
        "--dtype", "float64", "--save-params", params, "--chunk-size", "2KiB", "-q",
    )  # fmt: skip
    qt = QuantileTransformer(n_quantiles=400, subsample=None)
    np.testing.assert_allclose(np.load(out), qt.fit_transform(x), rtol=1e-9, atol=1e-9)
    assert len(json.loads(params.read_text())["statistics"]["quantiles"]) == 400
    _run(invoke, "invert", out, back, "--params", params, "--dtype", "float64", "-q")
    np.testing.assert_allclose(np.load(back), x, rtol=1e-6, atol=1e-6)


def test_clip_percentiles_from_the_command_line(tmp_path, invoke):
    x = _data("float32", (200, 4)).astype(np.float64)
    src = tmp_path / "x.npy"
    np.save(src, x)
    out, params = tmp_path / "y.npy", tmp_path / "p.json"
    _run(
        invoke, "normalize", src, out, "-m", "zscore", "--clip-percentiles", "0.5", "99.5",
        "--dtype", "float64", "--save-params", params, "--chunk-size", "1KiB", "-q",
    )  # fmt: skip
    lo, hi = np.percentile(x, [0.5, 99.5])
    want = oracle(np.clip(x, lo, hi), "zscore")[0]
    np.testing.assert_allclose(np.load(out), want, rtol=1e-9, atol=1e-9)
    stats = json.loads(params.read_text())["statistics"]
    assert (stats["clip_lo"], stats["clip_hi"]) == (lo, hi)


def test_groups_from_the_command_line(tmp_path, invoke):
    x = _data("uint8", (10, 4, 4, 6))
    src = tmp_path / "x.npy"
    np.save(src, x)
    out = tmp_path / "y.npy"
    _run(
        invoke, "normalize", src, out, "-m", "zscore", "--axis", "1,2,3", "--groups", "3",
        "--dtype", "float64", "-q",
    )  # fmt: skip
    y, center, divisor, offset = oracle(x.reshape(10, 4, 4, 3, 2), "zscore", (1, 2, 4))
    assert_close(
        np.load(out).reshape(y.shape), y, tolerance(x.reshape(y.shape), center, divisor, offset, y)
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (("-m", "robust", "--quantile-range", "75", "25"), "LO must be smaller"),
        (("-m", "robust", "--quantile-range", "-5", "25"), "outside 0-100"),
        (("-m", "quantile", "--n-quantiles", "1"), "at least 2"),
        (("-m", "quantile", "--n-quantiles", "5000", "--axis", "0"), "at most 40"),
        (("-m", "quantile", "--n-quantiles", "50", "--axis", "1,2,3"), "at most 48"),
        (("-m", "lp", "--clip-percentiles", "1", "99"), "does not apply to -m lp"),
        (("-m", "zscore", "--clip-percentiles", "1", "101"), "outside 0-100"),
        (("-m", "zscore", "--axis", "1,2,3", "--groups", "4"), "does not divide"),
        (("-m", "zscore", "--axis", "1,2", "--groups", "2"), "include the last axis"),
        (("-m", "robust", "--groups", "2"), "does not apply to -m robust"),
        (("-m", "quantile-match", "--axis", "0"), "--axis does not apply"),
    ],
)
def test_bad_options_are_usage_errors_and_write_nothing(tmp_path, invoke, args, needle):
    src = tmp_path / "x.npy"
    np.save(src, _data("float32", (40, 2, 4, 6)))
    r = invoke("normalize", src, tmp_path / "y.npy", *args)
    assert r.exit_code == 2, r.stderr
    assert needle in r.stderr
    assert not (tmp_path / "y.npy").exists()
