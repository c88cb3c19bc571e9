#!/usr/bin/env python
"""How much the choice of accuracy target moves a proxy's correlation (docs/reproduction.md, 'differs').

For every proxy of a NATS-TSS result CSV, Kendall tau and Spearman rho against (a) the 200-epoch test
accuracy (seed mean, the nasprox target) and (b) NASLib's validation accuracy of the same cells (one
seed, the NB201 'cifar10-valid' split that NASLib and Abdelfattah et al. 2021 correlate against), read
from ../shared/data/nb201/nb201_valacc_zen_naslib.zip. Prints both and the difference.

  python scripts/target_sensitivity.py results/reproduction/nats-tss_cifar10.csv

``--paper ID`` instead puts every published cell of that paper (configs/published) that the CSV can
compute beside ours twice, against each target, with 95% bootstrap CIs and the report's verdicts:

  python scripts/target_sensitivity.py results/reproduction/nats-tss_cifar10.csv --paper epsilon
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from nasprox.engine.protocol import load_protocols
from nasprox.report import compare_published, load_published
from nasprox.report.build import paper_comparison_context
from nasprox.report.published import merge_comparisons, ours_and_verdict
from nasprox.spaces.nats._nb201_codec import naslib_to_arch_string
from nasprox.stats import ResultTable, kendall_tau, load_results, spearman_rho

SHARED = Path(os.environ.get("NASPROX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def naslib_val_accuracy(dataset: str) -> dict[str, float]:
    """NB201 arch string -> NASLib val_accuracy for one dataset (all 15,625 cells)."""
    out: dict[str, float] = {}
    with zipfile.ZipFile(SHARED / "nb201" / "nb201_valacc_zen_naslib.zip") as z:
        for name in z.namelist():
            if f"--{dataset}--" not in name or not name.endswith(".json"):
                continue
            for item in json.loads(z.read(name) or b"[]"):
                out[naslib_to_arch_string(tuple(int(v) for v in str(item["arch"]).strip("()").split(",")))] = float(
                    item["val_accuracy"]
                )
    return out


def with_naslib_validation_target(table: ResultTable) -> ResultTable:
    """The same scores with gt_test_acc replaced by NASLib's validation accuracy of each cell."""
    frame = table.frame.copy()
    for dataset in frame["dataset"].unique():
        val = naslib_val_accuracy(dataset)
        rows = frame["dataset"] == dataset
        frame.loc[rows, "gt_test_acc"] = [val.get(a, np.nan) for a in frame.loc[rows, "arch"]]
    return dataclasses.replace(table, frame=frame)


def compare_paper(table: ResultTable, paper: str, bootstrap: int) -> None:
    """Every published cell of ``paper`` the table can compute: ours against test and validation accuracy."""
    entries = [e for e in load_published() if e.paper == paper]
    protocols = list(load_protocols().values())
    kwargs = dict(bootstrap=bootstrap, **paper_comparison_context(protocols))
    test = compare_published(entries, table, **kwargs)
    val = compare_published(entries, with_naslib_validation_target(table), **kwargs)
    both = merge_comparisons({"test": test, "val": val})
    print(
        "| table | kind | row | column | n | published | ours, test acc [CI] | verdict | ours, NASLib val acc [CI] | verdict |"
    )
    print("|" + "---|" * 11)
    for _, r in both.iterrows():
        cells = [ours_and_verdict(r, f"_{t}") for t in ("test", "val")]
        print(
            f"| {r['table']} | {r['kind']} | {r['row']} | {r['column']} | {r['n_used_test']} | {r['published']:g} | "
            + " | ".join(cells)
            + " |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--paper", help="compare every published cell of this paper (e.g. epsilon) under both targets")
    ap.add_argument("--bootstrap", type=int, default=1000, help="resamples of the 95%% CIs (with --paper)")
    args = ap.parse_args()
    table = load_results([args.results])
    if args.paper:
        compare_paper(table, args.paper, args.bootstrap)
        return 0
    for space, dataset, sub, proxies in table.groups():
        val = naslib_val_accuracy(dataset)
        valid = np.array([val.get(a, np.nan) for a in sub["arch"]])
        test = sub["gt_test_acc"].to_numpy(float)
        print(f"### {space}/{dataset}: {len(sub)} cells; tau(test, NASLib val) = {kendall_tau(test, valid):.3f}\n")
        print("| proxy | n | tau test | tau val | rho test | rho val | rho val - rho test |")
        print("|---|---|---|---|---|---|---|")
        for p in proxies:
            s = sub[p].to_numpy(float)
            n = int(np.isfinite(s).sum())
            tt, tv, rt, rv = kendall_tau(s, test), kendall_tau(s, valid), spearman_rho(s, test), spearman_rho(s, valid)
            print(f"| {p} | {n} | {tt:.3f} | {tv:.3f} | {rt:.3f} | {rv:.3f} | {rv - rt:+.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
