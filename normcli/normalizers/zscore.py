"""zscore: (x - mean) / std, from exact streamed moments."""

from __future__ import annotations

import numpy as np

from normcli.errors import ParameterError
from normcli.moments import Moments
from normcli.normalizers.base import (
    CONSTANT_RELATIVE,
    Normalizer,
    _from_list,
)
from normcli.stats import Accumulator


class ZScore(Normalizer):
    """(x - mean) / std; a constant slice maps to 0 (std taken as 1).

    Constant is decided on the exact moments: variance exactly 0, or a std of at most
    :data:`~normcli.normalizers.base.CONSTANT_RELATIVE` times |mean| (rounding noise);
    not scikit-learn's test, which grows with the number of values."""

    method = "zscore"
    fits_from_moments = True
    grid_fit = True
    option_names = ("ddof", "eps")

    def __init__(self, axis=None, *, ddof=0, eps=None, nan_policy="raise"):
        super().__init__(axis, nan_policy=nan_policy)
        self.ddof = int(ddof)
        if self.ddof < 0:
            raise ParameterError("--ddof must be 0 or more")
        self.eps = None if eps is None else float(eps)
        if self.eps is not None and not self.eps >= 0:
            raise ParameterError("--eps must be 0 or more")

    def _block_state(self, block):
        acc = Accumulator(block.shape, block.dtype, self.axes_)
        acc.update(block)
        return acc.result()

    def _merge(self, a: Moments, b: Moments) -> Moments:
        return a.merge(b)

    def fit_from_moments(self, m: Moments) -> bool:
        if not self._global_and_finite(m):
            return False
        self.state_ = m
        return True

    def _mean_std(self, m: Moments):
        n = m.n.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, m.mean, np.nan)
            var0 = m.m2 / n
            var = m.m2 / np.maximum(n - self.ddof, 0)
            var = np.where(n - self.ddof > 0, var, 0.0)
        if self.nan_policy == "propagate":
            mean = np.where(m.nan > 0, np.nan, mean)
            var = np.where(m.nan > 0, np.nan, var)
        return mean, var, var0, n

    def _coefficients(self, state: Moments):
        mean, var, var0, _n = self._mean_std(state)
        if self.eps is not None:
            std = np.sqrt(var + self.eps)
        else:
            std = np.sqrt(var)
        constant = self._constant(var0, mean)
        if self.eps is None:
            std = np.where(constant, 1.0, std)
        std = np.where(std == 0, 1.0, std)
        return (mean, std, None)

    @property
    def mean_(self) -> np.ndarray:
        """The mean of each slice seen (scikit-learn's StandardScaler.mean_)."""
        return self._mean_std(self._fitted("mean_"))[0]

    @property
    def var_(self) -> np.ndarray:
        """The variance of each slice seen (with ``ddof``; StandardScaler's is ddof=0)."""
        return self._mean_std(self._fitted("var_"))[1]

    @property
    def scale_(self) -> np.ndarray:
        """What each slice is divided by: its std, or 1 where the slice is constant."""
        return self._coefficients(self._fitted("scale_"))[1]

    @property
    def n_(self) -> np.ndarray:
        """The values counted in each slice (NaN left out)."""
        return self._mean_std(self._fitted("n_"))[3].astype(np.int64)

    @staticmethod
    def _constant(var0, mean) -> np.ndarray:
        """Slices treated as constant: variance exactly 0, or std <= CONSTANT_RELATIVE·|mean|.
        A variance beyond float64 (inf) keeps std 1 too, so that the output overflows and
        is refused as NaN-or-infinite rather than written as zeros."""
        with np.errstate(invalid="ignore", over="ignore"):
            relative = np.sqrt(var0) <= CONSTANT_RELATIVE * np.abs(mean)
            return (var0 == 0) | relative | np.isinf(var0)

    def notes(self) -> list[str]:
        if self.eps is not None or self.state_ is None or not isinstance(self.state_, Moments):
            return []
        mean, _, var0, n = self._mean_std(self.state_)
        constant = np.asarray(self._constant(var0, mean) & (n > 0) & np.isfinite(var0))
        count = int(constant.sum())
        if not count:
            return []
        what = "the array is" if constant.size == 1 else f"{count} of {constant.size} slices are"
        return [
            f"{what} constant (variance 0, or std <= 2**-48 x |mean|) and map"
            f"{'s' if constant.size == 1 else ''} to 0 (std taken as 1)"
        ]

    def options(self):
        return {"ddof": self.ddof, "eps": self.eps}

    def statistics(self):
        mean, var, _, n = self._mean_std(self.state_)
        return {"mean": mean, "std": np.sqrt(var), "n": n.astype(np.int64)}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        mean = _from_list(stats["mean"], kept, "mean")
        std = _from_list(stats["std"], kept, "std")
        n = _from_list(stats.get("n", np.full(kept, 2.0)), kept, "n")
        # Rebuild Moments that give back exactly this mean and std.
        denom = np.maximum(n - self.ddof, 0)
        m = Moments.empty(kept)
        m.n = n.astype(np.int64)
        m.shift = mean.copy()
        m.dmean = np.zeros(kept)
        m.m2 = std * std * denom
        self.state_ = m
