"""Build a SearchProblem from a space's ground truth and proxy values (a result CSV or the engine)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from nasprox.core import PROXIES, NasproxError, SearchSpace
from nasprox.search.strategies import SearchProblem
from nasprox.stats import lower_is_better, read_results


def proxy_direction(proxy: str, negate: bool = False) -> float:
    """+1 when higher proxy values are better (registry metadata; unknown names: higher), -1 otherwise."""
    sign = 1.0
    if proxy in PROXIES and PROXIES.get(proxy).higher_is_better is False:
        sign = -1.0
    return -sign if negate else sign


def scores_from_csv(path: Path, proxy: str | None, space: str, dataset: str) -> tuple[pd.DataFrame, str]:
    """Rows of (arch_index, arch, score, gt_*) for one proxy of one (space, dataset) in a result CSV."""
    long = read_results([path])
    long = long[(long["space"] == space) & (long["dataset"] == dataset)]
    if long.empty:
        raise NasproxError(f"{path} has no rows for space {space} and dataset {dataset}")
    names = sorted(long["proxy"].dropna().unique())
    if proxy is None:
        if len(names) != 1:
            raise NasproxError(f"{path} holds several proxies ({', '.join(names)}): choose one with --proxy")
        proxy = names[0]
    if proxy not in names:
        canonical = PROXIES.canonical(proxy) if proxy in PROXIES else proxy
        if canonical not in names:
            raise NasproxError(f"proxy '{proxy}' not in {path} (has: {', '.join(names)})")
        proxy = canonical
    sub = long[long["proxy"] == proxy]
    gt_cols = [c for c in sub.columns if c.startswith("gt_")]
    agg = {"arch_index": "first", "score": "mean", **{c: "first" for c in gt_cols}}
    rows = sub.groupby("arch", sort=True).agg(agg).reset_index()  # several seeds: mean score
    return rows, proxy


def ground_truth_value(space: SearchSpace, index: int, key: str, dataset: str, target: str) -> float:
    arch = space.arch(index) if index >= 0 else space.parse(key)
    value = space.ground_truth(arch, dataset).get(target, math.nan)
    return float(value) if value is not None else math.nan


def make_neighbours(space: SearchSpace, keys: list[str], indices: list[int]) -> Callable | None:
    """A ``(position, rng) -> [positions]`` mutation function restricted to the domain (module doc of
    ``strategies``); ``None`` when no structure is known (children are then random architectures)."""
    if not indices or indices[0] < 0 or space.neighbours(indices[0]) is None:
        return None
    pos_of_index = {idx: i for i, idx in enumerate(indices)}
    return lambda p, rng: [pos_of_index[j] for j in space.neighbours(indices[p]) or () if j in pos_of_index]


def build_problem(
    space: SearchSpace,
    dataset: str,
    *,
    target: str | None = None,
    scores: Path | None = None,
    proxy: str | None = None,
    negate: bool = False,
    live_score: Callable[[int], float] | None = None,
) -> tuple[SearchProblem, dict]:
    """The search domain, oracle and proxy; ``info`` says where each came from.

    With ``scores`` the domain is the CSV's architectures (scored by ``proxy``); ground truth comes from
    the space when it has files configured, else from the CSV's ``gt_<target>`` column. Without a CSV
    the domain is the whole space and ``live_score(index)`` computes proxy values on demand.
    """
    target = target or space.default_target
    sign_target = -1.0 if lower_is_better(space.name, target) else 1.0
    info: dict = {"target": target, "sign": sign_target}
    if scores is not None:
        rows, proxy = scores_from_csv(scores, proxy, space.name, dataset)
        keys = rows["arch"].astype(str).tolist()
        indices = []
        for idx, key in zip(rows["arch_index"], keys):
            idx = int(idx) if pd.notna(idx) else -1
            indices.append(idx if idx >= 0 else space.index_of(key))
        gt_col = f"gt_{target}"
        if gt_col in rows.columns and rows[gt_col].notna().all():
            acc = rows[gt_col].to_numpy(dtype=float)
            info["oracle"] = f"{gt_col} column of {scores.name}"
        else:
            acc = np.array([ground_truth_value(space, i, k, dataset, target) for i, k in zip(indices, keys)])
            info["oracle"] = f"{space.name} ground truth ({target})"
        values = rows["score"].to_numpy(dtype=float) * proxy_direction(proxy, negate)
        keep = np.isfinite(acc) & np.isfinite(values)
        if not keep.any():
            raise NasproxError(
                f"no architecture in {scores} has both a finite {proxy} score and ground truth "
                f"'{target}' (configure --ground-truth or score with it)"
            )
        keys = [k for k, ok in zip(keys, keep) if ok]
        indices = [i for i, ok in zip(indices, keep) if ok]
        values = values[keep]
        proxy_fn = values.__getitem__
        info.update(proxy=proxy, proxy_source=str(scores), dropped=int((~keep).sum()))
        acc = acc[keep]
    else:
        n = len(space)
        indices = list(range(n))
        keys = [space.key(i) for i in indices]
        acc = np.array([ground_truth_value(space, i, k, dataset, target) for i, k in zip(indices, keys)])
        keep = np.isfinite(acc)
        if not keep.any():
            raise NasproxError(
                f"space {space.name} has no ground truth '{target}' for {dataset}: give --ground-truth/--benchmark"
            )
        keys = [k for k, ok in zip(keys, keep) if ok]
        indices = [i for i, ok in zip(indices, keep) if ok]
        acc = acc[keep]
        sign = proxy_direction(proxy, negate) if proxy else 1.0
        proxy_fn = None if live_score is None else (lambda p: sign * live_score(indices[p]))
        info.update(
            proxy=proxy,
            proxy_source="engine (on the fly)" if proxy else None,
            dropped=int((~keep).sum()),
            oracle=f"{space.name} ground truth ({target})",
        )
    problem = SearchProblem(keys, sign_target * acc, proxy_fn, make_neighbours(space, keys, indices))
    info.update(
        domain=len(problem),
        best=float(problem.accuracy.max()) * sign_target,
        mutation=f"{space.name} neighbours" if problem.neighbours else "random architecture",
    )
    return problem, info
