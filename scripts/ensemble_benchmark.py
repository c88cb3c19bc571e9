"""Training-free ensembles vs the best single proxy on a result CSV (the tables of docs/ensembles.md).

For every (space, dataset) of the CSV(s):

1. every single proxy and every aggregate (rank-mean, geo-mean, log-rank, borda) of each member set
   (``--set``, repeatable; ``all`` = every proxy with a registry direction) on all archs that have
   every member: Kendall, Spearman, nDCG@10, Precision@10;
2. greedy selection (``--greedy-seeds`` seeded splits of ``--select-labels`` labelled archs,
   aggregated with rank-mean): held-out Spearman mean +- std, next to the best single proxy chosen
   on the same labelled archs and the all-directed rank-mean, both on the same held-out archs.

It calls the package (``nasprox.predict``), the same code as ``nasprox ensemble``; run from the
repository root, e.g.

    python scripts/ensemble_benchmark.py results/cpu_subset/near_table1/nats-tss_cifar10.csv \
        --set near,meco,zico,synflow --set all --greedy-seeds 10 --select-labels 30
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from nasprox.predict.aggregate import METHODS, aggregate, greedy_select
from nasprox.predict.ensemble import default_proxies, proxy_sign
from nasprox.report.tables import render
from nasprox.stats import (
    default_target,
    kendall_tau,
    load_results,
    ndcg_at_k,
    precision_at_t,
    select_population,
    spearman_rho,
    target_values,
)


def metrics(score, gt) -> dict:
    return {
        "kendall": kendall_tau(score, gt),
        "spearman": spearman_rho(score, gt),
        "ndcg_at_10": ndcg_at_k(score, gt, 10),
        "precision_at_10": precision_at_t(score, gt, 10),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--set", action="append", default=[], help="member proxies, comma-separated, or 'all'")
    parser.add_argument("--target", default=None)
    parser.add_argument("--population", default="all")
    parser.add_argument("--greedy-seeds", type=int, default=10)
    parser.add_argument("--select-labels", type=int, default=50)
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="also the best subset chosen with ALL labels (an upper bound that peeks at the "
        "evaluation labels, not a valid estimate)",
    )
    args = parser.parse_args(argv)
    table, pop = select_population(load_results(args.results), args.population)
    for space, dataset, sub, present in table.groups():
        tgt = args.target or default_target(space)
        gt = target_values(sub, space, tgt)
        directed, _ = default_proxies([p for p in present if not p.startswith("ensemble:")], {})
        rows = []
        for proxy in present:
            rows.append(
                {
                    "proxy / aggregate": proxy,
                    "members": 1,
                    **metrics(sub[proxy].to_numpy(float), gt),
                    "n": int(np.isfinite(sub[proxy].to_numpy(float)).sum()),
                }
            )
        for spec in args.set or ["all"]:
            members = directed if spec == "all" else spec.split(",")
            values = sub[members].to_numpy(float) * np.array([proxy_sign(m, {}) for m in members])
            ok = np.all(np.isfinite(values), axis=1)
            for method in METHODS:
                agg = np.full(len(sub), np.nan)
                agg[ok] = aggregate(values[ok], method)
                label = f"{method}({'+'.join(members) if spec != 'all' else f'all {len(members)} directed'})"
                rows.append(
                    {"proxy / aggregate": label, "members": len(members), **metrics(agg, gt), "n": int(ok.sum())}
                )
        frame = pd.DataFrame(rows)
        print(f"### {space}/{dataset}: target {tgt}; population {pop.label(space, dataset)}\n")
        print(render(frame, "md"))

        # greedy on labelled splits, evaluated on the held-out archs
        values = sub[directed].to_numpy(float) * np.array([proxy_sign(m, {}) for m in directed])
        eligible = np.flatnonzero(np.all(np.isfinite(values), axis=1) & np.isfinite(gt))
        out = []
        for seed in range(args.greedy_seeds):
            rng = np.random.default_rng(seed)
            labelled = np.sort(rng.choice(eligible, size=args.select_labels, replace=False))
            held = np.setdiff1d(eligible, labelled)
            assert not np.intersect1d(labelled, held).size
            sel = greedy_select(values, gt, labelled)
            greedy = aggregate(values[held][:, list(sel.chosen)], "rank-mean")
            best = max(range(len(directed)), key=lambda j: spearman_rho(values[labelled, j], gt[labelled]))
            out.append(
                {
                    "seed": seed,
                    "chosen": "+".join(directed[j] for j in sel.chosen),
                    "greedy": spearman_rho(greedy, gt[held]),
                    "best_single_on_labels": spearman_rho(values[held, best], gt[held]),
                    "best_single": directed[best],
                    "rank_mean_all": spearman_rho(aggregate(values[held], "rank-mean"), gt[held]),
                }
            )
        g = pd.DataFrame(out)
        print(
            f"greedy rank-mean, {args.greedy_seeds} seeds x {args.select_labels} labelled archs "
            f"(held-out {len(eligible) - args.select_labels}): Spearman on held-out"
        )
        for col in ("greedy", "best_single_on_labels", "rank_mean_all"):
            print(f"  {col}: {g[col].mean():.3f} +- {g[col].std(ddof=1):.3f}")
        print("  subsets chosen: " + "; ".join(f"{k} x{v}" for k, v in g["chosen"].value_counts().items()))
        if args.oracle:
            from itertools import combinations

            ok = np.all(np.isfinite(values), axis=1) & np.isfinite(gt)
            best = (-1.0, ())
            for size in range(2, len(directed) + 1):
                for cols in combinations(range(len(directed)), size):
                    rho = spearman_rho(aggregate(values[ok][:, list(cols)], "rank-mean"), gt[ok])
                    best = max(best, (rho, cols))
            print(
                f"  oracle subset (rank-mean, chosen on all {int(ok.sum())} labels; upper bound, not an estimate): "
                f"{'+'.join(directed[j] for j in best[1])} rho {best[0]:.3f}"
            )
        print()


if __name__ == "__main__":
    main()
