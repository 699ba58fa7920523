"""The Python API: the commands as functions (the same figures as ``--json``), the
estimators on in-memory arrays against scikit-learn and the keras formula, warnings a
caller cannot lose, and errors that are normcli's own (never SystemExit)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import SAMPLE, chunkings, scipy_describe
from sklearn.preprocessing import MinMaxScaler, StandardScaler

import normcli
from normcli.reporting import Reporter

NPZ = SAMPLE / "mnist_sample.npz"


def keras_normalize(x, axis=-1, order=2):
    """keras.utils.normalize, as Keras writes it: x / norm, a zero norm left as 1."""
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def data(seed=0, shape=(257, 6), offset=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * rng.uniform(0.5, 4, size=shape[-1]) + offset


# -- the commands as functions -----------------------------------------------------------------


def test_describe_returns_the_json_of_the_command(invoke):
    ours = normcli.describe(NPZ, keys=["x_test"])
    r = invoke("describe", NPZ, "-k", "x_test", "--json")
    assert ours == json.loads(r.stdout) | {"input": ours["input"]}
    x = np.load(NPZ)["x_test"]
    oracle = scipy_describe(x)
    stats = ours["arrays"][0]["stats"]
    assert stats["nobs"] == oracle["nobs"]
    np.testing.assert_allclose(stats["mean"], oracle["mean"], rtol=1e-12)
    np.testing.assert_allclose(stats["variance"], oracle["variance"], rtol=1e-12)
    np.testing.assert_allclose(stats["kurtosis"], oracle["kurtosis"], rtol=1e-10)


@pytest.mark.parametrize("axis", [0, (1, 2), "1,2", "all", [0, 1, 2]])
def test_describe_takes_axis_as_numpy_does(axis):
    x = np.load(NPZ)["x_test"]
    doc = normcli.describe(NPZ, "x_test", axis=axis, chunk_size="100KiB")
    named = {"1,2": (1, 2), "all": None}
    axes = named[axis] if isinstance(axis, str) else axis
    axes = (axes,) if isinstance(axes, int) else axes
    mean = np.asarray(doc["arrays"][0]["stats"]["mean"])
    oracle = x.astype(np.float64).mean(axis=None if axes is None else tuple(axes))
    np.testing.assert_allclose(mean, oracle, rtol=1e-12, atol=1e-12)


def test_fit_normalize_invert_check_round_trip(tmp_path):
    out, back, params = tmp_path / "z.npz", tmp_path / "back.npz", tmp_path / "p.json"
    doc = normcli.fit(NPZ, "zscore", key="x_test", axis=0, output=params)
    assert json.loads(params.read_text()) == doc
    report = normcli.normalize(NPZ, out, keys="x_test", params=params)
    assert report["passed"] == ["y_test"]
    x = np.load(NPZ)["x_test"].astype(np.float64)
    assert report["arrays"][0]["before"]["mean"] == pytest.approx(x.mean(), rel=1e-12)
    result = normcli.check(out, keys="x_test", mean=0, axis=0, tol=1e-5)
    assert result.passed and result.document()["passed"] is True
    assert not normcli.check(out, keys="x_test", mean=1).passed
    normcli.invert(out, back, params, keys="x_test", dtype="float64")
    np.testing.assert_allclose(np.load(back)["x_test"], x, atol=1e-3)


def test_normalize_takes_an_estimator(tmp_path):
    out = tmp_path / "o.npz"
    report = normcli.normalize(NPZ, out, normcli.MinMax(axis=(1, 2), feature_range=(-1, 1)),
                               keys="x_test")  # fmt: skip
    x = np.load(NPZ)["x_test"].astype(np.float64)
    lo = x.min(axis=(1, 2), keepdims=True)
    span = np.ptp(x, axis=(1, 2), keepdims=True)
    span[span == 0] = 1
    np.testing.assert_allclose(np.load(out)["x_test"], (x - lo) / span * 2 - 1, atol=1e-6)
    assert report["arrays"][0]["method"] == "minmax"


def test_library_errors_are_normcli_errors_never_system_exit(tmp_path):
    with pytest.raises(normcli.ParameterError):
        normcli.describe(NPZ, keys=["nope"])
    with pytest.raises(normcli.InputError):
        normcli.describe(tmp_path / "missing.npz")
    with pytest.raises(normcli.ParameterError):
        normcli.normalize(NPZ, tmp_path / "o.npz", "scale", keys="x_test")  # no factor
    with pytest.raises(normcli.ParameterError):
        normcli.describe(NPZ, axis="1,2,")
    with pytest.raises(normcli.OutputError):
        normcli.normalize(NPZ, NPZ, "zscore", keys="x_test", force=True)
    assert issubclass(normcli.ParameterError, normcli.NormcliError)


def test_warnings_reach_a_python_caller(tmp_path):
    """The split-axis warning, which the CLI prints as ``Warning:``, is a NormcliWarning."""
    with pytest.warns(normcli.NormcliWarning, match="almost never meant"):
        normcli.normalize(NPZ, tmp_path / "o.npz", "lp", keys="x_test", axis=1)
    with pytest.raises(normcli.ParameterError, match="--strict"):
        normcli.normalize(NPZ, tmp_path / "p.npz", "lp", keys="x_test", axis=1, strict=True)
    assert not (tmp_path / "p.npz").exists()


def test_a_reporter_receives_the_warnings_instead(tmp_path):
    class Collect(Reporter):
        def __init__(self):
            self.seen = []

        def warn(self, message):
            self.seen.append(message)

    reporter = Collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error", normcli.NormcliWarning)
        normcli.normalize(NPZ, tmp_path / "o.npz", "lp", keys="x_test", axis=1, reporter=reporter)
    assert len(reporter.seen) == 1 and "almost never meant" in reporter.seen[0]


# -- the estimators ----------------------------------------------------------------------------


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (2.5, 7)])
def test_minmax_equals_minmaxscaler(feature_range):
    x = data()
    x[:, 2] = 5.0  # a constant feature
    ours = normcli.MinMax(axis=0, feature_range=feature_range).fit(x)
    theirs = MinMaxScaler(feature_range=feature_range).fit(x)
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), rtol=1e-12, atol=1e-12)
    y = ours.transform(x)
    np.testing.assert_allclose(ours.inverse_transform(y), x, rtol=1e-12, atol=1e-12)
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ == x.shape[0]


@pytest.mark.parametrize("rows", chunkings(257))
def test_zscore_partial_fit_equals_standardscaler_for_every_chunking(rows):
    x = data(offset=1e6)
    x[:, 4] = -3.0
    ours, theirs = normcli.ZScore(axis=0), StandardScaler()
    for start in range(0, x.shape[0], rows):
        ours.partial_fit(x[start : start + rows])
        theirs.partial_fit(x[start : start + rows])
    np.testing.assert_allclose(ours.mean_, x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-9)
    np.testing.assert_allclose(ours.var_, x.var(axis=0), rtol=1e-10, atol=1e-20)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-7)
    assert ours.scale_[4] == theirs.scale_[4] == 1.0
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ == x.shape[0]
    exact = StandardScaler().fit(x)  # one pass: no streamed rounding on their side
    np.testing.assert_allclose(ours.transform(x), exact.transform(x), rtol=1e-9, atol=1e-9)


def test_zscore_fit_transform_and_inverse():
    x = data(seed=3)
    z = normcli.ZScore(axis=0)
    y = z.fit_transform(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, StandardScaler().fit_transform(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z.inverse_transform(y), x, rtol=1e-12)
    assert z.transform(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("axis", [-1, 0, 1, (0, 1)])
@pytest.mark.parametrize("order", [1, 2, np.inf])
def test_lp_equals_the_keras_formula(axis, order):
    x = data(seed=4, shape=(40, 7))
    x[3] = 0.0  # a zero row: keras leaves it unchanged
    ours = normcli.Lp(axis=axis, order=order)
    axes = axis if isinstance(axis, tuple) else (axis,)
    if 0 in axes:
        ours.fit(x)
        norm = np.linalg.norm(x.reshape(-1) if len(axes) == 2 else x, order,
                              None if len(axes) == 2 else axis)  # fmt: skip
        np.testing.assert_allclose(ours.norm_, norm, rtol=1e-12)
    expected = keras_normalize(x, axis, order) if len(axes) == 1 else x / np.linalg.norm(
        x.reshape(-1), order
    )  # fmt: skip
    np.testing.assert_allclose(ours.transform(x), expected, rtol=1e-12, atol=1e-15)


def test_per_image_and_scale():
    x = np.load(NPZ)["x_test"][:20]
    per = normcli.PerImage().transform(x)
    xf = x.astype(np.float64)
    lo = xf.min(axis=(1, 2), keepdims=True)
    span = np.ptp(xf, axis=(1, 2), keepdims=True)
    span[span == 0] = 1
    np.testing.assert_allclose(per, (xf - lo) / span, rtol=1e-6)
    scaled = normcli.Scale(factor="1/255").transform(x, dtype=np.float64)
    np.testing.assert_array_equal(scaled, xf / 255)
    assert normcli.Scale(factor="1/255").scale_ == 1 / 255


@pytest.mark.parametrize("cls", ["MinMax", "ZScore", "Lp", "PerImage", "Scale"])
def test_get_params_makes_an_unfitted_copy(cls):
    est = getattr(normcli, cls)()
    copy = type(est)(**est.get_params())
    assert copy.get_params() == est.get_params()
    assert est.set_params(nan_policy="omit").nan_policy == "omit"
    with pytest.raises(normcli.ParameterError):
        est.set_params(nope=1)


def test_fitted_attributes_exist_only_once_fitted():
    z = normcli.ZScore(axis=0)
    assert not hasattr(z, "mean_")
    z.fit(data())
    assert hasattr(z, "mean_") and z.mean_.shape == (6,)
    assert not hasattr(normcli.ZScore(axis=1).fit(data()), "mean_")  # per sample: nothing
