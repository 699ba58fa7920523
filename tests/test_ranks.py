"""The rank check (normcli.ranks) against a pairwise oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import chunkings, mnist_sample
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from normcli.normalizers import make_normalizer
from normcli.ranks import RankCheck, changed_rows

RNG = np.random.default_rng(11)


def pairwise_changed(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Oracle: compare every pair of values of each sample (quadratic, small data only)."""
    out = []
    for xr, yr in zip(x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1), strict=True):
        xi, xj = xr[:, None], xr[None, :]
        yi, yj = yr[:, None], yr[None, :]
        judged = ~(np.isnan(yi) | np.isnan(yj)) if yr.dtype.kind == "f" else True
        with np.errstate(invalid="ignore"):
            swapped = (xi < xj) & (yi > yj)
            split_tie = (xi == xj) & (yi != yj)
        out.append(bool(((swapped | split_tie) & judged).any()))
    return np.array(out)


def run(x, y, rows):
    check = RankCheck()
    for start in range(0, x.shape[0], rows):
        check.update(x[start : start + rows], y[start : start + rows])
    return check.result()


@given(
    x=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=6),
        elements=st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 1)),  # ties
    ),
    mode=st.sampled_from(["increasing", "per-column", "shuffle", "round"]),
    rows=st.integers(1, 7),
)
def test_matches_the_pairwise_oracle(x, mode, rows):
    if mode == "increasing":
        y = np.tanh(x / 3) * 7 + 2  # one increasing map for all: order kept
    elif mode == "per-column":
        scale = np.arange(1, x.shape[-1] + 1, dtype=np.float64) * np.where(
            np.arange(x.shape[-1]) % 2, -1, 1
        )
        y = x * scale  # a sign and scale per column: the wrong-axis kind of change
    elif mode == "shuffle":
        y = np.random.default_rng(0).permuted(x.reshape(x.shape[0], -1), axis=1).reshape(x.shape)
    else:
        y = np.round(x).astype(np.float32)  # rounding creates ties, never swaps
    expected = pairwise_changed(x, y)
    np.testing.assert_array_equal(changed_rows(x, y), expected)
    result = run(x, y, rows)
    assert result.samples == x.shape[0]
    assert result.changed == int(expected.sum())
    first = int(np.argmax(expected)) if expected.any() else None
    assert result.first_changed == first
    if mode in ("increasing", "round"):
        assert result.changed == 0


def test_nan_left_in_place_is_not_judged():
    x = RNG.normal(size=(5, 6))
    x[2, 3] = np.nan
    y = x * 2.0
    assert run(x, y, 2).changed == 0
    y[4, ::-1] = y[4].copy()  # reverse one sample
    result = run(x, y, 2)
    assert (result.changed, result.first_changed) == (1, 4)


def normalized(method, axis):
    x = mnist_sample()[:200]
    norm = make_normalizer(method, axis)
    norm.bind(x.shape)
    if norm.needs_fit:
        norm.fit(x)
    return x, norm.transform(x)


@pytest.mark.parametrize(
    "method, axis, all_changed",
    [
        ("lp", (1,), True),  # the tutorial mistake: every column on its own
        ("minmax", (2,), True),  # every row on its own
        ("per-image", None, False),
        ("lp", (1, 2), False),
        ("zscore", "all", False),
        ("minmax", "all", False),
    ],
)
def test_separates_wrong_axis_from_per_image_on_mnist(method, axis, all_changed):
    x, y = normalized(method, axis)
    expected = pairwise_changed(x, y)
    for rows in chunkings(x.shape[0]):
        result = run(x, y, rows)
        assert result.samples == x.shape[0]
        assert result.changed == int(expected.sum())
        if all_changed:
            assert result.fraction > 0.95
        else:
            assert result.changed == 0
