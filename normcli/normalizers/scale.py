"""scale: x * factor (``--factor 1/255`` divides by 255 exactly)."""

from __future__ import annotations

import numpy as np

from normcli.axes import ALL
from normcli.normalizers.base import (
    Normalizer,
    parse_factor,
)


class Scale(Normalizer):
    """x * factor (``--factor 1/255`` divides by 255 exactly)."""

    method = "scale"
    default_axis = ALL
    option_names = ("factor",)

    def __init__(self, axis=None, *, factor="1/255", nan_policy="raise"):
        super().__init__(ALL, nan_policy=nan_policy)
        self.factor_text = str(factor)
        self.factor, self.divisor = parse_factor(factor)
        self.state_ = ()

    @property
    def spans_samples(self):
        return True

    @property
    def needs_fit(self):
        return False

    @property
    def invertible(self):
        return True

    def partial_fit(self, chunk):
        if self.axes_ is None:
            self.bind(chunk.shape)
        return self

    def chunk_state(self, chunk, start):
        return None

    def absorb(self, state):
        return self

    def reset(self):
        return self

    def _coefficients(self, state):
        return (None, np.asarray(self.divisor), None)

    def _expanded(self, coeffs):
        return coeffs

    @property
    def scale_(self) -> float:
        """The factor every value is multiplied by."""
        return self.factor

    def get_params(self, deep: bool = True) -> dict:
        return {"factor": self.factor_text, "nan_policy": self.nan_policy}

    def options(self):
        return {"factor": self.factor_text, "value": self.factor}

    def _load_statistics(self, stats):
        self.state_ = ()
