#!/usr/bin/env python
"""``nasprox ensemble``'s reasons for its undefined rows, before and after reading the members' statuses once.

An aggregate of proxies scored on a sample of a large population (AZ-NAS's components on the 1,000-cell
NATS-TSS CIFAR-10 sample, next to #params on all 15,625 cells) has an ``undefined`` row for every other cell,
each naming why. The reason used to be found by filtering the whole result table per undefined cell
(``filtered_reason`` below, kept as the baseline): 14,625 filters of ~85,000 rows, minutes. Now the members'
statuses are grouped once (``nasprox.predict.ensemble._member_statuses``) and each reason is a lookup. Both
on the same cells, reasons checked equal, seconds and the ratio; then the whole ``build_ensembles`` time:

  python scripts/bench_ensemble_reasons.py results/reproduction/nats-tss_cifar10.csv --recipe az_nas
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from nasprox.predict.ensemble import RECIPES, _member_statuses, _missing_reason, build_ensembles
from nasprox.stats import read_results


def filtered_reason(long: pd.DataFrame, space: str, dataset: str, arch: str, members: Sequence[str]) -> str:
    """The baseline: the rows of one cell filtered out of the whole table, then its members' statuses (worded by
    the same ``_missing_reason``)."""
    rows = long[(long["space"] == space) & (long["dataset"] == dataset) & (long["arch"] == arch)]
    return _missing_reason(_member_statuses(rows, members), space, dataset, arch, members)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv", type=Path)
    ap.add_argument("--recipe", default="az_nas", choices=sorted(RECIPES))
    ap.add_argument("--cells", type=int, default=2000, help="undefined cells the baseline is timed on")
    args = ap.parse_args()
    members = list(RECIPES[args.recipe].members)
    long = read_results([args.csv])
    complete = long[long["proxy"].isin(members)].groupby(["space", "dataset", "arch"])["proxy"].nunique()
    every = long[["space", "dataset", "arch"]].drop_duplicates()
    keys = [k for k in every.itertuples(index=False, name=None) if complete.get(k, 0) < len(members)]
    timed = keys[: args.cells]
    print(f"{args.csv}: {len(long):,} rows, {len(keys):,} cells missing a member of {args.recipe}; timing {len(timed)}")

    start = time.perf_counter()
    before = [filtered_reason(long, *key, members) for key in timed]
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    statuses_of = _member_statuses(long, members)
    after = [_missing_reason(statuses_of, *key, members) for key in timed]
    grouped = time.perf_counter() - start
    assert before == after, "the reasons differ"
    print(f"reasons for {len(timed)} cells: filtered per cell {baseline:.2f} s, grouped once {grouped:.3f} s")
    print(
        f"  ratio {baseline / grouped:.0f}x (all {len(keys):,} cells: ~{baseline * len(keys) / len(timed):.0f} s before)"
    )

    start = time.perf_counter()
    build_ensembles([args.csv], proxies=None, methods=[], recipe_name=args.recipe, only_ensemble=True)
    print(f"build_ensembles --recipe {args.recipe}: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
