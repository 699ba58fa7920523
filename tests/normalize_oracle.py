"""One-shot float64 numpy oracles of the five normalizers (the README's formulas).

Each takes the whole array in memory, computes its statistic with numpy over the
reduce axes, and applies the formula once. The rules for degenerate slices are the
documented ones: scikit-learn's (a constant slice gets divisor 1, its test for
"constant" included) and keras.utils.normalize's (a zero norm leaves the slice as it
is). ``nan_policy``: "omit" takes the statistics over the finite values (NaN and
infinities left in place, transformed), "propagate" lets them spread.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np

EPS = np.finfo(np.float64).eps


def _stat_input(x: np.ndarray, nan_policy: str) -> np.ndarray:
    if nan_policy == "omit":
        return np.where(np.isfinite(x), x, np.nan)
    return x


def oracle(x, method: str, axes: tuple[int, ...] | None = None, nan_policy="raise", **opts):
    """``(y, center, divisor, offset)``: ``y = (x - center) / divisor + offset`` in
    float64, coefficients broadcast to ``x``'s shape (center/offset 0 where unused)."""
    x = np.asarray(x, dtype=np.float64)
    if method == "per-image":
        axes = axes or tuple(range(1, x.ndim))
    axes = tuple(range(x.ndim)) if axes is None else tuple(a % x.ndim for a in axes)
    s = _stat_input(x, nan_policy)
    nan = nan_policy == "omit"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN, as meant
        if method in ("minmax", "per-image"):
            lo, hi = opts.get("feature_range") or (0.0, 1.0)
            mn = (np.nanmin if nan else np.min)(s, axis=axes, keepdims=True)
            mx = (np.nanmax if nan else np.max)(s, axis=axes, keepdims=True)
            rng = mx - mn
            rng = np.where(rng < 10 * EPS, 1.0, rng)
            center, divisor, offset = mn, rng / (hi - lo), lo
        elif method == "zscore":
            ddof, eps = opts.get("ddof") or 0, opts.get("eps")
            count = np.sum(~np.isnan(s), axis=axes, keepdims=True) if nan else None
            n = count if nan else math.prod(x.shape[a] for a in axes)
            mean = (np.nanmean if nan else np.mean)(s, axis=axes, keepdims=True)
            var0 = (np.nanvar if nan else np.var)(s, axis=axes, keepdims=True)
            var = var0 * n / np.maximum(n - ddof, 1) if ddof else var0
            var = np.where(np.asarray(n) - ddof > 0, var, 0.0)
            std = np.sqrt(var + eps) if eps is not None else np.sqrt(var)
            if eps is None:
                # scikit-learn's _is_constant_feature: indistinguishable from constant
                constant = var0 <= n * EPS * var0 + (n * mean * EPS) ** 2
                std = np.where(constant, 1.0, std)
            std = np.where(std == 0, 1.0, std)
            center, divisor, offset = mean, std, 0.0
        elif method == "lp":
            order = float(opts.get("order", 2))
            a = np.abs(np.where(np.isnan(s), 0.0, s) if nan else s)
            if order == 0:
                norm = np.count_nonzero(a, axis=axes, keepdims=True).astype(np.float64)
            else:
                m = np.max(a, axis=axes, keepdims=True)
                if math.isinf(order):
                    norm = m
                else:  # scaled by the largest value, so 1e200 does not overflow
                    safe = np.where(m > 0, m, 1.0)
                    norm = m * np.sum((a / safe) ** order, axis=axes, keepdims=True) ** (1 / order)
            center, divisor, offset = 0.0, np.where(norm == 0, 1.0, norm), 0.0
        elif method == "scale":
            divisor = float(1 / Fraction(str(opts.get("factor", "1/255"))))
            center, offset = 0.0, 0.0
        else:
            raise ValueError(method)
        y = (x - center) / divisor + offset
        if opts.get("clip") and method in ("minmax", "per-image"):
            y = np.clip(y, lo, hi)
    full = np.broadcast_to
    return y, full(center, x.shape), full(divisor, x.shape), full(offset, x.shape)


def tolerance(x, center, divisor, offset, y, rtol: float = 1e-9) -> np.ndarray:
    """What "equal to 1e-9 relative" can mean for an affine map computed in another
    order: relative to the size of each term of (x - center) / divisor + offset."""
    with np.errstate(all="ignore"):
        scale = np.abs(y) + np.abs(center / divisor) + np.abs(np.asarray(x) / divisor)
        scale = scale + np.abs(offset)
    return rtol * np.where(np.isfinite(scale), scale, 0.0) + 1e-300


def assert_close(got, expected, tol) -> None:
    got = np.asarray(got, dtype=np.float64)
    same_nan = np.isnan(got) == np.isnan(expected)
    assert same_nan.all(), f"NaN at different places: {np.argwhere(~same_nan)[:5]}"
    with np.errstate(invalid="ignore"):  # inf - inf: equal infinities are caught before
        ok = np.isnan(expected) | (got == expected) | (np.abs(got - expected) <= tol)
    if not ok.all():
        i = tuple(np.argwhere(~ok)[0])
        raise AssertionError(
            f"{(~ok).sum()} values differ; first at {i}: got {got[i]!r}, expected "
            f"{expected[i]!r} (tolerance {tol[i]!r})"
        )
