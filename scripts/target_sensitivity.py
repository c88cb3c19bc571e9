#!/usr/bin/env python
"""How much the choice of accuracy target moves a proxy's correlation (docs/reproduction.md, 'differs').

For every proxy of a NATS-TSS result CSV, Kendall tau and Spearman rho against (a) the 200-epoch test
accuracy (seed mean, the nasprox target) and (b) NASLib's validation accuracy of the same cells (one
seed, the NB201 'cifar10-valid' split that NASLib and Abdelfattah et al. 2021 correlate against), read
from ../shared/data/nb201/nb201_valacc_zen_naslib.zip. Prints both and the difference.

  python scripts/target_sensitivity.py results/reproduction/nats-tss_cifar10.csv
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from nasprox.spaces.nats._nb201_codec import naslib_to_arch_string
from nasprox.stats import kendall_tau, load_results, spearman_rho

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    args = ap.parse_args()
    table = load_results([args.results])
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
