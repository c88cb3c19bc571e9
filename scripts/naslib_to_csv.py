"""Convert NASLib's precomputed NB201 proxy values into nasprox result CSVs (one per dataset).

Sources (under the shared data folder, ``../shared/data`` or ``$NASPROX_SHARED_DATA``):

* ``suite-zero``: ``naslib_suite_zero/zc_nasbench201.json`` (NAS-Bench-Suite-Zero sample: 491
  archs x 3 datasets, 11 proxies: epe_nas fisher flops grad_norm grasp jacov l2_norm params plain
  snip synflow) -> ``<out-dir>/nb201_suite_zero_<dataset>.csv``.
* ``zen``: ``nb201/nb201_valacc_zen_naslib.zip`` (zen for all 15,625 cells x 3 datasets)
  -> ``<out-dir>/nb201_zen_<dataset>.csv``.

Ground truth: ``gt_valid_acc`` = NASLib's ``val_accuracy`` of that file; ``gt_test_acc`` = the
200-epoch NATS test accuracy from ``nb201/nb201_test_acc_200ep.csv`` (the nats-tss default target),
looked up through the nats-tss space. Proxy names are mapped to registry names (jacov ->
jacob_cov); ``proxy_version`` is ``naslib`` and ``data_config`` names the source, so these rows never
mix with nasprox-computed ones. Run from the repository root:

    python scripts/naslib_to_csv.py suite-zero --out-dir results/naslib
    python scripts/naslib_to_csv.py zen --out-dir results/naslib
"""

from __future__ import annotations

import argparse
import json
import math
import os
import zipfile
from pathlib import Path

import pandas as pd

from nasprox.core import PROXIES, SPACES
from nasprox.storage.csv_store import header_for

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def shared_data() -> Path:
    return Path(os.environ.get("NASPROX_SHARED_DATA", REPO.parent / "shared" / "data"))


def proxy_name(raw: str) -> str:
    return PROXIES.canonical(raw) if raw in PROXIES else raw


def records_suite_zero(data: Path):
    """(dataset, naslib tuple, {proxy: score}, {proxy: seconds}, val_accuracy) per arch."""
    suite = json.loads((data / "naslib_suite_zero" / "zc_nasbench201.json").read_text())["nasbench201"]
    for dataset, archs in suite.items():
        for arch, values in archs.items():
            scores = {k: v for k, v in values.items() if k != "val_accuracy"}
            yield dataset, arch, scores, {}, values.get("val_accuracy")


def records_zen(data: Path):
    with zipfile.ZipFile(data / "nb201" / "nb201_valacc_zen_naslib.zip") as zf:
        for member in sorted(zf.namelist()):
            if not member.endswith(".json"):
                continue
            dataset = member.split("--")[2]
            for rec in json.loads(zf.read(member)):
                yield (
                    dataset,
                    rec["arch"],
                    {"zen": rec["zen"]["score"]},
                    {"zen": rec["zen"].get("time")},
                    rec.get("val_accuracy"),
                )


def convert(source: str, data: Path, out_dir: Path, ground_truth: Path) -> list[Path]:
    space = SPACES.get("nats-tss")()
    space.configure(ground_truth=ground_truth)
    rows: dict[str, list[dict]] = {d: [] for d in DATASETS}
    seen: set[tuple] = set()
    records = records_suite_zero(data) if source == "suite-zero" else records_zen(data)
    for dataset, arch_tuple, scores, seconds, val_acc in records:
        ref = space.parse(arch_tuple)
        if (dataset, ref.key) in seen:
            continue  # the zen export repeats a few archs across its chunk files
        seen.add((dataset, ref.key))
        test_acc = space.ground_truth(ref, dataset).get("test_acc", math.nan)
        for raw, score in scores.items():
            finite = score is not None and math.isfinite(float(score))
            rows[dataset].append(
                {
                    "space": space.name,
                    "arch_index": ref.index,
                    "arch": ref.key,
                    "dataset": dataset,
                    "proxy": proxy_name(raw),
                    "proxy_version": "naslib",
                    "seed": 0,
                    "data_config": f"naslib-{source}",
                    "score": float(score) if finite else math.nan,
                    "status": "ok" if finite else "nonfinite",
                    "error": "" if finite else "non-finite value in the NASLib file",
                    "seconds": seconds.get(raw) if seconds.get(raw) is not None else "",
                    "peak_mem_mb": "",
                    "batch_size": "",
                    "device": "",
                    "gt_test_acc": test_acc,
                    "gt_valid_acc": float(val_acc) if val_acc is not None else math.nan,
                }
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    stem = "nb201_suite_zero" if source == "suite-zero" else "nb201_zen"
    for dataset, items in rows.items():
        if not items:
            continue
        frame = pd.DataFrame(items).reindex(columns=header_for(["test_acc", "valid_acc"]))
        frame = frame.sort_values(["arch_index", "proxy"], kind="stable")
        path = out_dir / f"{stem}_{dataset}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
        print(f"wrote {path}: {frame['arch'].nunique()} archs x {frame['proxy'].nunique()} proxies")
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=("suite-zero", "zen"))
    parser.add_argument("--out-dir", type=Path, default=REPO / "results" / "naslib")
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument(
        "--ground-truth",
        type=Path,
        default=None,
        help="NB201 test-accuracy CSV (default <data>/nb201/nb201_test_acc_200ep.csv)",
    )
    args = parser.parse_args(argv)
    data = args.data or shared_data()
    convert(args.source, data, args.out_dir, args.ground_truth or data / "nb201" / "nb201_test_acc_200ep.csv")


if __name__ == "__main__":
    main()
