#!/usr/bin/env python
"""Published cells beside ours and beside NASLib's own values on the same cells (docs/reproduction.md).

A control for cells scored on a sample that is not the paper's population (the NAS-Bench-Suite-Zero NB101
cells): NAS-Bench-Suite-Zero ships NASLib's own proxy values for its cells, computed by another code base.
Where NASLib's value and ours agree with each other and both differ from the paper, the difference lies
in the cells and the target, not in our proxy; where ours alone differs, it is ours to explain.

  python scripts/suite_zero_nb101.py --out-dir build/suite_zero
  python scripts/naslib_control.py results/reproduction/nb101_cifar10.csv build/suite_zero/nb101_suite_zero_naslib.csv \
      --ground-truth nb101=build/suite_zero/nb101_suite_zero_gt.csv --stand-in test_acc=valid_acc

Every published cell (configs/published) whose proxy both tables scored is printed with the report's
verdict for each (NASLib's computed on the cells ours scored for that cell) and whether NASLib's value lies
inside our 95% bootstrap CI; the last lines count the cells where both differ from the paper and agree with
each other.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

from nasprox.core import NasproxError, parse_key_values, proxy_of_column
from nasprox.engine.protocol import load_protocols
from nasprox.report import compare_published, load_published
from nasprox.report.build import paper_comparison_context
from nasprox.report.published import merge_comparisons, ours_and_verdict
from nasprox.stats import ResultTable, load_results, parse_stand_ins, with_ground_truth


def load_table(path: Path, ground_truth: dict[str, Path], stand_ins: list[str]) -> ResultTable:
    table = with_ground_truth(load_results([path], keep_settings_apart=True), ground_truth)
    return table.with_stand_ins(parse_stand_ins(stand_ins))


def compare_both(ours: ResultTable, naslib: ResultTable, bootstrap: int) -> pd.DataFrame:
    """One row per published cell both tables can compute: the report's columns, suffixed _ours / _naslib.

    NASLib's side is computed on the cells ours scored in the column that published cell reads (a proxy scored
    at two batch sizes may cover two sets of cells: NB101 snip on all 292 at batch 64, on fewer at 256), so
    the two sides always rank the same cells.
    """
    context = paper_comparison_context(load_protocols().values())
    entries = load_published()
    mine = compare_published(entries, ours, bootstrap=bootstrap, **context)
    theirs = []
    for column, cells in mine.groupby("proxy"):
        tables = set(zip(cells["paper"], cells["table"], cells["space"], cells["dataset"]))
        chosen = [
            e
            for e in entries
            if (e.paper, e.table, e.space, e.dataset) in tables and e.proxy == proxy_of_column(str(column))
        ]
        scored = ours.frame.loc[ours.frame[column].notna(), ["space", "dataset", "arch"]]
        same_cells = naslib.frame.merge(scored, on=["space", "dataset", "arch"])
        theirs.append(
            compare_published(chosen, dataclasses.replace(naslib, frame=same_cells), bootstrap=bootstrap, **context)
        )
    # the NASLib CSV carries no batch size, so its columns are the bare proxy names
    mine["proxy"] = mine["proxy"].map(proxy_of_column)
    return merge_comparisons({"ours": mine, "naslib": pd.concat(theirs, ignore_index=True)})


def naslib_inside_our_ci(row: pd.Series) -> bool:
    return bool(row["ci_lo_ours"] <= row["ours_naslib"] <= row["ci_hi_ours"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours", type=Path, help="a nasprox result CSV")
    ap.add_argument("naslib", type=Path, help="NASLib's values of the same cells as a result CSV")
    ap.add_argument("--ground-truth", action="append", default=[], metavar="SPACE=CSV")
    ap.add_argument("--stand-in", action="append", default=[], metavar="TARGET=FIELD")
    ap.add_argument("--bootstrap", type=int, default=1000, help="resamples of the 95%% CIs")
    args = ap.parse_args()
    try:
        files = {
            space: Path(path)
            for space, path in parse_key_values(args.ground_truth, "--ground-truth", form="SPACE=CSV").items()
        }
    except NasproxError as err:
        ap.error(str(err))
    both = compare_both(
        load_table(args.ours, files, args.stand_in),
        load_table(args.naslib, files, args.stand_in),
        args.bootstrap,
    )
    both = both[both["verdict_ours"].isin(["agrees", "differs"]) & both["verdict_naslib"].isin(["agrees", "differs"])]
    print(
        "| paper | table | row | column | n | published | ours [CI] | verdict | NASLib's [CI] | verdict | NASLib in our CI |"
    )
    print("|" + "---|" * 11)
    for _, r in both.iterrows():
        cells = [ours_and_verdict(r, f"_{t}") for t in ("ours", "naslib")]
        print(
            f"| {r['paper']} | {r['table']} | {r['row']} | {r['column']} | {r['n_used_ours']} | {r['published']:g} | "
            + " | ".join(cells)
            + f" | {'yes' if naslib_inside_our_ci(r) else 'no'} |"
        )
    differ = both[(both["verdict_ours"] == "differs")]
    shared = differ[(differ["verdict_naslib"] == "differs") & differ.apply(naslib_inside_our_ci, axis=1)]
    print(
        f"\n{len(differ)} of {len(both)} cells differ from the paper with our values; in {len(shared)} of them "
        "NASLib's own values differ too and lie inside our CI (the cells and target, not our proxy):"
    )
    for _, r in shared.iterrows():
        print(f"  {r['paper']} {r['table']} {r['proxy']} {r['metric']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
