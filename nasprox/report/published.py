"""Published numbers of the seed papers (``configs/published/*.yaml``) and "published vs ours".

File format (``version: 1``)::

    version: 1
    paper: {id: near, title: "...", url: "https://arxiv.org/abs/..."}
    entries:
      - {table: "Table 1", space: nats-tss, dataset: cifar10, proxy: near, metric: spearman,
         value: 0.70, source: {url: "...", table: "Table 1", row: "NEAR", column: "CIFAR-10 rho"}}

``metric`` is one of METRICS; an entry may name a ``target`` (default: the space's default).
Every entry must carry a source with url, table, row and column.

``best_ranked`` (zero-shot survey Tables 4-5) is not a correlation: it is the ground truth (in the target's
own units and direction) of the architecture the proxy ranks first. Ties at the top score: the mean ground
truth of the tied architectures (a tie-blind search would pick one of them at random, so this is its
expected value); architectures with a non-finite score or ground truth are left out. Where the proxy was
scored under several seeds (``proxy@seed=N`` columns, ``load_results(keep_settings_apart=True)``), ours is
the mean over the seeds and the CI a 95% t-interval of that mean over the seeds (the paper's "mean of 5
runs"); with one seed, a bootstrap over the architectures. Like a count, the value depends on the cells
ranked (the best cell of a sample is not the space's), so it is only comparable on the paper's population.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nasprox.core import SETTING_SEPARATOR, NasproxError, batch_setting_column, load_yaml
from nasprox.stats import (
    correlate_top,
    default_target,
    kendall_tau,
    lower_is_better,
    pairwise_order_probability,
    pearson_r,
    spearman_rho,
    target_values,
    top_k_within_top_fraction,
    top_overlap,
)
from nasprox.stats.correlation import finite_pairs
from nasprox.stats.results import ResultTable

SUPPORTED_VERSIONS = (1,)
SOURCE_FIELDS = ("url", "table", "row", "column")
ENTRY_FIELDS = ("table", "space", "dataset", "proxy", "metric", "value", "source")


def _top64_within_top5(score: np.ndarray, gt: np.ndarray) -> float:
    return float(top_k_within_top_fraction(score, gt, 64, 0.05))


def best_ranked_truth(score: np.ndarray, truth: np.ndarray) -> float:
    """Ground truth of the architecture ``score`` ranks first; ties at the top: the mean over the tied ones.

    ``truth`` in its own units (a lower-is-better target not negated); pairs with a non-finite value are left
    out; NaN when none is left.
    """
    score, truth = np.asarray(score, dtype=float), np.asarray(truth, dtype=float)
    ok = np.isfinite(score) & np.isfinite(truth)
    if not ok.any():
        return math.nan
    score, truth = score[ok], truth[ok]
    return float(truth[score == score.max()].mean())


# module-level functions and partials, not lambdas: a report's intervals may be computed on other processes
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "kendall": kendall_tau,
    "spearman": spearman_rho,
    "pearson": pearson_r,
    "kendall_top10": functools.partial(correlate_top, fraction=0.1, method="kendall"),
    "spearman_top10": functools.partial(correlate_top, fraction=0.1, method="spearman"),
    "top10_top10": functools.partial(top_overlap, fraction=0.1),  # as a fraction in [0, 1]
    "top64_top5": _top64_within_top5,
    "pairwise_order": pairwise_order_probability,
    "best_ranked": best_ranked_truth,  # the ground truth of the top-ranked architecture (module doc)
}


COUNT_METRICS = frozenset({"top64_top5"})  # counts whose value depends on how many cells were ranked
# values in the target's units whose value depends on which cells were ranked (the best of a sample is not the
# space's): comparable on the paper's population only, averaged over seeds where several were scored
RANKED_TRUTH_METRICS = frozenset({"best_ranked"})
QUOTED = re.compile(r"\breference\b|\bquoted\b", re.IGNORECASE)  # a cell citing another paper's number
VERDICTS = ("agrees", "differs", "not comparable")


@dataclass(frozen=True)
class PublishedEntry:
    paper: str
    table: str
    space: str
    dataset: str
    proxy: str
    metric: str
    value: float
    target: str | None
    source: dict
    note: str = ""  # the trailing comment of the entry's line (e.g. 'reconstructed from loose cells')

    @property
    def quoted(self) -> bool:
        """True when the paper prints this number from another paper (e.g. epsilon's bracketed values)."""
        return bool(QUOTED.search(str(self.source.get("column", "")) + " " + self.note))


def _line_notes(text: str) -> list[str]:
    """The trailing ``# note`` of each one-line entry, in file order ('' where none)."""
    notes = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("- {"):
            head, _, comment = stripped.rpartition("}")
            notes.append(comment.strip().lstrip("#").strip() if comment.strip().startswith("#") else "")
    return notes


def load_published_file(path: Path) -> list[PublishedEntry]:
    try:
        text = Path(path).read_text()
        doc = load_yaml(text)
    except (OSError, yaml.YAMLError) as err:
        raise NasproxError(f"cannot read published numbers {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(doc, dict) or doc.get("version") not in SUPPORTED_VERSIONS:
        raise NasproxError(f"{path}: needs 'version' in {SUPPORTED_VERSIONS}")
    paper = (doc.get("paper") or {}).get("id")
    if not paper:
        raise NasproxError(f"{path}: needs paper.id")
    raw_entries = doc.get("entries") or []
    notes = _line_notes(text)
    notes = notes if len(notes) == len(raw_entries) else [""] * len(raw_entries)  # entries not one per line
    entries = []
    for i, raw in enumerate(raw_entries):
        missing = [f for f in ENTRY_FIELDS if f not in raw]
        source = raw.get("source") or {}
        missing += [f"source.{f}" for f in SOURCE_FIELDS if not source.get(f)]
        if missing:
            raise NasproxError(f"{path}: entry {i} lacks {', '.join(missing)}")
        if raw["metric"] not in METRICS:
            raise NasproxError(f"{path}: entry {i} has unknown metric '{raw['metric']}' (known: {', '.join(METRICS)})")
        entries.append(
            PublishedEntry(
                paper,
                str(raw["table"]),
                str(raw["space"]),
                str(raw["dataset"]),
                str(raw["proxy"]),
                raw["metric"],
                float(raw["value"]),
                raw.get("target"),
                dict(source),
                notes[i],
            )
        )
    return entries


def default_published_dir() -> Path:
    """configs/published next to the package in a source checkout."""
    return Path(__file__).resolve().parents[2] / "configs" / "published"


def load_published(folder: Path | None = None) -> list[PublishedEntry]:
    folder = Path(folder) if folder is not None else default_published_dir()
    if not folder.is_dir():
        return []
    return [e for path in sorted(folder.glob("*.yaml")) for e in load_published_file(path)]


COMPARISON_COLUMNS = [
    "paper",
    "table",
    "row",
    "column",
    "kind",
    "space",
    "dataset",
    "proxy",
    "metric",
    "target",
    "published",
    "ours",
    "ci_lo",
    "ci_hi",
    "n_used",
    "n_scored",
    "batch",
    "population_paper",
    "verdict",
    "reason",
    "note",
]


def _tolerance(metric: str) -> float:
    """Half a unit of the printed precision: correlations are printed with two decimals, counts as integers."""
    return 0.5 if metric in COUNT_METRICS else 0.005


# below this many scored cells the 95% CI of a rank correlation spans most of [-1, 1] and "agrees" says nothing
MIN_VERDICT_ARCHS = 30


def judge(
    published: float, ours: float, lo: float, hi: float, metric: str, n_scored: int, population_size: int | None
) -> tuple[str, str]:
    """(verdict, reason): agrees when the printed value (+- half its last digit) meets our 95% CI."""
    if (metric in COUNT_METRICS or metric in RANKED_TRUTH_METRICS) and population_size != n_scored:
        paper = f"{population_size:,}" if population_size else "not stated"
        what = "a count over the ranked cells" if metric in COUNT_METRICS else "the best of the ranked cells"
        return "not comparable", f"{what}: paper population {paper}, ours {n_scored:,}"
    if not math.isfinite(ours):
        return "not comparable", "ours is undefined (too few finite scores or a constant proxy)"
    if n_scored < MIN_VERDICT_ARCHS:
        return "not comparable", f"only {n_scored} architectures scored (a verdict needs {MIN_VERDICT_ARCHS})"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "not comparable", "no bootstrap CI (too few architectures)"
    tol = _tolerance(metric)
    if published + tol >= lo and published - tol <= hi:
        return "agrees", ""
    gap = lo - (published + tol) if published + tol < lo else (published - tol) - hi
    side = "below" if published < lo else "above"
    return "differs", f"published is {gap:.3f} {side} our CI"


def _scored_column(
    entry: PublishedEntry, proxies: tuple[str, ...], batches: Mapping[tuple[str, str, str, str, str], int]
) -> str | None:
    """The result column of ``entry``'s proxy: the proxy itself, or its ``@batch=N`` column at the table's batch."""
    if entry.proxy in proxies:
        return entry.proxy
    batch = batches.get((entry.paper, entry.table, entry.space, entry.dataset, entry.proxy))
    if batch is not None and batch_setting_column(entry.proxy, batch) in proxies:
        return batch_setting_column(entry.proxy, batch)
    seeds = seed_columns(entry.proxy, proxies)  # scored under several seeds (a survey protocol): the lowest seed,
    if seeds:  # the one every single-seed protocol scores (--seed 0)
        return seeds[0]
    return None  # not scored, or only under settings this table's protocol does not name


def seed_columns(proxy: str, columns: tuple[str, ...]) -> list[str]:
    """The result columns of ``proxy`` that differ only by scoring seed (``proxy@seed=N``, sorted by N), or
    ``[proxy]`` when it was scored under one setting; [] when neither is there."""
    prefix = f"{proxy}{SETTING_SEPARATOR}seed="
    seeded = [c for c in columns if c.startswith(prefix) and c[len(prefix) :].isdigit()]
    if seeded:
        return sorted(seeded, key=lambda c: int(c[len(prefix) :]))
    return [proxy] if proxy in columns else []


def oriented(proxy: str, score: np.ndarray) -> np.ndarray:
    """Scores with higher = better (the registry's ``higher_is_better``; unknown names: as they are)."""
    from nasprox.core import PROXIES

    lower = proxy in PROXIES and PROXIES.get(proxy).higher_is_better is False
    return -score if lower else score


def _over_seeds(
    metric: Callable[[np.ndarray, np.ndarray], float], scores: list[np.ndarray], gt: np.ndarray
) -> tuple[float, float, float]:
    """(mean over seeds, 95% t-interval of that mean) of ``metric`` computed per seed."""
    from scipy.stats import t as student_t

    values = np.array([metric(score, gt) for score in scores], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else math.nan), math.nan, math.nan
    mean = float(values.mean())
    half = float(student_t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def _batch_matters(proxy: str) -> bool:
    """Whether a proxy's score depends on its batch: all but the data-free counts (params, l2_norm)."""
    from nasprox.core import PROXIES, RegistryError

    try:
        return PROXIES.get(proxy).cost != "free"
    except RegistryError:
        return True


def compare_published(
    entries: list[PublishedEntry],
    table: ResultTable,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    populations: Mapping[tuple[str, ...], tuple[int | None, str]] | None = None,
    batches: Mapping[tuple[str, str, str, str, str], int] | None = None,
    incomparable: Mapping[tuple[str, str, str, str, str], str] | None = None,
    ci: Callable[..., tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """Every published cell whose (space, dataset, proxy) we scored, beside ours with a 95% bootstrap CI.

    ``populations`` maps (paper, table) to (size, label) of the architectures the paper scored ((paper, table,
    space) first, for a table over spaces of different sizes).
    ``batches`` maps (paper, table, space, dataset, proxy) to the batch size of that table's protocol:
    where a proxy was scored under several batch sizes (kept apart as ``proxy@batch=N``), each cell
    takes the column of its own table's batch, and the ``proxy`` column of the comparison names it.
    ``incomparable`` maps the same keys to why a protocol's scores are not the paper's measure: those
    cells are "not comparable" with that reason.
    ``ci`` computes the intervals (default: a fresh ``BootstrapMemo``; pass one to share it with other tables).
    """
    from nasprox.stats.bootstrap import BootstrapMemo

    # several tables (and their quoted cells) ask for the same statistic of the same scores: the seeded
    # bootstrap gives the same CI every time, so the memo computes each once
    ci = ci or BootstrapMemo()
    groups = {(space, dataset): (sub, proxies) for space, dataset, sub, proxies in table.groups()}
    rows = []
    for e in entries:
        found = groups.get((e.space, e.dataset))
        if found is None:
            continue
        sub, scored = found
        seeds = seed_columns(e.proxy, scored) if e.metric in RANKED_TRUTH_METRICS else []
        column = _scored_column(e, scored, batches or {}) if len(seeds) < 2 else seeds[0]
        if column is None:
            continue
        paper_target = e.target or default_target(e.space)
        target = table.target_for(e.space, sub, paper_target)
        try:
            gt = target_values(sub, e.space, target)
        except NasproxError:
            continue  # this run has no such ground-truth column: the cell cannot be computed
        score = sub[column].to_numpy(dtype=float)
        metric = METRICS[e.metric]
        note = e.note
        if e.metric in RANKED_TRUTH_METRICS:  # in the target's own units, the proxy's best first
            gt = -gt if lower_is_better(e.space, target.removeprefix("gt_")) else gt
            score = oriented(e.proxy, score)
        if len(seeds) >= 2:
            scores = [oriented(e.proxy, sub[c].to_numpy(dtype=float)) for c in seeds]
            ours, lo, hi = _over_seeds(metric, scores, gt)
            n_used = min(finite_pairs(s, gt).n for s in scores)
            column = f"{e.proxy}@seeds={len(seeds)}"
            note = "; ".join(filter(None, [note, f"mean of {len(seeds)} seeds, 95% t-interval over the seeds"]))
        else:
            ours, n_used = metric(score, gt), finite_pairs(score, gt).n
            lo, hi = ci(metric, score, gt, n_resamples=bootstrap, seed=seed) if bootstrap else (math.nan, math.nan)
        pops = populations or {}
        size, label = pops.get((e.paper, e.table, e.space), pops.get((e.paper, e.table), (None, "not stated")))
        verdict, reason = judge(e.value, ours, lo, hi, e.metric, n_used, size)
        used = table.batches.get((e.space, e.dataset, seeds[0] if len(seeds) >= 2 else column), ())
        wanted = (batches or {}).get((e.paper, e.table, e.space, e.dataset, e.proxy))
        if wanted is not None and used and set(used) != {wanted} and _batch_matters(e.proxy):
            verdict = "not comparable"
            reason = f"scored at batch {'/'.join(map(str, used))}; the {e.table} protocol uses {wanted}"
        caveat = (incomparable or {}).get((e.paper, e.table, e.space, e.dataset, e.proxy))
        if caveat:
            verdict, reason = "not comparable", caveat
        rows.append(
            {
                "paper": e.paper,
                "table": e.table,
                "row": e.source.get("row", ""),
                "column": e.source.get("column", ""),
                "kind": "quoted" if e.quoted else "own",
                "space": e.space,
                "dataset": e.dataset,
                "proxy": column,
                "metric": e.metric,
                "target": target if target == paper_target else f"{target} (paper: {paper_target})",
                "published": e.value,
                "ours": ours,
                "ci_lo": lo,
                "ci_hi": hi,
                "n_used": n_used,
                "n_scored": int(len(score)),
                "batch": "/".join(map(str, used)),
                "population_paper": label,
                "verdict": verdict,
                "reason": reason,
                "note": note,
            }
        )
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    if len(frame):  # the paper's own cells first, quoted ones after, each in table order
        frame = frame.sort_values(
            ["kind", "paper", "table", "space", "dataset", "proxy", "metric"],
            key=lambda col: col.map({"own": 0, "quoted": 1}) if col.name == "kind" else col,
            kind="stable",
        ).reset_index(drop=True)
    return frame


SUMMARY_COLUMNS = [
    "paper",
    "table",
    "kind",
    "cells",
    "comparable",
    "agree",
    "differ",
    "explained",
    "summary",
    "largest_difference",
    "largest_unexplained",
]


# the columns that name one published cell in a comparison frame; the rest are ours, its CI and the verdict
CELL_KEYS = ["paper", "table", "row", "column", "kind", "space", "dataset", "proxy", "metric", "published"]


def merge_comparisons(sides: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``compare_published`` frames of the same published cells side by side, one row per cell they all hold:
    ``CELL_KEYS`` once, every other column suffixed ``_NAME`` by its side's name (read with ``ours_and_verdict``)."""
    frames = [side.set_index(CELL_KEYS).add_suffix(f"_{name}") for name, side in sides.items()]
    return functools.reduce(lambda left, right: left.join(right, how="inner"), frames).reset_index()


def ours_and_verdict(row: pd.Series, suffix: str = "") -> str:
    """One comparison row's ``ours [ci_lo, ci_hi] | verdict`` as two Markdown cells; ``suffix`` picks the columns
    of one side of two comparisons merged with suffixes (``_test``, ``_naslib``, ...)."""
    return f"{row['ours' + suffix]:.3f} [{row['ci_lo' + suffix]:.3f}, {row['ci_hi' + suffix]:.3f}] | {row['verdict' + suffix]}"


def _largest_gap(differs: pd.DataFrame) -> str:
    """The row of ``differs`` furthest outside our CI, in units of the printed precision, so that a count
    (top-64) and a correlation are ranked on one scale; '' when there is none."""
    if not len(differs):
        return ""
    outside = np.maximum(differs["ci_lo"] - differs["published"], differs["published"] - differs["ci_hi"])
    w = differs.loc[(outside / differs["metric"].map(_tolerance)).idxmax()]
    gap = f" ({w['reason']})" if w.get("reason") else ""
    return f"{w['proxy']} {w['space']}/{w['dataset']} {w['metric']}: published {w['published']:g}, ours {w['ours']:.3f}{gap}"


def comparison_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (paper, table, kind): comparable cells, how many agree, how many of those that differ an
    experiment explains (the ``explained`` column of ``nasprox.report.explained.explain``, when present),
    and the largest gap overall and among the unexplained."""
    rows = []
    for (paper, table, kind), sub in frame.groupby(["paper", "table", "kind"], sort=True):
        comparable = sub[sub["verdict"] != "not comparable"]
        differs = comparable[comparable["verdict"] == "differs"]
        explained = differs["explained"].fillna("").astype(str) != "" if "explained" in differs else None
        agree = int((comparable["verdict"] == "agrees").sum())
        summary = f"{agree} of {len(comparable)} comparable cells agree"
        if explained is not None and len(differs):
            summary += f"; {int(explained.sum())} of {len(differs)} differences explained"
        rows.append(
            {
                "paper": paper,
                "table": table,
                "kind": kind,
                "cells": len(sub),
                "comparable": len(comparable),
                "agree": agree,
                "differ": len(differs),
                "explained": int(explained.sum()) if explained is not None else "",
                "summary": summary,
                "largest_difference": _largest_gap(differs),
                "largest_unexplained": _largest_gap(differs[~explained]) if explained is not None else "",
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
