"""A paper's stated findings, checked against our numbers (the zero-shot survey's claims about its figures).

A protocol may list ``findings``: a claim in the paper's words, where it is stated, and a rule that decides it
from the report's own tables. Each rule is evaluated per benchmark (space, dataset) the report covers; the
finding is *borne out* where it holds on every benchmark with data, *partly* where it holds on some, *not borne
out* where it holds on none, *undecided* where the intervals cannot tell on any benchmark, and *no data* where
no benchmark has what the rule needs. Every row carries its
evidence (the numbers the rule compared), so a reader can check the verdict without rerunning anything.

Rule kinds (``rule: {kind: ..., ...}``):

- ``beats_most``: each of ``proxies`` has a mean ``metric`` (kendall | spearman, over the scoring seeds, on the
  ``top`` fraction of cells) at least as high as more than half of the other proxies on that benchmark.
- ``collapses_on_top``: every proxy whose all-cells ``metric`` is at least ``min_all`` keeps less than
  ``ratio`` of it on the ``top`` fraction (e.g. top 5%: rho 0.80 -> 0.20 is a collapse at ratio 0.5), judged by
  the top fraction's 95% interval: *undecided* where it straddles the line.
- ``picks_better``: the architecture each of ``proxies`` ranks first has a ground truth at least as high as the
  one each of ``than`` ranks first (mean over seeds), on the cells every one of them scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nasprox.core import NasproxError, proxy_of_column

FINDING_KINDS = ("beats_most", "collapses_on_top", "picks_better")
UNDECIDED = "undecided"  # the numbers cannot tell (an interval across the rule's line)
METRICS = ("kendall", "spearman")
FINDINGS_COLUMNS = ["finding", "claim", "source", "benchmark", "holds", "evidence"]
VERDICT_COLUMNS = ["finding", "claim", "source", "verdict", "benchmarks", "held_on"]


@dataclass(frozen=True)
class Finding:
    id: str
    claim: str  # the paper's statement (or its paraphrase, said so in ``source``)
    source: str  # where the paper states it
    kind: str
    proxies: tuple[str, ...] = ()
    than: tuple[str, ...] = ()
    metric: str = "spearman"
    top: float = 1.0
    ratio: float = 0.5
    min_all: float = 0.2
    options: Mapping[str, Any] = field(default_factory=dict)


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise NasproxError(f"{where} must be a list of proxy names, got {value!r}")
    return tuple(value)


def _fraction(value: Any, where: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) <= 1:
        raise NasproxError(f"{where} must be a number in (0, 1], got {value!r}")
    return float(value)


def parse_findings(raw: Sequence[Any], where: str) -> tuple[Finding, ...]:
    """The ``findings`` list of a protocol, checked in full (run before scoring, so a typo costs no hours)."""
    findings = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        at = f"{where}: findings[{i}]"
        if not isinstance(item, Mapping):
            raise NasproxError(f"{at} must be a mapping with id, claim, source and rule")
        missing = [k for k in ("id", "claim", "source", "rule") if not item.get(k)]
        if missing:
            raise NasproxError(f"{at} lacks {', '.join(missing)}")
        fid = str(item["id"])
        if fid in seen:
            raise NasproxError(f"{at}: finding id {fid!r} is used twice")
        seen.add(fid)
        rule = item["rule"]
        if not isinstance(rule, Mapping) or rule.get("kind") not in FINDING_KINDS:
            raise NasproxError(f"{at}.rule.kind must be one of {', '.join(FINDING_KINDS)}, got {rule!r}")
        unknown = set(rule) - {"kind", "proxies", "than", "metric", "top", "ratio", "min_all"}
        if unknown:
            raise NasproxError(f"{at}.rule has unknown keys {sorted(unknown)}")
        metric = str(rule.get("metric", "spearman"))
        if metric not in METRICS:
            raise NasproxError(f"{at}.rule.metric must be one of {', '.join(METRICS)}, got {metric!r}")
        finding = Finding(
            fid,
            " ".join(str(item["claim"]).split()),
            " ".join(str(item["source"]).split()),
            str(rule["kind"]),
            _names(rule.get("proxies"), f"{at}.rule.proxies"),
            _names(rule.get("than"), f"{at}.rule.than"),
            metric,
            _fraction(rule.get("top"), f"{at}.rule.top", 0.05 if rule["kind"] == "collapses_on_top" else 1.0),
            _fraction(rule.get("ratio"), f"{at}.rule.ratio", 0.5),
            float(rule.get("min_all", 0.2)),
        )
        if finding.kind in ("beats_most", "picks_better") and not finding.proxies:
            raise NasproxError(f"{at}.rule.proxies is needed by kind {finding.kind}")
        if finding.kind == "picks_better" and not finding.than:
            raise NasproxError(f"{at}.rule.than is needed by kind picks_better")
        findings.append(finding)
    return tuple(findings)


def _at(summary: pd.DataFrame, top: float) -> pd.DataFrame:
    return summary[np.isclose(summary["top"].astype(float), top)]


def _beats_most(finding: Finding, rows: pd.DataFrame) -> tuple[bool | None, str]:
    values = dict(zip(rows["proxy"], rows[finding.metric].astype(float), strict=True))
    values = {p: v for p, v in values.items() if math.isfinite(v)}
    mine = [p for p in finding.proxies if p in values]
    others = [p for p in values if p not in finding.proxies]
    if not mine or not others:
        return None, "no data"
    parts, holds = [], True
    for proxy in mine:
        beaten = sum(values[proxy] >= values[o] for o in others)
        holds &= beaten > len(others) / 2
        parts.append(f"{proxy} {values[proxy]:.3f} >= {beaten} of {len(others)}")
    best = max(others, key=lambda p: values[p])
    return holds, "; ".join(parts) + f" (best other: {best} {values[best]:.3f})"


def _collapses(finding: Finding, all_rows: pd.DataFrame, top_rows: pd.DataFrame) -> tuple[bool | str | None, str]:
    """Decided with the top fraction's 95% interval (a 5% slice of 500 cells is 25 cells): a proxy collapses when
    the interval's upper end is below ``ratio`` x its all-cells value, keeps its ranking when the lower end is at or
    above it, and is undecided in between (or without an interval)."""
    m = finding.metric
    whole = dict(zip(all_rows["proxy"], all_rows[m].astype(float), strict=True))
    top = {
        p: (float(r[m]), float(r[f"{m}_lo"]), float(r[f"{m}_hi"])) for p, r in top_rows.set_index("proxy").iterrows()
    }
    judged = [p for p in whole if p in top and math.isfinite(whole[p]) and math.isfinite(top[p][0])]
    judged = [p for p in judged if whole[p] >= finding.min_all]
    if not judged:
        return None, "no data"
    kept = [p for p in judged if top[p][1] >= finding.ratio * whole[p]]
    collapsed = [p for p in judged if top[p][2] < finding.ratio * whole[p]]
    unclear = [p for p in judged if p not in kept and p not in collapsed]

    def shown(p: str) -> str:
        return f"{p} {whole[p]:.2f} -> {top[p][0]:.2f} [{top[p][1]:.2f}, {top[p][2]:.2f}]"

    parts = [f"{len(collapsed)} of {len(judged)} collapse below {finding.ratio:g} x their all-cells {m}"]
    if kept:
        parts.append(f"keep it: {', '.join(map(shown, kept))}")
    if unclear:
        parts.append(f"undecided (interval across the line): {', '.join(map(shown, unclear))}")
    holds: bool | str = False if kept else (True if not unclear else UNDECIDED)
    return holds, "; ".join(parts)


def _best_ranked(finding: Finding, sub: pd.DataFrame, columns: tuple[str, ...], gt: np.ndarray):
    from nasprox.report.published import best_ranked_truth, oriented, seed_columns

    wanted = finding.proxies + finding.than
    cols = {p: seed_columns(p, columns) for p in wanted}
    cols = {p: c for p, c in cols.items() if c}
    if not any(p in cols for p in finding.proxies) or not any(p in cols for p in finding.than):
        return None, "no data"
    common = np.isfinite(gt)
    for c in (c for cs in cols.values() for c in cs):
        common &= np.isfinite(sub[c].to_numpy(dtype=float))
    if not common.any():
        return None, "no cell scored by all of them"
    picked = {
        p: float(
            np.mean([best_ranked_truth(oriented(p, sub[c].to_numpy(dtype=float)[common]), gt[common]) for c in cs])
        )
        for p, cs in cols.items()
    }
    mine = [p for p in finding.proxies if p in picked]
    rivals = [p for p in finding.than if p in picked]
    holds = all(picked[m] >= picked[r] for m in mine for r in rivals)
    fmt = ", ".join(f"{p} {picked[p]:.2f}" for p in mine + rivals)
    return holds, f"on {int(common.sum())} common cells (best there {np.max(gt[common]):.2f}): {fmt}"


def evaluate_findings(
    findings: Sequence[Finding], summary: pd.DataFrame, table: Any = None, target: str | None = None
) -> pd.DataFrame:
    """One row per (finding, benchmark): whether the rule holds there, and the numbers it compared.

    ``summary``: the report's ``seed_summary``; ``table``: the ResultTable (``picks_better`` reads its scores).
    """
    from nasprox.stats import target_values

    rows = []
    for finding in findings:
        if finding.kind == "picks_better":
            if table is None:
                raise NasproxError(f"finding {finding.id} (picks_better) needs the result table")
            for space, dataset, sub, columns in table.groups():
                try:
                    gt = target_values(sub, space, table.target_for(space, sub, target))
                except NasproxError:
                    continue
                holds, evidence = _best_ranked(finding, sub, tuple(columns), gt)
                rows.append(_row(finding, f"{space}/{dataset}", holds, evidence))
            continue
        for (space, dataset), group in summary.groupby(["space", "dataset"], sort=True):
            if finding.kind == "beats_most":
                holds, evidence = _beats_most(finding, _at(group, finding.top))
            else:
                holds, evidence = _collapses(finding, _at(group, 1.0), _at(group, finding.top))
            rows.append(_row(finding, f"{space}/{dataset}", holds, evidence))
    return pd.DataFrame(rows, columns=FINDINGS_COLUMNS)


def _row(finding: Finding, benchmark: str, holds: bool | str | None, evidence: str) -> dict[str, object]:
    if isinstance(holds, str):
        said = holds
    else:
        said = "no data" if holds is None else ("yes" if holds else "no")
    return {
        "finding": finding.id,
        "claim": finding.claim,
        "source": finding.source,
        "benchmark": benchmark,
        "holds": said,
        "evidence": evidence,
    }


def verdicts(per_benchmark: pd.DataFrame) -> pd.DataFrame:
    """One row per finding: borne out | partly | not borne out | undecided | no data, and where it held. Benchmarks
    where the rule is undecided count for neither side."""
    rows = []
    for fid, group in per_benchmark.groupby("finding", sort=False):
        judged = group[group["holds"].isin(["yes", "no"])]
        held = judged[judged["holds"] == "yes"]["benchmark"].tolist()
        if judged.empty:
            verdict = UNDECIDED if (group["holds"] == UNDECIDED).any() else "no data"
        elif len(held) == len(judged):
            verdict = "borne out"
        elif held:
            verdict = "partly"
        else:
            verdict = "not borne out"
        rows.append(
            {
                "finding": fid,
                "claim": group["claim"].iloc[0],
                "source": group["source"].iloc[0],
                "verdict": verdict,
                "benchmarks": len(judged),
                "held_on": ", ".join(held) or "-",
            }
        )
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def proxies_named(findings: Sequence[Finding]) -> set[str]:
    """Every proxy a finding names (checked against the registry by the tests)."""
    return {proxy_of_column(p) for f in findings for p in f.proxies + f.than}
