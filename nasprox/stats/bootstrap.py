"""Seeded percentile bootstrap confidence intervals for any paired statistic, and for the difference of
one statistic between two scores of the same cells (a paired bootstrap)."""

from __future__ import annotations

import contextlib
import hashlib
import math
import multiprocessing
from collections.abc import Callable, Iterator

import numpy as np

from nasprox.core import NasproxError
from nasprox.stats.correlation import finite_pairs
from nasprox.stats.resampled import OVER_COUNTS

# resamples are evaluated together in batches of about this many multiplicities (an int64 each)
_BATCH_ELEMENTS = 1 << 21


def bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    x,
    y,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic`` over resamples (with replacement) of the finite pairs.

    Resamples where the statistic is undefined (NaN, e.g. a constant resample) are skipped; the
    interval is NaN when fewer than half of the resamples are usable. Spearman, Kendall and the
    pairwise-order probability are evaluated for a batch of resamples at once
    (``nasprox.stats.resampled``), on the same draws.
    """
    _check(n_resamples, confidence)
    p = finite_pairs(x, y)
    if p.n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    over_counts = OVER_COUNTS.get(statistic)
    if over_counts is None:
        for i in range(n_resamples):
            picked = rng.integers(0, p.n, size=p.n)
            values[i] = statistic(p.x[picked], p.y[picked])
    else:
        of_counts = over_counts(p.x, p.y)
        per_batch = max(1, _BATCH_ELEMENTS // p.n)
        for start in range(0, n_resamples, per_batch):
            stop = min(start + per_batch, n_resamples)
            values[start:stop] = of_counts(_multiplicities(rng, p.n, stop - start))
    return _percentile_interval(values, n_resamples, confidence)


def _check(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise NasproxError(f"bootstrap needs at least one resample (got {n_resamples})")
    if not 0 < confidence < 1:
        raise NasproxError(f"confidence {confidence} must lie in (0, 1)")


def _percentile_interval(values: np.ndarray, n_resamples: int, confidence: float) -> tuple[float, float]:
    """The percentile interval of the finite ``values``; NaN when fewer than half the resamples are usable."""
    values = values[np.isfinite(values)]
    if values.size < n_resamples / 2:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def shared_cells(a, b, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, y) on the cells where all three are finite: the cells two scores ``a`` and ``b`` share."""
    a, b, y = (np.asarray(v, dtype=float).ravel() for v in (a, b, y))
    if not a.shape == b.shape == y.shape:
        raise NasproxError(f"two scores and the ground truth differ in length ({a.size}, {b.size}, {y.size})")
    keep = np.isfinite(a) & np.isfinite(b) & np.isfinite(y)
    return a[keep], b[keep], y[keep]


def paired_bootstrap_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    a,
    b,
    y,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(a, y) - statistic(b, y)`` over resamples of the shared cells.

    Each resample draws cells (with replacement) among those where ``a``, ``b`` and ``y`` are all finite,
    and both scores are evaluated on the same drawn cells: the interval of a paired difference, narrower
    than two independent intervals when the scores rank the cells alike. Draws are made as
    ``bootstrap_ci`` makes them (same seed, same resamples), and Spearman, Kendall and the pairwise-order
    probability are evaluated a batch of resamples at once. Resamples where either statistic is
    undefined are skipped; NaN when fewer than half are usable.
    """
    _check(n_resamples, confidence)
    a, b, y = shared_cells(a, b, y)
    n = a.size
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    over_counts = OVER_COUNTS.get(statistic)
    if over_counts is None:
        for i in range(n_resamples):
            picked = rng.integers(0, n, size=n)
            values[i] = statistic(a[picked], y[picked]) - statistic(b[picked], y[picked])
    else:
        of_a, of_b = over_counts(a, y), over_counts(b, y)
        per_batch = max(1, _BATCH_ELEMENTS // n)
        for start in range(0, n_resamples, per_batch):
            stop = min(start + per_batch, n_resamples)
            counts = _multiplicities(rng, n, stop - start)
            values[start:stop] = of_a(counts) - of_b(counts)
    return _percentile_interval(values, n_resamples, confidence)


def _multiplicities(rng: np.random.Generator, n: int, count: int) -> np.ndarray:
    """(count x n): how often each of the n pairs is drawn in each of the next ``count`` resamples.

    Drawn exactly as one resample at a time draws them (n indices per resample, in order), so the
    batched statistics see the same resamples and the intervals do not move.
    """
    picked = np.stack([rng.integers(0, n, size=n) for _ in range(count)])
    flat = (picked + np.arange(count)[:, None] * n).ravel()
    return np.bincount(flat, minlength=count * n).reshape(count, n)


def _fingerprint(values) -> bytes:
    data = np.ascontiguousarray(np.asarray(values, dtype=float).ravel())
    return hashlib.blake2b(data.tobytes(), digest_size=16).digest() + data.size.to_bytes(8, "little")


class BootstrapMemo:
    """``bootstrap_ci`` that remembers its intervals, and can compute a batch of them on several processes.

    A report asks for the same interval (same statistic, scores, target and settings) from several
    tables: the correlation table and each paper's cells. The resamples are seeded, so the answer is the
    same every time; this computes it once. Keys hold a digest of the data, not the arrays.

    ``recording()`` collects the intervals a pass over the tables asks for (answering NaN), and
    ``compute_recorded(jobs)`` computes them on ``jobs`` processes; the real pass then finds them all.
    Every interval is the one ``bootstrap_ci`` gives (its own seeded resamples), whatever ``jobs``.
    """

    def __init__(self) -> None:
        self._intervals: dict[tuple, tuple[float, float]] = {}
        self._recording = False
        # key -> (bootstrap_ci or paired_bootstrap_ci, its arguments), until compute_recorded
        self._recorded: dict[tuple, tuple[Callable[..., tuple[float, float]], tuple]] = {}
        self.computed = 0  # intervals actually bootstrapped (the rest were remembered)

    def __call__(
        self,
        statistic: Callable[[np.ndarray, np.ndarray], float],
        x,
        y,
        *,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> tuple[float, float]:
        key = (statistic, _fingerprint(x), _fingerprint(y), n_resamples, confidence, seed)
        return self._interval_of(
            key, bootstrap_ci, (statistic, np.asarray(x), np.asarray(y)), n_resamples, confidence, seed
        )

    def paired(
        self,
        statistic: Callable[[np.ndarray, np.ndarray], float],
        a,
        b,
        y,
        *,
        n_resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> tuple[float, float]:
        """``paired_bootstrap_ci``, remembered and recorded like the single-score intervals."""
        key = ("paired", statistic, _fingerprint(a), _fingerprint(b), _fingerprint(y), n_resamples, confidence, seed)
        data = (statistic, np.asarray(a), np.asarray(b), np.asarray(y))
        return self._interval_of(key, paired_bootstrap_ci, data, n_resamples, confidence, seed)

    def _interval_of(
        self, key: tuple, function: Callable[..., tuple[float, float]], data: tuple, n_resamples, confidence, seed
    ) -> tuple[float, float]:
        if key in self._intervals:
            return self._intervals[key]
        arguments = (*data, n_resamples, confidence, seed)
        if self._recording:
            self._recorded.setdefault(key, (function, arguments))
            return math.nan, math.nan
        self._intervals[key] = _interval((function, arguments))
        self.computed += 1
        return self._intervals[key]

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Within: intervals not yet known are recorded for ``compute_recorded``, not computed, and read as NaN."""
        self._recording = True
        try:
            yield
        finally:
            self._recording = False

    def compute_recorded(self, jobs: int = 1) -> None:
        """Compute the intervals recorded by ``recording()``, on ``jobs`` processes (1: in this one)."""
        recorded, self._recorded = self._recorded, {}
        keys = sorted(recorded, key=lambda k: -_work(recorded[k]))  # longest first
        if jobs <= 1 or len(keys) < 2:
            intervals = map(_interval, (recorded[k] for k in keys))
            self._intervals.update(zip(keys, intervals))
        else:
            # spawn: the same on every platform, and no forked copy of a parent's threads
            with multiprocessing.get_context("spawn").Pool(min(jobs, len(keys))) as pool:
                self._intervals.update(zip(keys, pool.map(_interval, [recorded[k] for k in keys], chunksize=1)))
        self.computed += len(keys)


def _work(entry: tuple) -> int:
    """How long a recorded interval takes, roughly: cells x resamples x scores (two for a paired one)."""
    function, (statistic, *arrays, n_resamples, _confidence, _seed) = entry
    return arrays[0].size * n_resamples * (len(arrays) - 1)


def _interval(entry: tuple) -> tuple[float, float]:
    function, (*data, n_resamples, confidence, seed) = entry
    return function(*data, n_resamples=n_resamples, confidence=confidence, seed=seed)
