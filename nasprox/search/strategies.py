"""NAS search strategies on a tabular benchmark, with zero-cost proxy warm-up and move (Abdelfattah
et al. 2021 §5; epsilon paper §3.3 and Fig. 3).

The benchmark's ground truth is the training oracle: "training" an architecture means reading its
accuracy, and the budget is the number of distinct architectures trained. Proxy values are free.

- ``random``: architectures in a random order.
- ``random+warmup``: draw a pool of N architectures, train them in descending proxy order, then
  continue in random order (the proxy decides which N-pool members are trained first).
- ``evolution``: regularized (aging) evolution (Real et al. 2019): a population of P trained
  architectures; each cycle samples S of them, mutates the most accurate (the parent) and trains
  the child; the oldest member dies.
- ``+warmup``: the initial population is the P best-by-proxy members of a random pool of N.
- ``+move``: the child is the best-by-proxy among (up to M) untrained mutations of the parent,
  instead of one random mutation (Abdelfattah et al.'s "zero-cost move proposal").

Mutation is space-aware: a space's ``neighbours(index) -> list[int]`` or ``mutate(index, rng) ->
int`` when it has one (for NB201/NATS-TSS: the 24 cells one edge-op away); otherwise a random
other architecture. A child that was already trained is never trained again: the mutation falls back to an untrained random architecture. Every strategy sees the same domain
(the architectures with ground truth, and with a proxy value when proxies come from a CSV).
"""

from __future__ import annotations

import math
import textwrap
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nasprox.core import NasproxError

STRATEGIES = ("random", "random+warmup", "evolution", "evolution+warmup", "evolution+move", "evolution+warmup+move")


@dataclass
class SearchProblem:
    """A finite domain of architectures (positions 0..n-1) with an oracle and an optional proxy."""

    keys: list[str]
    accuracy: np.ndarray  # oracle, oriented higher = better
    proxy: Callable[[int], float] | None = None  # position -> proxy value (higher = better), cached by caller
    neighbours: Callable[[int, np.random.Generator], list[int]] | None = None  # position -> candidate children
    _proxy_cache: dict[int, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.accuracy = np.asarray(self.accuracy, dtype=float)
        if len(self.keys) != len(self.accuracy):
            raise ValueError("keys and accuracy differ in length")
        if len(self.keys) < 2:
            raise NasproxError("the search domain has fewer than 2 architectures with ground truth")

    def __len__(self) -> int:
        return len(self.keys)

    def score(self, pos: int) -> float:
        if self.proxy is None:
            raise NasproxError("this strategy needs proxy values (--scores CSV or --proxy)")
        if pos not in self._proxy_cache:
            value = float(self.proxy(pos))
            self._proxy_cache[pos] = value if math.isfinite(value) else -math.inf  # NaN ranks last
        return self._proxy_cache[pos]


class _Trainer:
    """Trains (reads the oracle for) each architecture at most once and keeps the best-so-far curve."""

    def __init__(self, problem: SearchProblem, budget: int, rng: np.random.Generator):
        self.problem, self.budget, self.rng = problem, budget, rng
        self.trained: dict[int, float] = {}
        self.curve: list[float] = []
        self._order = rng.permutation(len(problem))
        self._cursor = 0

    @property
    def done(self) -> bool:
        return len(self.curve) >= self.budget or len(self.trained) == len(self.problem)

    def train(self, pos: int) -> float:
        if pos in self.trained:
            return self.trained[pos]
        acc = float(self.problem.accuracy[pos])
        self.trained[pos] = acc
        self.curve.append(max(acc, self.curve[-1]) if self.curve else acc)
        return acc

    def random_untrained(self) -> int:
        while self._cursor < len(self._order):
            pos = int(self._order[self._cursor])
            self._cursor += 1
            if pos not in self.trained:
                return pos
        raise StopIteration

    def pool(self, size: int) -> list[int]:
        size = min(size, len(self.problem))
        return [int(p) for p in self.rng.choice(len(self.problem), size=size, replace=False)]

    def by_proxy(self, positions: list[int]) -> list[int]:
        return sorted(positions, key=lambda p: -self.problem.score(p))


def random_search(problem: SearchProblem, budget: int, rng: np.random.Generator, warmup: int = 0) -> np.ndarray:
    """Best accuracy found after 1..budget trained architectures (see module doc)."""
    t = _Trainer(problem, budget, rng)
    if warmup:
        for pos in t.by_proxy(t.pool(warmup)):
            if t.done:
                break
            t.train(pos)
    while not t.done:
        t.train(t.random_untrained())
    return _pad(t.curve, budget)


def regularized_evolution(
    problem: SearchProblem,
    budget: int,
    rng: np.random.Generator,
    *,
    population: int = 20,
    sample: int = 5,
    warmup: int = 0,
    move: int = 0,
) -> np.ndarray:
    """Aging evolution with optional proxy warm-up (initial population) and move (child choice)."""
    if population < 2 or not 1 <= sample <= population:
        raise NasproxError(
            f"evolution needs population >= 2 and 1 <= sample <= population (got {population}, {sample})"
        )
    t = _Trainer(problem, budget, rng)
    start = t.by_proxy(t.pool(max(warmup, population)))[:population] if warmup else None
    alive: deque[int] = deque()
    while len(alive) < population and not t.done:
        pos = start.pop(0) if start else t.random_untrained()
        t.train(pos)
        alive.append(pos)
    while not t.done:
        members = [alive[i] for i in rng.choice(len(alive), size=min(sample, len(alive)), replace=False)]
        parent = max(members, key=lambda p: t.trained[p])
        child = _child(problem, t, parent, move)
        t.train(child)
        alive.append(child)
        alive.popleft()
    return _pad(t.curve, budget)


def _child(problem: SearchProblem, t: _Trainer, parent: int, move: int) -> int:
    candidates = problem.neighbours(parent, t.rng) if problem.neighbours is not None else []
    fresh = [c for c in candidates if c not in t.trained]
    if not fresh:
        return t.random_untrained()
    if move:
        fresh = fresh if len(fresh) <= move else [fresh[i] for i in t.rng.choice(len(fresh), size=move, replace=False)]
        return max(fresh, key=problem.score)
    return fresh[int(t.rng.integers(len(fresh)))]


def _pad(curve: list[float], budget: int) -> np.ndarray:
    """A budget-long curve (a domain smaller than the budget keeps its final best)."""
    out = np.full(budget, curve[-1] if curve else math.nan)
    out[: len(curve)] = curve[:budget]
    return out


def run_strategy(
    problem: SearchProblem,
    name: str,
    budget: int,
    seeds: Sequence[int],
    *,
    warmup_pool: int = 100,
    population: int = 20,
    sample: int = 5,
    move_candidates: int = 24,
) -> np.ndarray:
    """(len(seeds), budget) best-so-far accuracies of strategy ``name``."""
    if name not in STRATEGIES:
        raise NasproxError(f"unknown strategy '{name}' (choose from {', '.join(STRATEGIES)})")
    if budget < 1:
        raise NasproxError("--budget must be >= 1")
    warm = warmup_pool if "warmup" in name else 0
    curves = []
    for seed in seeds:
        rng = np.random.default_rng([seed, STRATEGIES.index(name)])
        if name.startswith("random"):
            curves.append(random_search(problem, budget, rng, warmup=warm))
        else:
            curves.append(
                regularized_evolution(
                    problem,
                    budget,
                    rng,
                    population=population,
                    sample=sample,
                    warmup=warm,
                    move=move_candidates if "move" in name else 0,
                )
            )
    return np.vstack(curves)


def checkpoint_table(curves: dict[str, np.ndarray], checkpoints: Sequence[int], best: float | None = None):
    """Mean ± std over seeds of the best accuracy at each checkpoint, one row per strategy."""
    import pandas as pd

    rows = []
    for name, arr in curves.items():
        row: dict[str, object] = {"strategy": name, "seeds": arr.shape[0]}
        for k in checkpoints:
            if k <= arr.shape[1]:
                col = arr[:, k - 1]
                row[f"acc@{k}"] = float(col.mean())
                row[f"std@{k}"] = float(col.std())
        if best is not None:
            hit = arr >= best - 1e-9
            first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.nan)
            row["found_best"] = f"{int(hit.any(axis=1).sum())}/{arr.shape[0]}"
            row["median_trained_to_best"] = float(np.nanmedian(first)) if np.isfinite(first).any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def plot_curves(
    curves: dict[str, np.ndarray],
    path,
    *,
    title: str = "",
    ylabel: str = "best accuracy found",
    best: float | None = None,
) -> None:
    """Mean best-so-far accuracy vs trained architectures, with a ±1 std band over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, arr in curves.items():
        x = np.arange(1, arr.shape[1] + 1)
        mean, std = arr.mean(axis=0), arr.std(axis=0)
        (line,) = ax.plot(x, mean, label=name, lw=1.4, ls="--" if name.startswith("random") else "-")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
    if best is not None:
        ax.axhline(best, color="black", lw=0.8, ls=":", label="best in domain")
    ax.set_xscale("log")
    ax.set_xlabel("number of trained architectures")
    ax.set_ylabel(ylabel)
    lows = [np.percentile(a[:, min(9, a.shape[1] - 1)], 5) for a in curves.values()]
    if lows and best is not None:
        ax.set_ylim(min(lows) - 0.5, best + 0.5)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(textwrap.fill(title, 80), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
