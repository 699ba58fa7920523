"""minmax and per-image: (x - min) / (max - min), into a range."""

from __future__ import annotations

import numpy as np

from normcli.axes import ALL, format_axis
from normcli.errors import ParameterError
from normcli.moments import Moments
from normcli.normalizers.base import (
    _EPS,
    Normalizer,
    _from_list,
    _nan_reduce,
)


class MinMax(Normalizer):
    """(x - min) / (max - min) * (hi - lo) + lo; a constant slice maps to lo."""

    method = "minmax"
    fits_from_moments = True
    option_names = ("feature_range", "clip")

    def __init__(self, axis=None, *, feature_range=(0.0, 1.0), clip=False, nan_policy="raise"):
        super().__init__(axis, nan_policy=nan_policy)
        lo, hi = (float(v) for v in feature_range)
        if not lo < hi:
            raise ParameterError(f"--range {lo:g} {hi:g}: LO must be smaller than HI")
        self.feature_range = (lo, hi)
        self.clip = bool(clip)

    def _block_state(self, block):
        with np.errstate(invalid="ignore"):
            lo = _nan_reduce("min", self.nan_policy)(block, axis=self.axes_)
            hi = _nan_reduce("max", self.nan_policy)(block, axis=self.axes_)
        return (np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))

    def _merge(self, a, b):
        if self.nan_policy == "propagate":
            return (np.minimum(a[0], b[0]), np.maximum(a[1], b[1]))
        return (np.fmin(a[0], b[0]), np.fmax(a[1], b[1]))

    def _coefficients(self, state):
        data_min, data_max = state
        lo, hi = self.feature_range
        with np.errstate(invalid="ignore", over="ignore"):
            data_range = data_max - data_min
            data_range = np.where(data_range < 10 * _EPS, 1.0, data_range)
            divisor = data_range / (hi - lo) if (hi - lo) != 1.0 else data_range
        return (data_min, divisor, lo if lo != 0.0 else None)

    def fit_from_moments(self, m: Moments) -> bool:
        if not self._global_and_finite(m) or not self.spans_samples:
            return False
        self.state_ = (np.asarray(m.min, dtype=np.float64), np.asarray(m.max, dtype=np.float64))
        return True

    @property
    def data_min_(self) -> np.ndarray:
        """The minimum of each slice seen (scikit-learn's MinMaxScaler.data_min_)."""
        return self._fitted("data_min_")[0]

    @property
    def data_max_(self) -> np.ndarray:
        """The maximum of each slice seen."""
        return self._fitted("data_max_")[1]

    @property
    def data_range_(self) -> np.ndarray:
        """data_max_ - data_min_."""
        return self.data_max_ - self.data_min_

    @property
    def scale_(self) -> np.ndarray:
        """Per slice, (hi - lo) / data_range_ (1 for a constant slice): y = x * scale_ + min_."""
        _, divisor, _ = self._coefficients(self._fitted("scale_"))
        return 1.0 / divisor

    @property
    def min_(self) -> np.ndarray:
        """Per slice, lo - data_min_ * scale_."""
        return self.feature_range[0] - self.data_min_ * self.scale_

    def _post(self, x):
        if self.clip:
            np.clip(x, *self.feature_range, out=x)

    def options(self):
        return {"range": list(self.feature_range), "clip": self.clip}

    def statistics(self):
        return {"min": self.state_[0], "max": self.state_[1]}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        self.state_ = (_from_list(stats["min"], kept, "min"), _from_list(stats["max"], kept, "max"))


class PerImage(MinMax):
    """(x - min) / (max - min) per sample: the familiar (img - img.min()) / np.ptp(img)."""

    method = "per-image"

    def __init__(self, axis=None, **kwargs):
        super().__init__(axis, **kwargs)

    def bind(self, shape, where="the array"):
        if self.axis == ALL:
            if len(shape) < 2:
                raise ParameterError(
                    f"-m per-image needs samples with at least one axis; {where} has shape "
                    f"{tuple(shape)} (use -m minmax for one range over all values)"
                )
            self.axis = tuple(range(1, len(shape)))  # the default: all but the sample axis
        return super().bind(shape, where)

    def _check_axes(self, axes, where):
        if 0 in axes:
            raise ParameterError(
                "-m per-image normalizes each sample on its own, so --axis cannot include 0; "
                f"use -m minmax --axis {format_axis(axes)} for statistics across samples"
            )
