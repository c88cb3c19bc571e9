#!/usr/bin/env python
"""NAS-Bench-101's population of cells, enumerated, beside the 292 NAS-Bench-Suite-Zero cells nasprox scores.

NB101 has no file here of its 423,624 cells (the tfrecord is not in the shared data), but the space is
defined by rules: every DAG of up to 7 vertices and 9 edges whose vertices all lie on an input->output path,
each interior vertex one of three ops, two cells the same when their module hashes are (NB101's
``generate_graphs.py``). This enumerates it with nasprox's own module hash (tests/test_space_nb101.py checks
it against NB101's published hashes): the unlabelled graphs first, then every labelling of one graph of each
class, which is the same set of cells. Labellings are told apart by their hash only on the 398 of 2,494 graphs
with a symmetry (a non-identity permutation of interior vertices mapping the graph onto itself): on the others
every labelling is a cell of its own. The total is checked against the 423,624 the benchmark reports, and
the population's make-up (cells by vertex count; cells of conv1x1 ops only; cells without a conv3x3) is
printed beside the Suite-Zero sample's. docs/reproduction.md item 13 uses it; ~25 s on one core (86 s when
every labelling was hashed, with the same counts).

  python scripts/suite_zero_nb101.py --out-dir build/suite_zero
  python scripts/nb101_population.py build/suite_zero/nb101_suite_zero_archs.txt

With ``--results``, every published NB101 cell of ``--paper`` that the CSV can compute is then shown on the
whole sample and on the sample without its conv1x1-only cells (the report's CIs and verdicts), the kind of
cell the sample holds ten times more of than NB101 does:

  python scripts/nb101_population.py build/suite_zero/nb101_suite_zero_archs.txt --paper near \
      --results results/reproduction/nb101_cifar10.csv \
      --ground-truth nb101=build/suite_zero/nb101_suite_zero_gt.csv --stand-in test_acc=valid_acc
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nasprox.core import NasproxError, parse_key_values
from nasprox.engine.protocol import load_protocols
from nasprox.report import compare_published, load_published
from nasprox.report.build import paper_comparison_context
from nasprox.report.published import merge_comparisons, ours_and_verdict
from nasprox.spaces.nb101._nb101_graph import (
    AVAILABLE_OPS,
    CONV1X1,
    CONV3X3,
    MAX_EDGES,
    MAX_VERTICES,
    hash_module,
    parse_spec,
)
from nasprox.stats import ResultTable, load_results, parse_stand_ins, with_ground_truth
from nasprox.stats.results import target_column

NB101_UNIQUE_CELLS = 423_624  # Ying et al. 2019, "NAS-Bench-101", Section 2.2
INPUT_LABEL, OUTPUT_LABEL = -1, -2  # generate_graphs.py's labels of the input and output vertices


def full_dags(vertices: int) -> Iterator[list[list[int]]]:
    """Upper-triangular 0/1 matrices of at most MAX_EDGES edges in which only the input has no in-edge and only
    the output no out-edge (``graph_util.is_full_dag``): every vertex on an input->output path."""
    pairs = [(i, j) for i in range(vertices) for j in range(i + 1, vertices)]
    for bits in range(1 << len(pairs)):
        if bits.bit_count() > MAX_EDGES:
            continue
        matrix = [[0] * vertices for _ in range(vertices)]
        for k, (i, j) in enumerate(pairs):
            if bits >> k & 1:
                matrix[i][j] = 1
        has_out = all(any(row) for row in matrix[:-1])
        has_in = all(any(matrix[i][j] for i in range(j)) for j in range(1, vertices))
        if has_out and has_in:
            yield matrix


def graph_classes(vertices: int) -> list[list[list[int]]]:
    """One matrix per isomorphism class of full DAGs with ``vertices`` vertices (hash with one label for all)."""
    uniform = [INPUT_LABEL] + [0] * (vertices - 2) + [OUTPUT_LABEL]
    classes: dict[str, list[list[int]]] = {}
    for matrix in full_dags(vertices):
        classes.setdefault(hash_module(matrix, uniform), matrix)
    return list(classes.values())


def count_cell(counts: Counter, interior_ops: Sequence[str]) -> None:
    """Add one cell to ``counts``, keyed ``(vertices, kind)``: kind 'all', and 'conv1x1 only' / 'no conv3x3' when
    its interior ops are so."""
    vertices = len(interior_ops) + 2
    counts[vertices, "all"] += 1
    counts[vertices, "conv1x1 only"] += all(op == CONV1X1 for op in interior_ops)
    counts[vertices, "no conv3x3"] += CONV3X3 not in interior_ops


def has_symmetry(matrix: list[list[int]]) -> bool:
    """Whether some permutation of the interior vertices other than the identity maps the graph onto itself (the
    input and output vertices carry their own labels, so an isomorphism of labelled cells fixes them)."""
    adjacency = np.array(matrix)
    n = len(matrix)
    perms = np.array([[0, *p, n - 1] for p in itertools.permutations(range(1, n - 1))])[1:]  # [0] is the identity
    if not len(perms):
        return False
    mapped = adjacency[perms[:, :, None], perms[:, None, :]]
    return bool((mapped == adjacency).all(axis=(1, 2)).any())


def population() -> Counter:
    """Counts of NB101's unique cells by ``(vertices, kind)`` (``count_cell``)."""
    counts: Counter = Counter()
    for vertices in range(2, MAX_VERTICES + 1):
        for matrix in graph_classes(vertices):
            labellings = itertools.product(range(len(AVAILABLE_OPS)), repeat=vertices - 2)
            if not has_symmetry(matrix):
                # two labellings of one graph are one cell only through a symmetry of the graph: without one, each
                # labelling is a cell of its own and hashing them could only repeat that (6 times fewer hashes)
                cells = list(labellings)
            else:
                by_hash: dict[str, tuple[int, ...]] = {}
                for labels in labellings:
                    by_hash.setdefault(hash_module(matrix, [INPUT_LABEL, *labels, OUTPUT_LABEL]), labels)
                cells = list(by_hash.values())
            # isomorphic labellings share their multiset of labels, so each cell's kind is that of any labelling
            for labels in cells:
                count_cell(counts, [AVAILABLE_OPS[label] for label in labels])
    return counts


def sample_counts(arch_list: Path) -> Counter:
    """Counts of the listed cells by ``(vertices, kind)`` (``count_cell``)."""
    counts: Counter = Counter()
    for spec in arch_list.read_text().split():
        count_cell(counts, parse_spec(spec).ops[1:-1])
    return counts


def total(counts: Counter, kind: str) -> int:
    return sum(n for (_, k), n in counts.items() if k == kind)


def conv1x1_only_cells(arch_list: Path) -> set[str]:
    """The module hashes (the keys of NB101 result rows) of the listed cells built of conv1x1 ops only."""
    cells = [parse_spec(spec) for spec in arch_list.read_text().split()]
    return {cell.module_hash() for cell in cells if all(op == CONV1X1 for op in cell.ops[1:-1])}


def without_conv1x1_only(table: ResultTable, arch_list: Path) -> ResultTable:
    """The table without the NB101 rows of the listed conv1x1-only cells."""
    drop, frame = conv1x1_only_cells(arch_list), table.frame
    return dataclasses.replace(table, frame=frame[(frame["space"] != "nb101") | ~frame["arch"].isin(drop)])


def compare_without_conv1x1_only(table: ResultTable, arch_list: Path, paper: str, bootstrap: int) -> pd.DataFrame:
    """Each published NB101 cell of ``paper``: the report's columns on the whole sample (suffix ``_all``) and
    without its conv1x1-only cells (suffix ``_cut``)."""
    context = paper_comparison_context(load_protocols().values())
    entries = [e for e in load_published() if e.paper == paper and e.space == "nb101" and not e.quoted]
    sides = {
        "all": compare_published(entries, table, bootstrap=bootstrap, **context),
        "cut": compare_published(entries, without_conv1x1_only(table, arch_list), bootstrap=bootstrap, **context),
    }
    return merge_comparisons(sides)


def percentiles_of_conv1x1_only(table: ResultTable, arch_list: Path, proxies: list[str]) -> dict[str, float]:
    """Mean percentile rank, within the NB101 sample, of its conv1x1-only cells: by the target and by each proxy."""
    (_, _, sub, _), *_ = [g for g in table.groups() if g[0] == "nb101"]
    target = target_column(table.target_for("nb101", sub))
    columns = [target, *(p for p in proxies if p in sub.columns)]
    ranks = sub[columns].rank(pct=True)[sub["arch"].isin(conv1x1_only_cells(arch_list))]
    return {("target " + target if c == target else c): float(ranks[c].mean()) for c in columns}


def print_comparison(both: pd.DataFrame) -> None:
    print(
        "| table | row | column | published | n | whole sample [CI] | verdict | n | no conv1x1-only cells [CI] | verdict |"
    )
    print("|" + "---|" * 10)
    for _, r in both.iterrows():
        sides = [f"{r[f'n_used_{s}']} | {ours_and_verdict(r, f'_{s}')}" for s in ("all", "cut")]
        print(f"| {r['table']} | {r['row']} | {r['column']} | {r['published']:g} | " + " | ".join(sides) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch_list", type=Path, help="the sample's cells, one spec per line (suite_zero_nb101.py)")
    ap.add_argument("--results", type=Path, action="append", default=[], help="nasprox result CSVs with NB101 rows")
    ap.add_argument("--paper", default="near", help="paper id in configs/published (with --results)")
    ap.add_argument("--ground-truth", action="append", default=[], metavar="SPACE=CSV")
    ap.add_argument("--stand-in", action="append", default=[], metavar="TARGET=FIELD")
    ap.add_argument("--bootstrap", type=int, default=1000, help="resamples of the 95%% CIs")
    args = ap.parse_args()
    sample = sample_counts(args.arch_list)
    space = population()
    cells = total(space, "all")
    print(f"NB101 cells enumerated: {cells:,} (the benchmark reports {NB101_UNIQUE_CELLS:,})")
    if cells != NB101_UNIQUE_CELLS:
        print("the enumeration does not reproduce the benchmark's count: the shares below are not NB101's")
        return 1
    n = total(sample, "all")
    print(f"| cells | NB101: n | share | sample: n | share (of {n}) |")
    print("|---|---|---|---|---|")
    rows: list[tuple[str, str, int | None]] = [(f"{v} vertices", "all", v) for v in range(2, MAX_VERTICES + 1)]
    rows += [("conv1x1 ops only", "conv1x1 only", None), ("no conv3x3", "no conv3x3", None)]
    for label, kind, vertices in rows:
        ours = total(sample, kind) if vertices is None else sample[vertices, kind]
        theirs = total(space, kind) if vertices is None else space[vertices, kind]
        print(f"| {label} | {theirs:,} | {theirs / cells:.2%} | {ours} | {ours / n:.2%} |")
    if args.results:
        try:
            truths = {
                k: Path(v) for k, v in parse_key_values(args.ground_truth, "--ground-truth", form="SPACE=CSV").items()
            }
            table = with_ground_truth(load_results(args.results, keep_settings_apart=True), truths)
            table = table.with_stand_ins(parse_stand_ins(args.stand_in))
        except NasproxError as err:
            ap.error(str(err))
        both = compare_without_conv1x1_only(table, args.arch_list, args.paper, args.bootstrap)
        proxies = sorted(set(both["proxy"]))
        ranks = percentiles_of_conv1x1_only(table, args.arch_list, proxies)
        print("\nmean percentile of the conv1x1-only cells: " + ", ".join(f"{k} {v:.2f}" for k, v in ranks.items()))
        print()
        print_comparison(both)
    return 0


if __name__ == "__main__":
    sys.exit(main())
