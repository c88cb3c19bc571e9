#!/usr/bin/env python
"""Write configs/costs.yaml: measured seconds per architecture of each proxy, from result CSVs.

The median of the ``seconds`` column over ``ok`` rows, per device kind (cpu / cuda), as recorded by
`nasprox score` (one intra-op thread per process unless the provenance says otherwise). These numbers
feed the cost estimates of `nasprox reproduce --list`.

  python scripts/measure_costs.py results/reproduction/nats-tss_cifar10.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

COSTS = Path(__file__).resolve().parents[1] / "configs" / "costs.yaml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=COSTS)
    args = ap.parse_args()
    rows = pd.concat([pd.read_csv(p) for p in args.results], ignore_index=True)
    rows = rows[rows["status"] == "ok"]
    kind = rows["device"].astype(str).str.split(":").str[0]
    doc = {
        "version": 1,
        "source": f"median seconds of ok rows in {', '.join(str(p) for p in args.results)} "
        f"({len(rows)} rows; spaces {', '.join(sorted(rows['space'].unique()))})",
    }
    for device in ("cpu", "cuda"):
        sub = rows[kind == device]
        doc[f"{'cpu' if device == 'cpu' else 'gpu'}_seconds_per_arch"] = {
            str(p): round(float(s), 4) for p, s in sub.groupby("proxy")["seconds"].median().sort_index().items()
        }
    if not doc["gpu_seconds_per_arch"]:
        doc["gpu_note"] = "not measured yet (no GPU was lent); scripts/gpu_check.sh measures it"
    args.out.write_text(
        "# Written by scripts/measure_costs.py; do not edit by hand.\n" + yaml.safe_dump(doc, sort_keys=False)
    )
    print(yaml.safe_dump(doc, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
