#!/usr/bin/env python
"""#params and FLOPs on all 4,096 TransNAS-Bench-101-Micro cells, from a scored sample, against two targets.

NEAR Table 9 correlates #params and FLOPs with each task's metric over all 4,096 micro cells; the committed
run scored a seeded 1,000-cell sample first. A micro cell's parameter count and its FLOPs are additive over
its six edges (each edge's op adds a fixed amount), so a least-squares fit of the scored values on one-hot
(edge, op) features is exact (the script prints the largest relative residual) and gives the value of every
cell (rounded to the 6 decimals the scores are written with, and checked equal to every scored value).
The script prints Spearman/Kendall on the whole population and on the scored cells, per task and proxy,
against each target:

* ``last_val``: NASLib's last-epoch validation metric (``tnb101_micro_valmetric_zen.csv``, the space's default);
* ``best_val`` / ``best_test``: the TransNAS API's default (``mode='best'``, the maximum over epochs) validation /
  test metric (``tnb101_micro_best_epoch_metrics.csv``), the task's metric as NASLib names it (top-1, negative
  loss, pixel accuracy, SSIM); for segmentsemantic also the best-epoch mIoU.

  python scripts/transnas_params_population.py results/reproduction
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

REPO = Path(__file__).resolve().parents[1]
METRIC = {
    "class_object": "top1",
    "class_scene": "top1",
    "jigsaw": "top1",
    "room_layout": "neg_loss",
    "segmentsemantic": "acc",
    "normal": "ssim",
    "autoencoder": "ssim",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="folder with transnas-micro_<task>.csv result files")
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("NASPROX_SHARED_DATA", REPO.parent / "shared" / "data"))
    )
    args = ap.parse_args()
    truth = pd.read_csv(args.data / "transnas" / "tnb101_micro_valmetric_zen.csv")
    best = pd.read_csv(args.data / "transnas" / "tnb101_micro_best_epoch_metrics.csv")
    if not (truth["tnb_arch_str"] == best["tnb_arch_str"]).all():
        raise SystemExit("the two TransNAS files do not list the cells in the same order")
    ops = truth["op_indices"].str.strip("()").str.split(",", expand=True).astype(int).to_numpy()
    one_hot = [np.ones((len(ops), 1))] + [(ops[:, [e]] == k).astype(float) for e in range(6) for k in (1, 2, 3)]
    features = np.concatenate(one_hot, axis=1)
    index = pd.Index(truth["tnb_arch_str"])
    print("task | proxy | scored | max rel. residual | target | rho / tau all 4,096 | rho / tau scored")
    for task, metric in METRIC.items():
        path = args.results / f"transnas-micro_{task}.csv"
        if not path.is_file():
            continue
        rows = pd.read_csv(path)
        targets = {
            "last_val": truth[f"val_{task}"],
            "best_val": best[f"{task}.valid_{metric}"],
            "best_test": best[f"{task}.test_{metric}"],
        }
        if task == "segmentsemantic":
            targets["best_test_mIoU"] = best[f"{task}.test_mIoU"]
        for proxy in ("params", "flops"):
            scored = rows[(rows["proxy"] == proxy) & (rows["status"] == "ok")]
            if scored.empty:
                continue
            at = index.get_indexer(scored["arch"])
            values = scored["score"].to_numpy()
            coef, *_ = np.linalg.lstsq(features[at], values, rcond=None)
            residual = float(np.abs(features[at] @ coef - values).max() / np.abs(values).max())
            # the scores are written to 6 decimals (millions): round the fit alike, so cells with the same ops tie
            # exactly as their scored values do (float noise would break those ties at random and move rho / tau)
            population = np.round(features @ coef, 6)
            if not np.array_equal(population[at], np.round(values, 6)):
                raise SystemExit(f"{task}/{proxy}: the additive fit does not give back every scored value")
            sample = np.zeros(len(truth), dtype=bool)
            sample[at] = True
            for name, target in targets.items():
                y = target.to_numpy(dtype=float)
                print(
                    f"{task} | {proxy} | {len(scored)} | {residual:.1e} | {name} | "
                    f"{spearmanr(population, y).statistic:.3f} / {kendalltau(population, y).statistic:.3f} | "
                    f"{spearmanr(population[sample], y[sample]).statistic:.3f} / "
                    f"{kendalltau(population[sample], y[sample]).statistic:.3f}"
                )


if __name__ == "__main__":
    main()
