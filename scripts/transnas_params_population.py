#!/usr/bin/env python
"""#params vs the validation metric on all 4,096 TransNAS-Bench-101-Micro cells, from a scored sample.

NEAR Table 9 correlates #params with each task's metric over all 4,096 micro cells; the committed run
scores a seeded 1,000-cell sample. A micro cell's parameter count is additive over its six edges (each
edge's op adds a fixed count), so a least-squares fit of the sampled counts on one-hot (edge, op) features
is exact (the script prints the largest residual) and gives the count of every cell. The script then
prints Spearman/Kendall on the whole population and on the sample, per task, so a gap to the paper can be
told apart from sampling noise.

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
TASKS = ("class_object", "class_scene", "jigsaw", "room_layout", "segmentsemantic", "normal", "autoencoder")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="folder with transnas-micro_<task>.csv result files")
    ap.add_argument(
        "--data", type=Path, default=Path(os.environ.get("NASPROX_SHARED_DATA", REPO.parent / "shared" / "data"))
    )
    args = ap.parse_args()
    truth = pd.read_csv(args.data / "transnas" / "tnb101_micro_valmetric_zen.csv")
    ops = truth["op_indices"].str.strip("()").str.split(",", expand=True).astype(int).to_numpy()
    one_hot = [np.ones((len(ops), 1))] + [(ops[:, [e]] == k).astype(float) for e in range(6) for k in (1, 2, 3)]
    features = np.concatenate(one_hot, axis=1)
    index = pd.Index(truth["tnb_arch_str"])
    print("task | max residual (M) | cells | rho all | tau all | rho sample | tau sample")
    for task in TASKS:
        path = args.results / f"transnas-micro_{task}.csv"
        if not path.is_file():
            continue
        rows = pd.read_csv(path)
        rows = rows[(rows["proxy"] == "params") & (rows["status"] == "ok")]
        at = index.get_indexer(rows["arch"])
        coef, *_ = np.linalg.lstsq(features[at], rows["score"].to_numpy(), rcond=None)
        residual = float(np.abs(features[at] @ coef - rows["score"].to_numpy()).max())
        params = features @ coef
        metric = truth[f"val_{task}"].to_numpy()
        sample = np.zeros(len(truth), dtype=bool)
        sample[at] = True
        print(
            f"{task} | {residual:.1e} | {len(rows)} | {spearmanr(params, metric).statistic:.3f} | "
            f"{kendalltau(params, metric).statistic:.3f} | {spearmanr(params[sample], metric[sample]).statistic:.3f} | "
            f"{kendalltau(params[sample], metric[sample]).statistic:.3f}"
        )


if __name__ == "__main__":
    main()
