"""Seeded percentile bootstrap confidence intervals for any paired statistic."""

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
    if n_resamples < 1:
        raise NasproxError(f"bootstrap needs at least one resample (got {n_resamples})")
    if not 0 < confidence < 1:
        raise NasproxError(f"confidence {confidence} must lie in (0, 1)")
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
    values = values[np.isfinite(values)]
    if values.size < n_resamples / 2:
        return math.nan, math.nan
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


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
        self._recorded: dict[tuple, tuple] = {}  # key -> bootstrap_ci's arguments, until compute_recorded
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
        if key in self._intervals:
            return self._intervals[key]
        if self._recording:
            self._recorded.setdefault(key, (statistic, np.asarray(x), np.asarray(y), n_resamples, confidence, seed))
            return math.nan, math.nan
        self._intervals[key] = bootstrap_ci(statistic, x, y, n_resamples=n_resamples, confidence=confidence, seed=seed)
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
        keys = sorted(recorded, key=lambda k: -recorded[k][1].size * recorded[k][3])  # longest first
        if jobs <= 1 or len(keys) < 2:
            intervals = map(_interval, (recorded[k] for k in keys))
            self._intervals.update(zip(keys, intervals))
        else:
            # spawn: the same on every platform, and no forked copy of a parent's threads
            with multiprocessing.get_context("spawn").Pool(min(jobs, len(keys))) as pool:
                self._intervals.update(zip(keys, pool.map(_interval, [recorded[k] for k in keys], chunksize=1)))
        self.computed += len(keys)


def _interval(arguments: tuple) -> tuple[float, float]:
    statistic, x, y, n_resamples, confidence, seed = arguments
    return bootstrap_ci(statistic, x, y, n_resamples=n_resamples, confidence=confidence, seed=seed)
