"""Combine shard CSVs into one, checking that nothing is duplicated or missing."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from nasprox.core import NasproxError, ResultKey
from nasprox.storage.csv_store import read_complete_rows
from nasprox.storage.provenance import read_provenance
from nasprox.storage.schema import KEY_COLUMNS, SCHEMA_VERSION


@dataclass
class MergeReport:
    rows: int = 0
    shards_seen: set[str] = field(default_factory=set)
    shard_count: int | None = None
    missing: list[tuple[str, str]] = field(default_factory=list)  # (arch, proxy)
    verified: bool = False  # completeness checked against the recorded selection


def read_result_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise NasproxError(f"result file {path} does not exist")
    rows, _, _ = read_complete_rows(path)  # a torn last line (killed run) is not a row
    if not rows or "proxy" not in rows[0] or "arch" not in rows[0]:
        raise NasproxError(f"{path} is not a nasprox result CSV (no header with arch/proxy columns)")
    header, body = rows[0], rows[1:]
    for n, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise NasproxError(f"{path}:{n} is malformed ({len(r)} fields, expected {len(header)})")
    return header, body


def merge_results(
    paths: list[Path], out: Path, expected: set[tuple[str, str]] | None = None, allow_missing: bool = False
) -> MergeReport:
    """Merge ``paths`` into ``out``; ``expected`` = the (arch, proxy) pairs the full run must contain.

    Nothing is written when rows are duplicated, or missing without ``allow_missing``.
    """
    if not paths:
        raise NasproxError("no input CSVs to merge")
    if out.resolve() in {p.resolve() for p in paths}:
        raise NasproxError(f"--out {out} is one of the inputs; write the merge to a new file")
    if out.is_dir():
        raise NasproxError(f"--out {out} is a directory; give a CSV file path")
    report = MergeReport()
    header: list[str] | None = None
    seen: dict[ResultKey, Path] = {}
    merged: list[list[str]] = []
    for path in paths:
        h, body = read_result_csv(path)
        if header is None:
            header = h
        elif h != header:
            raise NasproxError(f"{path} has other columns than {paths[0]}; shards must come from the same command")
        missing_cols = [c for c in KEY_COLUMNS if c not in h]
        if missing_cols:
            raise NasproxError(f"{path} lacks the key columns {missing_cols}; it is not a nasprox result CSV")
        for line_no, row in enumerate(body, start=2):
            try:
                key = ResultKey.from_row(dict(zip(h, row)))
            except ValueError:
                raise NasproxError(f"{path}:{line_no} has a non-integer arch_index or seed") from None
            if key in seen:
                raise NasproxError(
                    f"duplicate row for arch {row[h.index('arch')]} proxy {row[h.index('proxy')]} "
                    f"in {path} and {seen[key]}"
                )
            seen[key] = path
            merged.append(row)
        for run in read_provenance(path):
            report.shards_seen.add(str(run.get("shard", "0/1")))
    report.rows = len(merged)
    assert header is not None  # paths is non-empty, so the first file set it
    if expected is not None:
        a, p = header.index("arch"), header.index("proxy")
        have = {(r[a], r[p]) for r in merged}
        report.missing = sorted(expected - have)
        report.verified = True
        if report.missing and not allow_missing:
            sample = ", ".join(f"{arch}/{proxy}" for arch, proxy in report.missing[:3])
            raise NasproxError(
                f"{len(report.missing)} (arch, proxy) rows are missing, e.g. {sample} "
                "(rerun the shard commands to resume them, or pass --allow-missing)"
            )
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(merged)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise NasproxError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)  # never leave a stray temporary file behind
    runs = [dict(run, source_csv=str(p)) for p in paths for run in read_provenance(p)]
    Path(str(out) + ".provenance.json").write_text(
        json.dumps(
            {"schema_version": SCHEMA_VERSION, "merged_from": [str(p) for p in paths], "runs": runs},
            indent=1,
            default=str,
        )
    )
    return report
