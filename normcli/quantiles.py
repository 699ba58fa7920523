"""Exact percentiles of streamed data: order statistics found in a few counting passes.

numpy's percentile of ``n`` values is a function of ``n``, ``q``, the method and two
order statistics (the values at ranks ``floor(i)`` and ``floor(i) + 1`` of the sorted
data, ``i`` the method's virtual index). :func:`rank_plan` and :func:`interpolate`
are numpy's formulas; what streams is the search for those order statistics.

Every value is mapped to an unsigned integer *key* of its dtype's width W (8 to 64
bits) whose order is the values' order (floats: the bit pattern with the sign folded,
-0.0 counted as +0.0; signed integers: the sign bit flipped). Then:

* pass 1 counts the keys' top ``b`` bits per slice (a histogram over the bit
  pattern; the counts also give ``n`` per slice);
* each target rank falls in one bin, found from the cumulative counts; the bins
  holding a target are *active*;
* while the active bins hold more than :data:`COLLECT_CAP` values, a pass counts the
  next bits of the keys in the active bins (a finer histogram of those bins only);
  a bin of full width (W bits) is one value;
* a last pass collects the values of the active bins and selects inside them.

8- and 16-bit data (and float16) are resolved by the first pass (W <= 16 bits); the
counts of 8/16-bit integers come from the statistics pass itself. float32 takes 2
passes (3 when a bin of 2**16 keys holds more than COLLECT_CAP values), float64 3 or
4. The working set is a histogram of at most :data:`HIST_CAP` counts (2 MiB) per
pass and at most COLLECT_CAP collected keys (32 MiB), whatever the number of values:
nothing grows with N. No sketch and no sample: the answer is exact.

These are pure functions and a consumer with ``chunk_state``/``absorb`` (the engines'
protocol); nothing here knows about scheduling.
"""

from __future__ import annotations

import math

import numpy as np

#: numpy's names for the percentile methods, numpy's default first.
METHODS = (
    "linear",
    "lower",
    "higher",
    "midpoint",
    "nearest",
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "median_unbiased",
    "normal_unbiased",
)
#: ``--percentiles`` given without a list.
DEFAULT_PERCENTILES = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)
#: Counts per histogram pass at most (int64: 2 MiB).
HIST_CAP = 1 << 18
#: Keys collected for the final selection at most.
COLLECT_CAP = 1 << 22

_DISCRETE = ("inverted_cdf", "closest_observation", "lower", "higher", "nearest")


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``"1,25,50"`` -> (1.0, 25.0, 50.0); ValueError for anything outside 0-100."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ValueError(f"{text!r} is not a list of percentiles; write e.g. 1,25,50,75,99")
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ValueError(f"{p!r} is not a number; percentiles are between 0 and 100") from None
        if not 0.0 <= v <= 100.0:
            raise ValueError(f"percentile {p} is outside 0-100")
        values.append(v)
    return tuple(values)


def percentile_label(p: float) -> str:
    """50.0 -> "p50", 99.5 -> "p99.5"."""
    return f"p{p:g}"


# -- numpy's formulas ------------------------------------------------------------------


def _virtual_index(n: int, q: np.ndarray, method: str) -> np.ndarray:
    """numpy.quantile's virtual index of ``q`` (fractions) among ``n`` values."""

    def continuous(alpha, beta):
        return n * q + (alpha + q * (1 - alpha - beta)) - 1

    def to_boundaries(index, condition):
        previous = np.floor(index)
        gamma = index - previous
        res = np.where(condition(gamma, index), previous, previous + 1).astype(np.intp)
        res[res < 0] = 0
        return res

    if method == "linear":
        return (n - 1) * q
    if method == "lower":
        return np.floor((n - 1) * q).astype(np.intp)
    if method == "higher":
        return np.ceil((n - 1) * q).astype(np.intp)
    if method == "nearest":
        return np.around((n - 1) * q).astype(np.intp)
    if method == "midpoint":
        return 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q))
    if method == "inverted_cdf":
        return to_boundaries(n * q - 1, lambda g, _: g == 0)
    if method == "closest_observation":
        return to_boundaries(n * q - 1 - 0.5, lambda g, i: (g == 0) & (np.floor(i) % 2 == 1))
    if method == "averaged_inverted_cdf":
        return n * q - 1
    alpha_beta = {
        "interpolated_inverted_cdf": (0, 1),
        "hazen": (0.5, 0.5),
        "weibull": (0, 0),
        "median_unbiased": (1 / 3.0, 1 / 3.0),
        "normal_unbiased": (3 / 8.0, 3 / 8.0),
    }
    if method not in alpha_beta:
        raise ValueError(f"unknown percentile method {method!r}; use one of {', '.join(METHODS)}")
    return continuous(*alpha_beta[method])


def rank_plan(n: int, q: np.ndarray, method: str = "linear"):
    """The ranks (0-based, in ``range(n)``) whose values give numpy's quantiles ``q`` of
    ``n`` values: ``(previous, next, gamma)``; gamma is None for the methods that take
    one order statistic (the result is then ``values[previous]`` as it is)."""
    q = np.asarray(q, dtype=np.float64)
    vi = np.asarray(_virtual_index(n, q, method))
    if method in _DISCRETE:
        idx = np.minimum(vi.astype(np.int64), n - 1)
        return idx, idx, None
    previous = np.floor(vi)
    nxt = previous + 1
    above = vi >= n - 1
    previous[above] = -1
    nxt[above] = -1
    below = vi < 0
    previous[below] = 0
    nxt[below] = 0
    gamma = vi - previous
    if method == "averaged_inverted_cdf":
        gamma = np.where(gamma == 0, 0.5, 1.0)
    elif method == "midpoint":
        gamma = np.where(vi % 1 == 0, 0.0, 0.5)
    gamma = np.asarray(gamma, dtype=vi.dtype)
    previous = np.where(previous < 0, n - 1, previous).astype(np.int64)
    nxt = np.where(nxt < 0, n - 1, nxt).astype(np.int64)
    return previous, nxt, gamma


def interpolate(a: np.ndarray, b: np.ndarray, gamma) -> np.ndarray:
    """numpy's ``_lerp`` of the order statistics ``a <= b`` (in the data's dtype) with
    weights ``gamma``; as float64. Integers are subtracted in 64 bits (numpy subtracts
    in the data's dtype, which wraps for signed data whose range exceeds it)."""
    a, b = np.asarray(a), np.asarray(b)
    if gamma is None:
        return a.astype(np.float64)
    if a.dtype.kind == "i":
        a, b = a.astype(np.int64), b.astype(np.int64)
    elif a.dtype.kind in "ub":
        a, b = a.astype(np.uint64), b.astype(np.uint64)
    t = np.asarray(gamma, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = b - a
        out = np.add(a, diff * t)
        np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5, casting="unsafe")
    return out.astype(np.float64)


def from_sorted(values: np.ndarray, q: np.ndarray, method: str = "linear") -> np.ndarray:
    """numpy's quantiles ``q`` (fractions) of sorted, finite-or-infinite ``values``."""
    n = values.shape[0]
    if n == 0:
        return np.full(np.shape(q), np.nan)
    prev, nxt, gamma = rank_plan(n, q, method)
    return interpolate(values[prev], values[nxt], gamma)


def in_memory(
    x: np.ndarray, q, axes, method: str = "linear", nan_policy: str = "omit", in_float64=False
):
    """Percentiles of an in-memory block over ``axes`` as numpy gives them (float64,
    ``len(q)`` first): nanpercentile for ``omit``, percentile otherwise. ``in_float64``:
    of the values as float64 (numpy interpolates float16/32 data in their dtype)."""
    if in_float64:
        x = np.asarray(x, dtype=np.float64)
    percent = np.asarray(q, dtype=np.float64) * 100.0
    func = np.nanpercentile if nan_policy == "omit" and x.dtype.kind == "f" else np.percentile
    import warnings

    with warnings.catch_warnings(), np.errstate(invalid="ignore", over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if x.dtype.kind == "i" and x.dtype.itemsize < 8:
            x = x.astype(np.int64)  # numpy subtracts in the data's dtype (see interpolate)
        return np.asarray(func(x, percent, axis=axes, method=method), dtype=np.float64)


# -- keys: the values' order as unsigned integers ---------------------------------------


def key_dtype(dtype: np.dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise ValueError(f"percentiles of {dtype} data are not supported")
    return np.dtype(f"u{max(1, dtype.itemsize)}")


def to_keys(x: np.ndarray) -> np.ndarray:
    """Order-preserving unsigned keys of ``x`` (any shape, native or not)."""
    x = np.asarray(x)
    dtype = x.dtype.newbyteorder("=")
    x = x.astype(dtype, copy=False)
    kd = key_dtype(dtype)
    bits = kd.itemsize * 8
    if dtype.kind in "ub":
        return x.view(kd) if dtype.kind == "u" else x.astype(kd)
    if dtype.kind == "i":
        return x.view(kd) ^ kd.type(1 << (bits - 1))
    signed = np.dtype(f"i{kd.itemsize}")
    y = np.add(x, dtype.type(0))  # a copy, and -0.0 + 0 is +0.0: one key for zero
    mask = y.view(signed) >> signed.type(bits - 1)  # -1 for negative values, else 0
    mask |= signed.type(-(1 << (bits - 1)))
    keys = y.view(kd)
    keys ^= mask.view(kd)  # negative: all bits flipped; others: the sign bit set
    return keys


def from_keys(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The values of keys made by :func:`to_keys` for ``dtype``."""
    dtype = np.dtype(dtype).newbyteorder("=")
    kd = key_dtype(dtype)
    bits = kd.itemsize * 8
    keys = np.asarray(keys, dtype=np.uint64).astype(kd)
    if dtype.kind == "u":
        return keys.view(dtype)
    if dtype.kind == "b":
        return keys.astype(dtype)
    if dtype.kind == "i":
        return (keys ^ kd.type(1 << (bits - 1))).view(dtype)
    top = keys >> kd.type(bits - 1)  # 1 for keys of non-negative values
    mask = np.where(top == 1, kd.type(1 << (bits - 1)), np.invert(kd.type(0)))
    return (keys ^ mask.astype(kd)).view(dtype)


# -- the search ------------------------------------------------------------------------


class RankSearch:
    """Exact order statistics of K slices of values streamed as keys.

    Stages: "count" (pass 1), then "refine" passes, then "collect" (one pass); each
    pass feeds :meth:`chunk_state` on pieces of data and :meth:`absorb` (counts add, so
    any order), then :meth:`end_pass`. ``plan(n)`` (n per slice) gives the sorted
    target ranks of each slice once pass 1 has counted them.

    Each narrowing leaves a *level*: a table from (row of the level before, next bits
    of the key) to the row of an active bin, or -1 (as many entries as the histogram
    it came from, at most HIST_CAP). A key finds its active bin through the levels,
    one gather each, the keys outside the active bins dropping out on the way.
    """

    def __init__(self, dtype: np.dtype, n_slices: int, plan):
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.W = key_dtype(self.dtype).itemsize * 8
        self.K = int(n_slices)
        self.plan = plan
        self.stage = "count"
        self.P = 0  # bits of the keys resolved
        self.b = max(1, min(self.W, 16, int(math.log2(max(1, HIST_CAP // self.K)))))
        self.levels: list[tuple[int, int, np.ndarray]] = []  # (P before, bits, table)
        self.counts: np.ndarray | None = None
        self.collected: list = []
        self.n: np.ndarray | None = None
        self.passes = 0
        self.t_rank = self.t_active = None
        self.active_prefix = self.active_count = None
        self.t_key: np.ndarray | None = None

    @property
    def done(self) -> bool:
        return self.stage == "done"

    # -- per piece -----------------------------------------------------------------------

    def chunk_state(self, keys: np.ndarray, slices=None, drop=None):
        """The state of one piece: ``keys`` (from :func:`to_keys`, any shape), the slice
        of each (an int array broadcasting to ``keys``; None when K == 1) and which keys
        to leave out (a bool array of ``keys``' shape, or None)."""
        kt = keys.dtype.type
        if self.stage == "count":
            idx = self._first(keys, slices, drop, self.b)
            return np.bincount(idx, minlength=self.K << self.b)
        flat = keys.reshape(-1)
        row = self._first(keys, slices, drop, self.levels[0][1])
        if drop is not None:
            flat = flat[~drop.reshape(-1)]
        for i, (before, bits, table) in enumerate(self.levels):
            if i:
                sub = (flat >> kt(self.W - before - bits)) & kt((1 << bits) - 1)
                row = (row.astype(np.intp) << bits) + sub.astype(np.intp)
            row = table[row]
            keep = row >= 0
            if not keep.all():
                row, flat = row[keep], flat[keep]
        if self.stage == "refine":
            sub = (flat >> kt(self.W - self.P - self.b)) & kt((1 << self.b) - 1)
            idx = (row.astype(np.intp) << self.b) + sub.astype(np.intp)
            return np.bincount(idx, minlength=len(self.active_prefix) << self.b)
        return (row.astype(np.int32), flat)

    def _first(self, keys, slices, drop, bits) -> np.ndarray:
        """Flat index (slice, top ``bits`` bits of the key) of the keys not dropped."""
        idx = (keys >> keys.dtype.type(self.W - bits)).astype(np.intp)
        if slices is not None:
            idx += np.asarray(slices, dtype=np.intp) << bits
        idx = idx.reshape(-1)
        return idx if drop is None else idx[~drop.reshape(-1)]

    def absorb(self, state) -> None:
        if state is None:
            return
        if self.stage == "collect":
            if len(state[0]):
                self.collected.append(state)
        elif self.counts is None:
            self.counts = state.copy()
        else:
            self.counts += state

    def absorb_counts(self, counts: np.ndarray) -> None:
        """Pass 1's counts made elsewhere (8/16-bit exact counts, all bits, K == 1)."""
        if self.K != 1 or self.b != self.W:
            raise ValueError("exact counts serve one slice of 8- or 16-bit data")
        self.absorb(np.asarray(counts, dtype=np.int64))

    # -- between passes ----------------------------------------------------------------

    def end_pass(self) -> None:
        self.passes += 1
        if self.stage == "count":
            counts = self._counts(self.K)
            self.n = counts.sum(axis=1)
            ranks = self.plan(self.n)
            self.t_active = np.repeat(np.arange(self.K, dtype=np.int64), [len(r) for r in ranks])
            self.t_rank = (
                np.concatenate([np.asarray(r, dtype=np.int64) for r in ranks])
                if ranks
                else np.zeros(0, dtype=np.int64)
            )
            self.active_prefix = np.zeros(self.K, dtype=np.uint64)
            self._narrow(counts)
        elif self.stage == "refine":
            self._narrow(self._counts(len(self.active_prefix)))
        elif self.stage == "collect":
            self._select()
        self.counts = None

    def _counts(self, rows: int) -> np.ndarray:
        if self.counts is None:
            return np.zeros((rows, 1 << self.b), dtype=np.int64)
        return self.counts.reshape(rows, 1 << self.b)

    def _narrow(self, counts: np.ndarray) -> None:
        """Each target's bin among ``counts`` (rows: the active bins), its rank inside
        it; the bins holding targets become the active ones."""
        bins = 1 << self.b
        if len(self.t_rank):
            cum = np.cumsum(counts, axis=1)
            big = int(cum[:, -1].max()) + 1
            flat = (cum + np.arange(len(cum), dtype=np.int64)[:, None] * big).ravel()
            pos = np.searchsorted(flat, self.t_rank + self.t_active * big, side="right")
            bin_ = pos - self.t_active * bins
            before = cum[self.t_active, bin_] - counts[self.t_active, bin_]
            self.t_rank = self.t_rank - before
            new = (self.t_active * bins + bin_).astype(np.int64)
        else:
            new = np.zeros(0, dtype=np.int64)
        uniq, self.t_active = np.unique(new, return_inverse=True)
        rows, bin_ = uniq // bins, uniq % bins
        table = np.full(counts.size, -1, dtype=np.int32)
        table[uniq] = np.arange(len(uniq))
        self.levels.append((self.P, self.b, table))
        self.active_prefix = (self.active_prefix[rows] << np.uint64(self.b)) | bin_.astype(
            np.uint64
        )
        self.active_count = counts.reshape(-1)[uniq]
        self.P += self.b
        if self.P >= self.W or not len(uniq):
            self.t_key = self.active_prefix[self.t_active]
            self.stage = "done"
        elif int(self.active_count.sum()) <= COLLECT_CAP:
            self.stage = "collect"
        else:
            self.stage = "refine"
            room = max(2, HIST_CAP // max(1, len(uniq)))
            self.b = max(1, min(16, self.W - self.P, int(math.log2(room))))

    def _select(self) -> None:
        if self.collected:
            pos = np.concatenate([c[0] for c in self.collected])
            keys = np.concatenate([c[1] for c in self.collected])
        else:
            pos = np.zeros(0, np.int32)
            keys = np.zeros(0, np.uint64)
        starts = np.concatenate(([0], np.cumsum(self.active_count)[:-1])).astype(np.int64)
        at = starts[self.t_active] + self.t_rank
        low_bits = self.W - self.P  # the bits below the bins' common prefix
        if low_bits + max(1, len(self.active_count).bit_length()) <= 64:
            # one integer per value: its bin above, its key's low bits below; the
            # targets are order statistics of those integers (a partition, not a sort)
            mask = np.uint64((1 << low_bits) - 1)
            combined = (pos.astype(np.uint64) << np.uint64(low_bits)) | (
                keys.astype(np.uint64) & mask
            )
            kth = np.unique(at)
            if len(kth) * 16 < combined.size:
                combined = np.partition(combined, kth)
            else:
                combined.sort()
            prefix = self.active_prefix[self.t_active] << np.uint64(low_bits)
            self.t_key = prefix | (combined[at] & mask)
        else:
            self.t_key = keys[np.lexsort((keys, pos))][at]
        self.collected = []
        self.stage = "done"

    def values(self) -> np.ndarray:
        """The target values (one per target, in the order of ``plan``'s ranks)."""
        return from_keys(self.t_key, self.dtype)


# -- percentiles of an array, as an engine consumer ---------------------------------------


class PercentileScan:
    """numpy's percentiles over ``axes`` of an array streamed in chunks of rows.

    The engines' consumer protocol: :meth:`chunk_state` (pure; any worker) and
    :meth:`absorb` (in order), one call of :meth:`end_pass` after each pass, until
    :attr:`done`. Over axes without 0 each sample's percentiles are computed in its
    chunk (one pass). ``nan_policy``: ``omit`` leaves NaN out (numpy.nanpercentile),
    ``propagate`` (and ``raise``, whose NaN the caller refuses) gives NaN to a slice
    holding one (numpy.percentile). ``exclude_zeros`` leaves zeros out.
    """

    def __init__(
        self,
        shape,
        dtype,
        axes,
        q,
        method="linear",
        nan_policy="omit",
        exclude_zeros=False,
        in_float64=False,
    ):
        self.shape = tuple(shape) or (1,)
        self.dtype = np.dtype(dtype)
        self.axes = tuple(axes)
        self.q = np.asarray(q, dtype=np.float64)
        if method not in METHODS:
            raise ValueError(
                f"unknown percentile method {method!r}; use one of {', '.join(METHODS)}"
            )
        self.method = method
        self.nan_policy = nan_policy
        self.exclude_zeros = exclude_zeros
        self.in_float64 = in_float64  # interpolate the order statistics as float64
        self.per_sample = 0 not in self.axes
        self.kept = tuple(i for i in range(len(self.shape)) if i not in self.axes)
        self.kept_shape = tuple(self.shape[i] for i in self.kept)
        self._parts: list = []
        self.search = None
        self.nan = None
        if not self.per_sample:
            self.search = RankSearch(self.dtype, math.prod(self.kept_shape), self._plan)
            self.nan = np.zeros(self.search.K, dtype=np.int64)
        self._zero = int(to_keys(np.zeros(1, self.dtype))[0])
        # the slice of every value, broadcasting over the reduce axes
        self._slices = np.expand_dims(
            np.arange(math.prod(self.kept_shape), dtype=np.intp).reshape(self.kept_shape),
            self.axes,
        )

    @property
    def done(self) -> bool:
        return (self.per_sample and self._fed_pass) or (
            self.search is not None and self.search.done
        )

    _fed_pass = False

    @property
    def passes(self) -> int:
        return 1 if self.per_sample else self.search.passes

    def chunk_state(self, chunk: np.ndarray, start: int = 0):
        chunk = np.asarray(chunk)
        if chunk.ndim == 0:
            chunk = chunk.reshape(1)
        if self.per_sample:
            x = chunk
            if self.exclude_zeros:
                x = np.where(x == 0, np.nan, x.astype(np.float64))
            return in_memory(x, self.q, self.axes, self.method, self.nan_policy, self.in_float64)
        keys = to_keys(chunk)
        drop = nan = None
        if chunk.dtype.kind == "f":
            bad = np.isnan(chunk)
            if bad.any():
                drop = bad
                nan = np.count_nonzero(bad, axis=self.axes).reshape(-1)
        if self.exclude_zeros:
            zero = keys == keys.dtype.type(self._zero)
            drop = zero if drop is None else drop | zero
        slices = self._slices if self.search.K > 1 else None
        return self.search.chunk_state(keys, slices, drop), nan

    def absorb(self, state) -> None:
        if self.per_sample:
            self._parts.append(state)
            return
        counts, nan = state
        self.search.absorb(counts)
        if nan is not None:
            self.nan += nan

    def end_pass(self) -> None:
        if self.per_sample:
            self._fed_pass = True
        else:
            self.search.end_pass()

    def _plan(self, n: np.ndarray) -> list[np.ndarray]:
        ranks = []
        for count in n.tolist():
            if count == 0:
                ranks.append(np.zeros(0, dtype=np.int64))
                continue
            prev, nxt, _ = rank_plan(count, self.q, self.method)
            ranks.append(np.unique(np.concatenate([prev, nxt])))
        return ranks

    def result(self) -> np.ndarray:
        """The percentiles, shaped ``(len(q), *kept)`` (rows of samples first when the
        axes exclude 0), float64."""
        if self.per_sample:
            parts = [p.reshape(len(self.q), -1, *self.kept_shape[1:]) for p in self._parts]
            return np.concatenate(parts, axis=1) if parts else np.full((len(self.q), 0), np.nan)
        s = self.search
        values = s.values()
        if self.in_float64:
            values = values.astype(np.float64)
        out = np.full((s.K, len(self.q)), np.nan)
        offset = 0
        for k, count in enumerate(s.n.tolist()):
            if count == 0:
                continue
            prev, nxt, gamma = rank_plan(count, self.q, self.method)
            ranks = np.unique(np.concatenate([prev, nxt]))
            mine = values[offset : offset + len(ranks)]
            offset += len(ranks)
            sorted_at = dict(zip(ranks.tolist(), range(len(ranks)), strict=True))
            a = mine[[sorted_at[r] for r in prev.tolist()]]
            b = mine[[sorted_at[r] for r in nxt.tolist()]]
            out[k] = interpolate(a, b, gamma)
        if self.nan_policy != "omit":
            out[self.nan > 0] = np.nan
        return out.T.reshape(len(self.q), *self.kept_shape)


def percentiles(
    x: np.ndarray, q, axes=None, *, method="linear", nan_policy="omit", chunk_rows=None
):
    """Streamed percentiles of an in-memory array (the library's entry point and the
    tests' subject): ``q`` in percent; ``axes`` default all; fed in chunks of rows."""
    x = np.asarray(x)
    if x.ndim == 0:
        x = x.reshape(1)
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    scan = PercentileScan(x.shape, x.dtype, axes, np.asarray(q, float) / 100.0, method, nan_policy)
    step = chunk_rows or x.shape[0]
    while not scan.done:
        for start in range(0, x.shape[0], step):
            scan.absorb(scan.chunk_state(x[start : start + step], start))
        scan.end_pass()
    return scan.result()
