"""lp: x / ||x||_p over the reduce axes, as keras.utils.normalize."""

from __future__ import annotations

import math
import string

import numpy as np

from normcli.normalizers.base import (
    Normalizer,
    _from_list,
    _powers_fit,
    _row_blocks,
    parse_order,
)


class Lp(Normalizer):
    """x / ||x||_p over the reduce axes; a zero norm leaves the slice unchanged."""

    method = "lp"
    default_axis = (-1,)
    grid_fit = True
    option_names = ("order",)

    def __init__(self, axis=None, *, order=2.0, nan_policy="raise"):
        super().__init__(axis, nan_policy=nan_policy)
        self.order = parse_order(order)

    # state: (scale m = max|x|, s = sum((|x|/m)**p)) so that norm = m * s**(1/p) never
    # overflows (values near 1e200 are fine); order inf keeps m, order 0 keeps a count.
    def _block_state(self, block):
        if self.order in (1, 2) and _powers_fit(block.dtype):
            state = self._unscaled_state(block)
            if state is not None:
                return state
        x = np.abs(np.asarray(block, dtype=np.float64))
        nan_mask = None
        if x.dtype.kind == "f" and self.nan_policy != "propagate":
            nan_mask = np.isnan(x)
            if nan_mask.any():
                x[nan_mask] = 0.0
        p = self.order
        if p == 0:
            return (np.count_nonzero(x, axis=self.axes_).astype(np.float64), None)
        with np.errstate(invalid="ignore"):
            m = x.max(axis=self.axes_)
        if math.isinf(p):
            return (m, None)
        safe = np.where(m > 0, m, 1.0)
        x /= np.expand_dims(safe, self.axes_)
        if p == 2:
            np.multiply(x, x, out=x)
        elif p != 1:
            np.power(x, p, out=x)
        s = x.sum(axis=self.axes_)
        return (m, s)

    def _unscaled_state(self, block):
        """Orders 1 and 2 of values of at most 32 bits (or integers): sum(|x|**p) in
        float64 directly, as (1, s), one pass and no scaling (neither the squares nor
        their sum can overflow or underflow). None when a slice holds NaN or infinity:
        the scaled state treats those."""
        x = np.asarray(block, dtype=np.float64)
        if self.order == 2 and x.ndim <= len(string.ascii_letters):
            letters = string.ascii_letters[: x.ndim]
            kept = "".join(c for i, c in enumerate(letters) if i not in self.axes_)
            s = np.einsum(f"{letters},{letters}->{kept}", x, x)
        elif self.order == 2:  # more axes than einsum has letters (numpy allows 64)
            s = np.square(x).sum(axis=self.axes_)
        else:
            s = np.abs(x).sum(axis=self.axes_)
        if not np.isfinite(s).all():
            return None
        return (np.ones_like(s), s)

    def _max(self, a, b):
        return np.maximum(a, b) if self.nan_policy == "propagate" else np.fmax(a, b)

    def _merge(self, a, b):
        p = self.order
        if p == 0:
            return (a[0] + b[0], None)
        m = self._max(a[0], b[0])
        if math.isinf(p):
            return (m, None)
        safe = np.where(m > 0, m, 1.0)
        with np.errstate(invalid="ignore"):
            s = a[1] * (a[0] / safe) ** p + b[1] * (b[0] / safe) ** p
        return (m, s)

    def norm(self, state) -> np.ndarray:
        m, s = state
        p = self.order
        if p == 0 or math.isinf(p):
            return np.asarray(m, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            return m * s ** (1.0 / p)

    def slice_norms(self, chunk: np.ndarray) -> np.ndarray:
        """The norm of every slice of a chunk of rows, for axes without 0 (per sample):
        shaped as the axes kept, the chunk's rows first."""
        if self.axes_ is None:
            self.bind(chunk.shape)
        if self.spans_samples:
            raise ValueError("slice_norms is per sample; fit across samples with partial_fit")
        parts = [self.norm(self._block_state(self._state_input(b))) for b in _row_blocks(chunk)]
        return np.concatenate(parts, axis=0)

    def _coefficients(self, state):
        norm = self.norm(state)
        return (None, np.where(norm == 0, 1.0, norm), None)

    @property
    def norm_(self) -> np.ndarray:
        """The p-norm of each slice seen (fitted over axes that include 0)."""
        return self.norm(self._fitted("norm_"))

    def options(self):
        return {"order": "inf" if math.isinf(self.order) else self.order}

    def statistics(self):
        return {"norm": self.norm(self.state_)}

    def _load_statistics(self, stats):
        kept = self._kept(self.shape_)
        norm = _from_list(stats["norm"], kept, "norm")
        self.state_ = (norm, np.ones(kept)) if self.order not in (0, math.inf) else (norm, None)
