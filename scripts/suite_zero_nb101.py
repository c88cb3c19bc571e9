"""The 500 NAS-Bench-Suite-Zero NB101 cells as nasprox inputs: an arch list and a ground-truth CSV.

Reads ``naslib_suite_zero/zc_nasbench101.json`` under the shared data folder (``../shared/data`` or
``$NASPROX_SHARED_DATA``) and writes, under ``--out-dir``:

* ``nb101_suite_zero_archs.txt``: one compact cell spec per line (``ROWS:OPS``, see ``nasprox spaces``) for
  ``--arch-list``. The 500 entries are unpruned NASLib specs; after pruning only 292 are distinct cells (one
  cell appears 55 times), so the list has 292 lines, in first-seen order;
* ``nb101_suite_zero_gt.csv``: ``arch,dataset,valid_acc,runs`` from NASLib's ``val_accuracy`` (percent).
  NASLib queries the NB101 API, which returns one of the three 108-epoch runs at random: the repeated
  entries of one cell show at most three distinct values. ``valid_acc`` is the mean of the distinct values
  seen (``runs`` of them), so it is validation accuracy over one to three runs, not the mean test accuracy
  the papers correlate against (docs/reproduction.md);
* ``nb101_suite_zero_naslib.csv``: NASLib's own proxy values for the same cells, as a nasprox result CSV
  (``proxy_version`` ``naslib``) to compare ours against.

The files are derived from the shared data, so they go to a build folder, not the repository:

    python scripts/suite_zero_nb101.py --out-dir build/suite_zero
    nasprox reproduce near-table3 --arch-list nb101=build/suite_zero/nb101_suite_zero_archs.txt \\
        --ground-truth nb101=build/suite_zero/nb101_suite_zero_gt.csv --stand-in test_acc=valid_acc ...
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from nasprox.core import PROXIES
from nasprox.spaces.nb101._nb101_graph import Cell, parse_spec
from nasprox.storage.csv_store import header_for

REPO = Path(__file__).resolve().parents[1]
ARCHS = "nb101_suite_zero_archs.txt"
GROUND_TRUTH = "nb101_suite_zero_gt.csv"
NASLIB = "nb101_suite_zero_naslib.csv"


def shared_data() -> Path:
    return Path(os.environ.get("NASPROX_SHARED_DATA", REPO.parent / "shared" / "data"))


def convert(data: Path, out_dir: Path) -> list[Path]:
    cells = json.loads((data / "naslib_suite_zero" / "zc_nasbench101.json").read_text())["nasbench101"]["cifar10"]
    by_hash: dict[str, list[tuple[Cell, dict]]] = {}
    for arch_tuple, values in cells.items():  # unpruned NASLib specs: isomorphic ones share a module hash
        cell = parse_spec(arch_tuple)
        by_hash.setdefault(cell.module_hash(), []).append((cell, values))
    specs, truth, naslib = [], [], []
    spreads = []  # between the distinct runs of each cell drawn more than once: how noisy one run's accuracy is
    for module_hash, group in by_hash.items():
        cell, first = group[0]
        specs.append(cell.compact())
        # each entry is one query of the NB101 API, which returns one of the three 108-epoch runs: the mean of the
        # distinct values seen is the mean over the runs drawn (all three for many of the repeated cells)
        runs = sorted({values["val_accuracy"] for _, values in group})
        if len(runs) > 1:
            spreads.append(runs[-1] - runs[0])
        truth.append(
            {"arch": cell.compact(), "dataset": "cifar10", "valid_acc": sum(runs) / len(runs), "runs": len(runs)}
        )
        for raw, score in first.items():  # NASLib's scores of the first entry (repeats differ by init noise)
            if raw == "val_accuracy":
                continue
            naslib.append(
                {
                    "space": "nb101",
                    "arch_index": -1,
                    "arch": module_hash,
                    "dataset": "cifar10",
                    "proxy": PROXIES.canonical(raw) if raw in PROXIES else raw,
                    "proxy_version": "naslib",
                    "seed": 0,
                    "data_config": "naslib-suite-zero",
                    "score": score,
                    "status": "ok",
                    "gt_valid_acc": truth[-1]["valid_acc"],
                }
            )
    print(f"{len(cells)} Suite-Zero NB101 entries, {len(by_hash)} unique cells (module hash)")
    print(f"{len(spreads)} cells show 2-3 runs; their runs differ by at most {max(spreads):.2f} points")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / ARCHS, out_dir / GROUND_TRUTH, out_dir / NASLIB]
    paths[0].write_text("\n".join(specs) + "\n")
    _write_csv(paths[1], ["arch", "dataset", "valid_acc", "runs"], truth)
    _write_csv(paths[2], header_for(["valid_acc"]), naslib)
    return paths


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "build" / "suite_zero")
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    args = parser.parse_args()
    for path in convert(args.data or shared_data(), args.out_dir):
        print(path)


if __name__ == "__main__":
    main()
