"""Options that wrap minmax and zscore: ``--clip-percentiles LO HI`` (clip, then fit
on the clipped values) and ``--groups G`` (group normalization's statistics)."""

from __future__ import annotations

import numpy as np

from normcli.axes import format_axis, resolve_axes
from normcli.errors import ParameterError
from normcli.normalizers.base import Normalizer, _from_list, _row_blocks
from normcli.normalizers.robust import Passes, _pair, _percent_q, _scan
from normcli.quantiles import in_memory


class _Wrapper:
    """Delegates everything it does not define to the wrapped normalizer."""

    def __init__(self, inner: Normalizer):
        self.inner = inner

    def __getattr__(self, name):
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)


class ClipPercentiles(Passes, _Wrapper):
    """Clip to the LO and HI percentiles (over the method's axes), then minmax or zscore
    fitted on the clipped values: pass 1 (and more) the percentiles, then a pass that
    fits the method on the clipped data, then the transform of the clipped data.
    ``invert`` undoes the scaling only: what was clipped stays clipped."""

    fits_from_moments = False

    def __init__(self, inner: Normalizer, clip_percentiles):
        super().__init__(inner)
        self.clip_percentiles = _pair(clip_percentiles, "--clip-percentiles")
        self.bounds = None
        self._scanner = None
        self._phase = "percentiles"

    @property
    def state_(self):
        return self.inner.state_

    def bind(self, shape, where="the array"):
        self.inner.bind(shape, where)
        return self

    def reset(self):
        self.inner.reset()
        self.bounds = None
        self._scanner = None
        self._phase = "percentiles"
        return self

    def prepare_fit(self, dtype):
        self._scanner = _scan(self.inner, dtype, _percent_q(self.clip_percentiles))
        self._phase = "percentiles"

    def _clip(self, chunk, bounds):
        lo, hi = bounds
        x = np.asarray(chunk, dtype=np.float64)
        return np.clip(x, lo, hi)

    def _expanded_bounds(self):
        axes = self.inner.axes_
        return tuple(np.expand_dims(b, axes) if np.ndim(b) else b for b in self.bounds)

    def chunk_state(self, chunk, start):
        if not self.inner.spans_samples:
            return None
        if self._phase == "percentiles":
            if self._scanner is None:
                self.prepare_fit(chunk.dtype)
            return self._scanner.chunk_state(chunk, start)
        return self.inner.chunk_state(self._clip(chunk, self._expanded_bounds()), start)

    def absorb(self, state):
        if state is None:
            return self
        if self._phase == "percentiles":
            self._scanner.absorb(state)
        else:
            self.inner.absorb(state)
        return self

    def next_pass(self):
        if self._phase == "percentiles":
            self._scanner.end_pass()
            if not self._scanner.done:
                return self
            values = self._scanner.result()
            self.bounds = (values[0], values[1])
            self._scanner = None
            self._phase = "fit"
            return self
        self._phase = "done"
        return None

    def _own_bounds(self, block):
        policy = "omit" if self.inner.nan_policy == "omit" else "propagate"
        axes = self.inner.axes_
        values = in_memory(block, _percent_q(self.clip_percentiles), axes, "linear", policy, True)
        return tuple(np.expand_dims(v, axes) for v in values)

    def transform(self, chunk, out=None, dtype=np.float32):
        inner = self.inner
        if inner.axes_ is None:
            inner.bind(chunk.shape)
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        for start, block in _row_blocks(chunk, with_start=True):
            bounds = self._expanded_bounds() if inner.spans_samples else self._own_bounds(block)
            inner.transform(self._clip(block, bounds), out=out[start : start + block.shape[0]])
        return out

    def params(self):
        doc = self.inner.params()
        doc["options"]["clip_percentiles"] = list(self.clip_percentiles)
        if "statistics" in doc and self.bounds is not None:
            doc["statistics"]["clip_lo"] = np.asarray(self.bounds[0]).tolist()
            doc["statistics"]["clip_hi"] = np.asarray(self.bounds[1]).tolist()
        return doc

    def _load_statistics(self, stats):
        self.inner._load_statistics(stats)
        kept = self.inner._kept(self.inner.shape_)
        self.bounds = (
            _from_list(stats["clip_lo"], kept, "clip_lo"),
            _from_list(stats["clip_hi"], kept, "clip_hi"),
        )


class Groups(_Wrapper):
    """Group normalization's statistics: the last (channel) axis split into G groups of
    C/G channels, statistics per sample per group (``--axis 1,2,3 --groups G`` on (N,
    H, W, C) reduces ``x.reshape(N, H, W, G, C // G)`` over (1, 2, 4))."""

    def __init__(self, inner: Normalizer, groups: int):
        super().__init__(inner)
        self.groups = int(groups)
        if self.groups < 1:
            raise ParameterError("--groups must be 1 or more")
        self.shape_ = None
        self.axes_ = None

    def bind(self, shape, where="the array"):
        shape = tuple(shape)
        ndim = len(shape)
        axes = resolve_axes(self.inner.axis, ndim, where)
        last = ndim - 1
        if 0 in axes or last not in axes or ndim < 2:
            raise ParameterError(
                f"--groups splits the channels of each sample: give per-sample axes that "
                f"include the last axis (e.g. --axis {','.join(map(str, range(1, ndim)))}); "
                f"got --axis {format_axis(axes)} on {where} of shape {shape}"
            )
        channels = shape[-1]
        if channels % self.groups:
            raise ParameterError(
                f"--groups {self.groups} does not divide the {channels} channels (last axis) "
                f"of {where} of shape {shape}"
            )
        self.shape_ = shape
        self.axes_ = axes
        split = (*shape[:-1], self.groups, channels // self.groups)
        self.inner.axis = (*(a for a in axes if a != last), last + 1)
        self.inner.axes_ = None
        self.inner.bind(split, where)
        return self

    def _split(self, a):
        return a.reshape(*a.shape[:-1], self.groups, a.shape[-1] // self.groups)

    def transform(self, chunk, out=None, dtype=np.float32):
        if out is None:
            out = np.empty(chunk.shape, dtype=dtype)
        self.inner.transform(self._split(chunk), out=self._split(out))
        return out

    def params(self):
        doc = self.inner.params()
        doc["options"]["groups"] = self.groups
        return doc
