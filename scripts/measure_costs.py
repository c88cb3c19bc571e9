#!/usr/bin/env python
"""Write configs/costs.yaml: measured seconds per architecture of each proxy in each space, from result CSVs.

The median of the ``seconds`` column over ``ok`` rows, per device kind (cpu / cuda) and per (space, proxy),
as recorded by `nasprox score` (one intra-op thread per process unless the provenance says otherwise);
datasets of a space are pooled. Beside each median the file keeps how many rows it comes from and the batch
sizes seen, so a reader can judge it. Rows without a timing (proxy_version 'naslib': scores imported from
NASLib) are skipped. These numbers feed the cost estimates of `nasprox reproduce --list`, which never applies
one space's timing to another.

  python scripts/measure_costs.py results/reproduction/*.csv results/cpu_subset/*/*.csv
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd
import yaml

COSTS = Path(__file__).resolve().parents[1] / "configs" / "costs.yaml"
COLUMNS = {"space", "proxy", "proxy_version", "status", "seconds", "batch_size", "device"}


class _Flow(list):
    """A list written inline ([1, 64]) by the dumper below."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def read_rows(path: Path) -> pd.DataFrame:
    """A result CSV; a last line still being appended by a running job (no newline yet) is left out."""
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    return pd.read_csv(io.StringIO(text))


def nested(series: pd.Series, value) -> dict[str, dict[str, object]]:
    """{space: {proxy: value(x)}} from a Series indexed by (space, proxy)."""
    out: dict[str, dict[str, object]] = {}
    for (space, proxy), x in sorted(zip(series.index.tolist(), series.tolist())):
        out.setdefault(str(space), {})[str(proxy)] = value(x)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=COSTS)
    args = ap.parse_args()
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
        "version": 2,
        "source": f"median seconds of ok rows in {', '.join(str(p) for p in used)} "
        f"({len(rows)} rows; spaces {', '.join(sorted(rows['space'].astype(str).unique()))}; "
        "datasets of a space pooled)",
    }
    for device, label in (("cpu", "cpu"), ("cuda", "gpu")):
        groups = rows[kind == device].groupby(["space", "proxy"])
        doc[f"{label}_seconds_per_arch"] = nested(groups["seconds"].median(), lambda s: round(float(s), 4))
        doc[f"{label}_rows"] = nested(groups.size(), int)
        doc[f"{label}_batch_sizes"] = nested(
            groups["batch_size"].agg(lambda b: sorted({int(x) for x in b.dropna()})), _Flow
        )
    if not doc["gpu_seconds_per_arch"]:
        doc["gpu_note"] = "not measured yet (no GPU was lent); scripts/gpu_check.sh measures it"
    args.out.write_text(
        "# Written by scripts/measure_costs.py; do not edit by hand.\n"
        "# <kind>_seconds_per_arch: {space: {proxy: median s/arch}}; <kind>_rows: rows behind each median;\n"
        "# <kind>_batch_sizes: batch sizes of those rows.\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
    )
    print(yaml.dump(doc, Dumper=_Dumper, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
