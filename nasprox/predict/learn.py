"""Learned accuracy predictors from proxy values and architecture features (``nasprox predict``).

Protocol, per (space, dataset) of a result table:

1. Rows with a finite target are the pool (others are counted and left out).
2. For each seed s, one seeded permutation of the pool (``numpy.random.default_rng(s)``); for
   each training size N the first N rows are the training set and **all the others** the held-out
   set, so the training sets of one seed are nested (20 within 50 within 100 ...) and every metric
   is computed on architectures the model never saw. ``split`` asserts the two are disjoint.
3. The model (scikit-learn, ``random_state = s``) sees only ``X[train]`` and ``y[train]``: a
   median imputer (fitted on the training rows; missing proxy values) then a random forest or
   gradient boosting regressor (or extremely randomised trees, ``et``). Changing held-out labels
   cannot change it (tested).
4. Held-out metrics of the predictions: Kendall, Spearman, Spearman on the true top-x%, top-x%
   overlap, pairwise-order probability, nDCG@k, Precision@T (``nasprox.stats``).
5. Baseline on the same split: the single proxy with the highest |Spearman| on the *training*
   rows, with that sign (no held-out label is used to pick it).

Results are one row per (space, dataset, N, seed, method) with the training architectures'
indices, and a summary of mean and standard deviation over seeds per N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from nasprox.core import NasproxError
from nasprox.stats import (
    correlate_top,
    kendall_tau,
    ndcg_at_k,
    pairwise_order_probability,
    precision_at_t,
    spearman_rho,
    top_overlap,
)

MODELS = {
    "rf": "random forest (scikit-learn RandomForestRegressor, 300 trees)",
    "gb": "gradient boosting (scikit-learn GradientBoostingRegressor, 300 stages, depth 3, lr 0.05)",
    "et": "extremely randomised trees (scikit-learn ExtraTreesRegressor, 300 trees, half the features per split)",
}
METRICS = ("kendall", "spearman", "spearman_top", "top_overlap", "pairwise_order", "ndcg_at_k", "precision_at_t")
MIN_HELD_OUT = 10


def make_model(name: str, seed: int):
    """An unfitted scikit-learn pipeline: median imputer (missing proxy values) + regressor."""
    try:
        from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor, RandomForestRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
    except ImportError:  # pragma: no cover - a dependency, but say so plainly
        raise NasproxError("nasprox predict needs scikit-learn: pip install 'scikit-learn>=1.3'") from None
    if name == "rf":
        reg = RandomForestRegressor(n_estimators=300, random_state=seed, n_jobs=1)
    elif name == "et":
        reg = ExtraTreesRegressor(n_estimators=300, max_features=0.5, random_state=seed, n_jobs=1)
    elif name == "gb":
        reg = GradientBoostingRegressor(
            n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=seed
        )
    else:
        raise NasproxError(f"unknown model '{name}' (choose from {', '.join(MODELS)})")
    return make_pipeline(SimpleImputer(strategy="median"), reg)


def split(n: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) row positions: the first ``n_train`` of a seeded permutation, and the rest."""
    if not 0 < n_train < n:
        raise NasproxError(f"cannot train on {n_train} of {n} architectures")
    perm = np.random.default_rng(seed).permutation(n)
    train, test = np.sort(perm[:n_train]), np.sort(perm[n_train:])
    assert not np.intersect1d(train, test).size and train.size + test.size == n
    return train, test


def fit(X: np.ndarray, y: np.ndarray, train: np.ndarray, model: str, seed: int):
    """Fit ``model`` on the training rows only (the only place labels enter)."""
    est = make_model(model, seed)
    est.fit(X[train], y[train])
    return est


def evaluate(
    pred: np.ndarray, truth: np.ndarray, *, top: float = 0.1, ndcg_k: int = 10, precision_t: int | float = 10
) -> dict[str, float]:
    """Held-out metrics of predictions (or any higher-is-better score) against the truth."""
    return {
        "kendall": kendall_tau(pred, truth),
        "spearman": spearman_rho(pred, truth),
        "spearman_top": correlate_top(pred, truth, top, "spearman"),
        "top_overlap": top_overlap(pred, truth, top),
        "pairwise_order": pairwise_order_probability(pred, truth),
        "ndcg_at_k": ndcg_at_k(pred, truth, ndcg_k),
        "precision_at_t": precision_at_t(pred, truth, precision_t),
    }


def best_train_proxy(P: np.ndarray, y: np.ndarray, train: np.ndarray, names) -> tuple[int, float]:
    """(column, sign) of the proxy with the largest |Spearman| on the training rows."""
    best, best_abs, best_sign = -1, -1.0, 1.0
    for j in range(P.shape[1]):
        rho = spearman_rho(P[train, j], y[train])
        if np.isfinite(rho) and abs(rho) > best_abs:
            best, best_abs, best_sign = j, abs(rho), (1.0 if rho >= 0 else -1.0)
    return best, best_sign


@dataclass
class Curve:
    runs: pd.DataFrame  # one row per (N, seed, method)
    summary: pd.DataFrame  # mean/std over seeds per (N, method)
    importances: pd.DataFrame  # mean feature importance at each N (model rows only)
    skipped: list[int]


def learning_curve(
    X: np.ndarray,
    y: np.ndarray,
    names,
    n_proxy: int,
    arch_index,
    *,
    train_sizes,
    seeds,
    model: str = "rf",
    top: float = 0.1,
    ndcg_k: int = 10,
    precision_t: int | float = 10,
    baseline: bool = True,
) -> Curve:
    """Train/evaluate for every (N, seed); ``y`` higher = better, finite (filter first)."""
    n = len(y)
    if not np.all(np.isfinite(y)):
        raise NasproxError("learning_curve needs finite targets; drop the others first")
    sizes = sorted(set(int(s) for s in train_sizes))
    usable = [s for s in sizes if 2 <= s <= n - MIN_HELD_OUT]
    skipped = [s for s in sizes if s not in usable]
    if not usable:
        raise NasproxError(
            f"no training size leaves {MIN_HELD_OUT} held-out archs among {n} (asked for {', '.join(map(str, sizes))})"
        )
    arch_index = np.asarray(arch_index)
    runs, imps = [], []
    P = X[:, :n_proxy]
    for seed in seeds:
        for size in usable:
            train, test = split(n, size, seed)
            est = fit(X, y, train, model, seed)
            pred = est.predict(X[test])
            common = {
                "n_train": size,
                "n_test": int(test.size),
                "seed": int(seed),
                "train_arch_index": ";".join(str(int(i)) for i in arch_index[train]),
            }
            runs.append(
                {**common, "method": model, **evaluate(pred, y[test], top=top, ndcg_k=ndcg_k, precision_t=precision_t)}
            )
            reg = est[-1]
            kept = est[0].get_feature_names_out(list(names)) if hasattr(est[0], "get_feature_names_out") else names
            imps.append({"n_train": size, "seed": int(seed), **dict(zip(kept, reg.feature_importances_))})
            if baseline and n_proxy:
                j, sign = best_train_proxy(P, y, train, names)
                if j >= 0:
                    runs.append(
                        {
                            **common,
                            "method": f"best proxy on train ({names[j]})",
                            **evaluate(sign * P[test, j], y[test], top=top, ndcg_k=ndcg_k, precision_t=precision_t),
                        }
                    )
    frame = pd.DataFrame(runs)
    frame["method_kind"] = np.where(frame["method"] == model, model, "best proxy on train")
    summary = summarise(frame)
    importances = pd.DataFrame(imps).groupby("n_train").mean(numeric_only=True).drop(columns="seed")
    return Curve(frame, summary, importances, skipped)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every metric per (n_train, method kind); the chosen proxies listed."""
    rows = []
    for (size, kind), grp in runs.groupby(["n_train", "method_kind"], sort=True):
        row = {
            "n_train": int(cast(int, size)),
            "method": kind,
            "seeds": int(grp["seed"].nunique()),
            "n_test": int(grp["n_test"].iloc[0]),
        }
        for metric in METRICS:
            values = grp[metric].to_numpy(dtype=float)
            row[f"{metric}_mean"] = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
            row[f"{metric}_std"] = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else np.nan
        if kind != grp["method"].iloc[0] or grp["method"].nunique() > 1:
            counts = grp["method"].str.extract(r"\((.*)\)$")[0].value_counts()
            row["chosen"] = ", ".join(f"{k} x{v}" for k, v in counts.items())
        rows.append(row)
    return pd.DataFrame(rows)
