#!/usr/bin/env python
"""Write configs/costs.yaml: measured seconds per architecture of each proxy in each space, from result CSVs.

The median of the ``seconds`` column over ``ok`` rows, per device kind (cpu / cuda) and per (space, proxy,
batch size), keyed ``proxy@batch=N``, as recorded by `nasprox score` (one intra-op thread per process unless
the provenance says otherwise); datasets of a space are pooled. A proxy's time at one batch is never taken
for another (snip on NB101: 16.4 s per cell at batch 256, 3.0 s at 64): an estimate names a batch never
measured. Beside each median the file keeps how many rows it comes from, so a reader can judge it. Rows
without a timing (proxy_version 'naslib': scores imported from NASLib) are skipped. A row's seconds time
the proxy alone; the engine also builds each network once per run and deep-copies it for every proxy that
may change it but the last. Both are timed here, on this machine's CPU with one thread, on architectures of
each space taken from the CSVs (`cpu_build_seconds_per_arch`, `cpu_copy_seconds_per_arch`): for #params and
FLOPs they are most of what an architecture costs. These numbers feed the cost estimates of `nasprox
reproduce --list` and `--dry-run`, which never apply one space's timing to another.

  python scripts/measure_costs.py results/reproduction/*.csv results/cpu_subset/*/*.csv \
      --arch-list nb101=build/suite_zero/nb101_suite_zero_archs.txt

A space whose CSV rows carry keys this machine cannot build from (an NB101 hash needs the benchmark file) takes
its architectures for the build/copy timing from ``--arch-list SPACE=FILE`` (one spec per line, the file
given to `nasprox reproduce --arch-list`).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nasprox.core import NasproxError, batch_setting_column
from nasprox.engine.selection import read_arch_list

COSTS = Path(__file__).resolve().parents[1] / "configs" / "costs.yaml"
COLUMNS = {"space", "proxy", "proxy_version", "status", "seconds", "batch_size", "device"}


def read_rows(path: Path) -> pd.DataFrame:
    """A result CSV; a last line still being appended by a running job (no newline yet) is left out."""
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return pd.read_csv(io.StringIO(text))


def nested(series: pd.Series, value) -> dict[str, dict[str, object]]:
    """{space: {key: value(x)}} from a Series indexed by (space, key)."""
    out: dict[str, dict[str, object]] = {}
    for (space, proxy), x in sorted(zip(series.index.tolist(), series.tolist())):
        out.setdefault(str(space), {})[str(proxy)] = value(x)
    return out


def build_and_copy_seconds(space: str, dataset: str, arch_keys: list[str], n_archs: int) -> tuple[float, float, int]:
    """Median seconds to build one network of ``space`` as the engine does (seeded, on the CPU in the run's memory format) and to deep-copy
    it (what each proxy that may change the network costs besides its own time), over up to ``n_archs`` of
    ``arch_keys``, one thread, the first (warm-up) not counted; and how many were timed. Raises NasproxError (or
    ValueError/KeyError) when the space cannot build them here, e.g. an NB101 hash without the benchmark file."""
    import copy

    import torch

    from nasprox.engine import RunConfig
    from nasprox.engine.runner import Scorer

    torch.set_num_threads(1)  # as `nasprox score` runs each process
    scorer = Scorer(RunConfig(space=space, dataset=dataset, proxies=["params"], synthetic=True, device="cpu"))
    builds, copies = [], []
    for key in arch_keys[: n_archs + 1]:
        arch = scorer.space.parse(key)
        start = time.perf_counter()
        model = scorer.build_on_device(arch)
        built = time.perf_counter()
        copy.deepcopy(model)
        builds.append(built - start)
        copies.append(time.perf_counter() - built)
    timed = slice(1, None) if len(builds) > 1 else slice(None)
    return float(np.median(builds[timed])), float(np.median(copies[timed])), len(builds[timed])


def measure_engine_costs(
    rows: pd.DataFrame, n_archs: int, arch_lists: dict[str, list[str]] | None = None
) -> dict[str, dict[str, float | int]]:
    """{cpu_build_seconds_per_arch / cpu_copy_seconds_per_arch / cpu_build_archs: {space: value}} for each space of
    ``rows``, timed on the architectures of its most common dataset (or of ``arch_lists[space]``) in a seeded
    order. A space that cannot build them here is named on stderr and left out."""

    out: dict[str, dict[str, float | int]] = {
        "cpu_build_seconds_per_arch": {},
        "cpu_copy_seconds_per_arch": {},
        "cpu_build_archs": {},
    }
    for space, of_space in rows.groupby("space"):
        dataset = str(of_space["dataset"].value_counts().index[0])
        listed = (arch_lists or {}).get(str(space))
        keys = pd.Series(listed) if listed else of_space.loc[of_space["dataset"] == dataset, "arch"].astype(str)
        keys = keys.drop_duplicates().sample(frac=1.0, random_state=0).tolist()
        try:
            build, deep_copy, timed = build_and_copy_seconds(str(space), dataset, keys, n_archs)
        except (NasproxError, ValueError, KeyError) as err:
            print(f"no build/copy timing for {space}: {str(err).splitlines()[0]}", file=sys.stderr)
            continue
        out["cpu_build_seconds_per_arch"][str(space)] = round(build, 4)
        out["cpu_copy_seconds_per_arch"][str(space)] = round(deep_copy, 4)
        out["cpu_build_archs"][str(space)] = timed
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=COSTS)
    ap.add_argument(
        "--build-archs",
        type=int,
        default=30,
        help="architectures per space whose build and deep copy are timed (0: do not time them)",
    )
    ap.add_argument(
        "--arch-list",
        action="append",
        default=[],
        metavar="SPACE=FILE",
        help="architecture specs (one per line) to time a space's build and copy on, for a space whose rows "
        "carry keys this machine cannot build (NB101 hashes without the benchmark file)",
    )
    args = ap.parse_args()
    arch_lists: dict[str, list[str]] = {}
    for item in args.arch_list:
        space, sep, file = item.partition("=")
        if not sep or not space or not file:
            ap.error(f"--arch-list takes SPACE=FILE, got {item!r}")
        try:  # the reader of `nasprox reproduce --arch-list`: the same file, read the same way
            arch_lists[space] = read_arch_list(Path(file))
        except NasproxError as err:
            ap.error(str(err))
    tables, used = [], []
    for path in args.results:
        table = read_rows(path)
        if not COLUMNS <= set(table.columns):  # e.g. a report CSV caught by a shell glob
            lacks = ", ".join(sorted(COLUMNS - set(table.columns)))
            print(f"skipping {path}: not a result CSV (lacks {lacks})", file=sys.stderr)
            continue
        # NASLib imports (proxy_version 'naslib') carry scores but no timing
        table = table[(table["status"] == "ok") & (table["proxy_version"].astype(str) != "naslib")]
        table = table[pd.to_numeric(table["seconds"], errors="coerce").notna()]
        if table.empty:
            print(f"skipping {path}: no timed ok rows", file=sys.stderr)
            continue
        tables.append(table)
        used.append(path)
    if not tables:
        ap.error("none of the CSVs has timed ok rows of `nasprox score`")
    rows = pd.concat(tables, ignore_index=True)
    rows["seconds"] = rows["seconds"].astype(float)
    kind = rows["device"].astype(str).str.split(":").str[0]
    doc: dict[str, object] = {
        "version": 3,
        "source": f"median seconds of ok rows in {', '.join(str(p) for p in used)} "
        f"({len(rows)} rows; spaces {', '.join(sorted(rows['space'].astype(str).unique()))}; "
        "datasets of a space pooled)",
    }
    batch = pd.to_numeric(rows["batch_size"], errors="coerce")
    rows["timed_as"] = [
        batch_setting_column(p, b) if np.isfinite(b) else p for p, b in zip(rows["proxy"].astype(str), batch)
    ]
    for device, label in (("cpu", "cpu"), ("cuda", "gpu")):
        groups = rows[kind == device].groupby(["space", "timed_as"])
        doc[f"{label}_seconds_per_arch"] = nested(groups["seconds"].median(), lambda s: round(float(s), 4))
        doc[f"{label}_rows"] = nested(groups.size(), int)
    engine = measure_engine_costs(rows, args.build_archs, arch_lists) if args.build_archs > 0 else {}
    if any(engine.values()):
        doc.update(engine)
    if not doc["gpu_seconds_per_arch"]:
        doc["gpu_note"] = "not measured yet (no GPU was lent); scripts/gpu_check.sh measures it"
    args.out.write_text(
        "# Written by scripts/measure_costs.py; do not edit by hand.\n"
        "# <kind>_seconds_per_arch: {space: {proxy@batch=N: median s/arch}}; <kind>_rows: rows behind each median.\n"
        "# cpu_build_seconds_per_arch / cpu_copy_seconds_per_arch:\n"
        "# {space: median s to build one network / to deep-copy it}, timed here on cpu_build_archs networks.\n"
        + yaml.dump(doc, Dumper=yaml.SafeDumper, sort_keys=False)
    )
    print(yaml.dump(doc, Dumper=yaml.SafeDumper, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
