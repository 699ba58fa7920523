"""Streaming changes nothing: Hypothesis over dtype, shape, axis and chunk size.

For every normalizer, through the library entry point the CLI calls
(:func:`normcli.ops.normalize.normalize_file`, a real file written and read back):

- the output equals a one-shot float64 numpy oracle (tests/normalize_oracle.py):
  float64 output to 1e-9 relative (relative to the terms of the formula), float32
  output within two ulp of the oracle;
- the statistics before and after are the same for every chunking: scipy.stats.describe's
  figures, here computed exactly with fractions (scipy itself loses digits on data such
  as int32 values near 2**31), to the tolerances of conftest.TOL;
- invert after normalize gives the input back within tolerance.

Each normalizer runs a few hundred examples (three times the profile's count:
NORMCLI_HYPOTHESIS=thorough runs 6000 each).
"""

from __future__ import annotations

import math
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import TOL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from normalize_oracle import assert_close, oracle, tolerance

from normcli.axes import parse_axis
from normcli.io import open_reader
from normcli.normalizers import make_normalizer
from normcli.ops.normalize import invert_file, normalize_file
from normcli.ops.options import NormalizeOptions

DTYPES = [np.uint8, np.uint16, np.int32, np.float16, np.float32, np.float64]
ORDERS = [0.0, 1.0, 2.0, 3.0, 0.5, math.inf]
FACTORS = ["1/255", "2", "-0.5", "3/7"]
FORMATS = [".npy", ".npz", ".h5"]

EXAMPLES = 3 * settings().max_examples


@st.composite
def arrays(draw):
    """Small arrays of any of the dtypes: integers over their whole range (extremes
    included), floats as m * 2**e (|m| <= 1024), whose differences are exact, so that a
    slice is either constant or clearly not (no float64 tie for the oracle to break)."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    ndim = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 12)), *(draw(st.integers(1, 5)) for _ in range(ndim - 1)))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
        if draw(st.booleans()):  # clustered values: badly conditioned statistics
            base = draw(elements)
            elements = st.integers(max(int(info.min), base - 50), min(int(info.max), base + 50))
        return draw(hnp.arrays(dtype, shape, elements=elements))
    low, high = (-10, 4) if dtype == np.float16 else (-40, 40)
    exponent = draw(st.integers(low, high))
    mantissas = draw(hnp.arrays(np.int64, shape, elements=st.integers(-1024, 1024)))
    return (mantissas * 2.0**exponent).astype(dtype)


def axis_subsets(ndim: int, first: int = 0):
    axes = list(range(first, ndim))
    return st.lists(st.sampled_from(axes), min_size=1, max_size=len(axes), unique=True).map(
        lambda a: ",".join(str(v) for v in sorted(a))
    )


@st.composite
def cases(draw, method: str):
    x = draw(arrays())
    ndim = x.ndim
    opts: dict = {}
    if method == "per-image":
        if ndim == 1:
            x = x.reshape(x.shape[0], 1)
            ndim = 2
        axis = draw(st.none() | axis_subsets(ndim, first=1))
    elif method == "scale":
        axis = None
        opts["factor"] = draw(st.sampled_from(FACTORS))
    else:
        axis = draw(st.just("all") | axis_subsets(ndim))
        if method == "lp":
            opts["order"] = draw(st.sampled_from(ORDERS))
    if method in ("minmax", "per-image") and draw(st.booleans()):
        opts["feature_range"] = draw(st.sampled_from([(-1.0, 1.0), (0.0, 255.0), (2.0, 2.5)]))
    n = x.shape[0]
    chunks = (draw(st.integers(1, n + 2)), draw(st.integers(1, n + 2)))
    formats = (draw(st.sampled_from(FORMATS)), draw(st.sampled_from(FORMATS)))
    return x, axis, opts, chunks, formats


def exact_describe(values: np.ndarray) -> dict:
    """scipy.stats.describe's figures computed exactly (fractions), then rounded once."""
    flat = [Fraction(float(v)) for v in np.asarray(values, dtype=np.float64).ravel()]
    n = len(flat)
    mean = sum(flat) / n
    d = [v - mean for v in flat]
    m2 = sum(v * v for v in d)
    m3 = sum(v * v * v for v in d)
    m4 = sum((v * v) * (v * v) for v in d)
    out = {"nobs": n, "min": float(min(flat)), "max": float(max(flat)), "mean": float(mean)}
    out["mean_abs"] = float(sum(abs(v) for v in flat) / n)  # the size of the terms summed
    out["variance"] = float(m2 / (n - 1)) if n > 1 else math.nan
    if m2 == 0:
        out["skewness"] = out["kurtosis"] = math.nan
    else:
        out["skewness"] = float(m3 / n) / float(m2 / n) ** 1.5
        out["kurtosis"] = float((m4 / n) / (m2 / n) ** 2) - 3.0
    return out


def assert_stats(ours: dict, exact: dict, what: str) -> None:
    assert int(ours["nobs"]) == exact["nobs"], what
    assert float(ours["min"]) == exact["min"] and float(ours["max"]) == exact["max"], what
    for key, rtol in TOL.items():
        got, want = float(ours[key]), exact[key]
        if key == "variance" and exact["nobs"] > 1 and exact["skewness"] != exact["skewness"]:
            # constant data: scipy's variance is 0 where the data are exactly constant
            np.testing.assert_allclose(got, want, atol=1e-300, err_msg=f"{what} {key}")
            continue
        if key in ("skewness", "kurtosis") and math.isnan(want):
            assert math.isnan(got) or abs(got) < 1e-300, f"{what} {key}: {got}"
            continue
        atol = rtol * 1e-2
        if key == "mean":  # a float64 sum of terms that cancel is only as good as the terms
            atol = max(atol, 1e-14 * exact["mean_abs"])
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{what} {key}")


def load(path: Path) -> np.ndarray:
    with open_reader(path) as r:
        return r.read(r.names()[0])


def run(src, out, method, axis, opts, chunk_rows, x, dtype, *, params=None, invert=False):
    row_bytes = max(1, math.prod(x.shape[1:])) * x.dtype.itemsize
    options = NormalizeOptions(dtype=dtype, chunk_bytes=chunk_rows * row_bytes, force=True)
    make = None
    if params is None:
        spec = parse_axis(axis) if axis is not None else None
        make = lambda: make_normalizer(method, spec, **opts)  # noqa: E731
    if invert:
        report = invert_file(src, out, params, options)
    else:
        report = normalize_file(src, out, make, options, params_doc=params)
    return report, load(out)


@pytest.mark.parametrize("method", ["minmax", "zscore", "lp", "per-image", "scale"])
def test_streamed_output_equals_the_one_shot_oracle(method):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=cases(method))
    def check(case):
        x, axis, opts, (rows_a, rows_b), (fmt_a, fmt_b) = case
        axes = None if axis in (None, "all") else tuple(int(a) for a in axis.split(","))
        y, c, d, o = oracle(x, method, axes, **opts)
        tol = tolerance(x, c, d, o, y)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            src = tmp / "x.npy"
            np.save(src, x)
            report_a, got_a = run(src, tmp / f"a{fmt_a}", method, axis, opts, rows_a, x, "float64")
            report_b, got_b = run(src, tmp / f"b{fmt_b}", method, axis, opts, rows_b, x, "float32")
            assert got_a.dtype == np.float64 and got_b.dtype == np.float32
            assert_close(got_a, y, tol)
            ulp = np.spacing(np.abs(y).astype(np.float32)).astype(np.float64)
            assert_close(got_b, y, tol + 2 * ulp)

            before = exact_describe(x)
            for label, report, got in (("a", report_a, got_a), ("b", report_b, got_b)):
                a = report.arrays[0]
                assert_stats(a.before, before, f"before ({label}: rows {rows_a, rows_b})")
                assert_stats(a.after, exact_describe(got), f"after ({label})")

            norm = make_normalizer(method, parse_axis(axis) if axis else None, **opts)
            norm.bind(x.shape)
            if norm.invertible:  # normalize, then invert with the saved parameters
                doc = report_a.arrays[0].params
                _, back = run(tmp / f"a{fmt_a}", tmp / "back.npy", method, axis, opts, rows_b,
                              got_a, "float64", params=doc, invert=True)  # fmt: skip
                with np.errstate(all="ignore"):
                    scale = (
                        np.abs(np.asarray(x, np.float64)) + np.abs(c) + d * (np.abs(y) + np.abs(o))
                    )
                assert_close(back, x.astype(np.float64), 1e-9 * scale + 1e-300)

    check()


@pytest.mark.parametrize("method, axis", [("minmax", "1"), ("per-image", None)])
def test_a_target_range_with_per_sample_statistics_on_2d_data(method, axis, tmp_path, invoke):
    """Found by the property above: --range LO HI (LO != 0) with statistics per row of
    (N, F) data failed with numpy's AxisError."""
    x = np.arange(12.0).reshape(4, 3) ** 2
    np.save(tmp_path / "x.npy", x)
    args = ["-m", method, "--range", "-1", "1", *(["--axis", axis] if axis else [])]
    r = invoke("normalize", tmp_path / "x.npy", tmp_path / "o.npy", "--dtype", "float64", *args)
    assert r.exit_code == 0, r.stderr
    y, c, d, o = oracle(x, method, (1,), feature_range=(-1.0, 1.0))
    assert_close(load(tmp_path / "o.npy"), y, tolerance(x, c, d, o, y))
