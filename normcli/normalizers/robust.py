"""-m robust: (x - median) / (q_hi - q_lo), scikit-learn's RobustScaler over any axes,
and :class:`Passes`, the fit in several passes that the percentile methods share.

Fits that span samples take several passes: the engine feeds pass 1 through
``chunk_state``/``absorb`` as for any normalizer, then asks :meth:`Passes.next_pass`
for the consumer of the next pass until it returns None. The percentiles are exact
(normcli.quantiles), so the fitted figures equal scikit-learn's in memory.
"""

from __future__ import annotations

import statistics

import numpy as np

from normcli.errors import ParameterError
from normcli.normalizers.base import _EPS, Normalizer, _from_list
from normcli.quantiles import PercentileScan, in_memory


class Passes:
    """Mixin: a fit over samples in several passes, each a scan of the data.

    :meth:`prepare_fit` (with the data's dtype) starts it; pass 1 goes through
    ``chunk_state``/``absorb``; :meth:`next_pass` ends a pass and returns the consumer
    (``chunk_state``/``absorb``) of the next one, or None once the fit is complete.
    """

    def prepare_fit(self, dtype) -> None:
        raise NotImplementedError

    def next_pass(self):
        raise NotImplementedError

    def fit(self, x: np.ndarray):
        """Fit on a whole in-memory array (every pass over it)."""
        x = np.asarray(x)
        self.reset()
        self.bind(x.shape)
        if not self.needs_fit:
            return self
        self.prepare_fit(x.dtype)
        consumer = self
        while consumer is not None:
            consumer.absorb(consumer.chunk_state(x, 0))
            consumer = self.next_pass()
        return self


def _scan(norm, dtype, q) -> PercentileScan:
    policy = "omit" if norm.nan_policy == "omit" else "propagate"
    return PercentileScan(
        norm.shape_, dtype, norm.axes_, q, "linear", nan_policy=policy, in_float64=True
    )


def _percent_q(percents) -> np.ndarray:
    """Fractions exactly as numpy.percentile makes them (q / 100)."""
    return np.true_divide(np.asarray(percents, dtype=np.float64), 100)


def _pair(value, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if not (0.0 <= lo < hi <= 100.0):
        raise ParameterError(f"{name} {lo:g} {hi:g}: give 0 <= LO < HI <= 100")
    return lo, hi


# -- robust ------------------------------------------------------------------------------


class Robust(Passes, Normalizer):
    """(x - median) / (q_hi - q_lo), scikit-learn's RobustScaler over any axes."""

    method = "robust"
    option_names = ("quantile_range", "no_centering", "no_scaling", "unit_variance")

    def __init__(
        self,
        axis=None,
        *,
        quantile_range=(25.0, 75.0),
        no_centering=False,
        no_scaling=False,
        unit_variance=False,
        nan_policy="raise",
    ):
        super().__init__(axis, nan_policy=nan_policy)
        self.quantile_range = _pair(quantile_range, "--quantile-range")
        self.with_centering = not no_centering
        self.with_scaling = not no_scaling
        self.unit_variance = bool(unit_variance)
        if not (self.with_centering or self.with_scaling):
            raise ParameterError("--no-centering with --no-scaling leaves nothing to do")
        self._percents = (self.quantile_range[0], 50.0, self.quantile_range[1])
        self._scanner = None

    def reset(self):
        self._scanner = None
        return super().reset()

    def prepare_fit(self, dtype):
        self._scanner = _scan(self, dtype, _percent_q(self._percents))

    def chunk_state(self, chunk, start):
        if not self.spans_samples:
            return None
        if self._scanner is None:
            self.prepare_fit(chunk.dtype)
        return self._scanner.chunk_state(chunk, start)

    def absorb(self, state):
        if state is not None:
            self._scanner.absorb(state)
        return self

    def partial_fit(self, chunk):
        if self.axes_ is None:
            self.bind(chunk.shape)
        if self.spans_samples:
            self.absorb(self.chunk_state(chunk, 0))
        return self

    def next_pass(self):
        scanner = self._scanner
        scanner.end_pass()
        if not scanner.done:
            return self
        self.state_ = self._from_percentiles(scanner.result())
        self._scanner = None
        return None

    def _from_percentiles(self, values):
        lo, median, hi = values[0], values[1], values[2]
        center = median if self.with_centering else None
        scale = None
        if self.with_scaling:
            scale = np.asarray(hi - lo, dtype=np.float64)
            scale = np.where(scale < 10 * _EPS, 1.0, scale)  # _handle_zeros_in_scale
            if self.unit_variance:
                normal = statistics.NormalDist()
                adjust = normal.inv_cdf(self.quantile_range[1] / 100.0) - normal.inv_cdf(
                    self.quantile_range[0] / 100.0
                )
                scale = scale / adjust
        return (center, scale)

    def _state_input(self, block):
        return block  # infinities are values at the ends

    def _block_state(self, block):
        values = in_memory(
            block, _percent_q(self._percents), self.axes_, "linear", self._policy, True
        )
        return self._from_percentiles(values)

    @property
    def _policy(self):
        return "omit" if self.nan_policy == "omit" else "propagate"

    def _coefficients(self, state):
        center, scale = state
        return (center, 1.0 if scale is None else scale, None)

    def _expanded(self, coeffs):
        center, divisor, offset = coeffs
        return (
            None if center is None else self._expand(center),
            np.asarray(divisor) if np.ndim(divisor) == 0 else self._expand(divisor),
            offset,
        )

    def options(self):
        return {
            "quantile_range": list(self.quantile_range),
            "with_centering": self.with_centering,
            "with_scaling": self.with_scaling,
            "unit_variance": self.unit_variance,
        }

    @staticmethod
    def kwargs_from_options(opts: dict) -> dict:
        return {
            "quantile_range": tuple(opts.get("quantile_range", (25.0, 75.0))),
            "no_centering": not opts.get("with_centering", True),
            "no_scaling": not opts.get("with_scaling", True),
            "unit_variance": bool(opts.get("unit_variance", False)),
        }

    def statistics(self):
        center, scale = self.state_
        out = {}
        if center is not None:
            out["center"] = center
        if scale is not None:
            out["scale"] = scale
        return out

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        center = _from_list(stats["center"], kept, "center") if self.with_centering else None
        scale = _from_list(stats["scale"], kept, "scale") if self.with_scaling else None
        self.state_ = (center, scale)
