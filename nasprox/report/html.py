"""One self-contained HTML page of a report: no server and no network when viewed (CSS, JS and figures inline).

Sections: a leaderboard per (space, dataset) (sortable, filterable, 95% CIs drawn as bars), the paired
comparisons, published vs ours (filterable by paper, table and verdict), each proxy's score against the
target (inline SVG), and the provenance sidecar of every input CSV. The page renders the frames
``write_report`` has already computed: their columns are shown as they are, a ``NAME_lo``/``NAME_hi``
pair as a bar in the ``NAME`` cell, and columns constant over a leaderboard in its caption.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasprox.report.plots import score_axis_scale, worst_predicted
from nasprox.report.published import VERDICTS

MAX_POINTS = 2000  # points drawn per scatter (a seeded sample when there are more; the worst-predicted always)
CI_SUFFIXES = ("_lo", "_hi")
GROUP_KEYS = ("space", "dataset")
VERDICT_COLOURS = dict(zip(VERDICTS, ("#1a7f37", "#cf222e", "#8c8c8c")))
# viridis at six points: #params from the smallest to the largest sixth of the cells
PARAMS_COLOURS = ("#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725")


@dataclass(frozen=True)
class Scatter:
    """One proxy's scores against the target in one (space, dataset): the figure's data."""

    space: str
    dataset: str
    proxy: str
    target: str
    score: np.ndarray
    gt: np.ndarray
    params: np.ndarray | None = None


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return None


def _text(value: Any, digits: int = 3) -> str:
    number = _number(value)
    if number is None:
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if math.isnan(number):
        return "nan"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{number:.{digits}f}"


def _sort_key(value: Any) -> str:
    number = _number(value)
    return "" if number is None or not math.isfinite(number) else repr(number)


# -- bars --------------------------------------------------------------------------------------------
def ci_bar(
    value: float,
    lo: float,
    hi: float,
    scale: tuple[float, float],
    *,
    mark: float | None = None,
    mark_colour: str = "#cf222e",
    width: int = 130,
) -> str:
    """A small inline SVG: the interval [lo, hi] as a bar, the value as a dot, 0 as a line; ``mark`` a tick."""
    low, high = scale
    span = (high - low) or 1.0

    def px(v: float) -> float:
        return round(2 + (min(max(v, low), high) - low) / span * (width - 4), 1)

    parts = [f'<svg class="bar" width="{width}" height="14" viewBox="0 0 {width} 14" aria-hidden="true">']
    if low <= 0 < high:
        parts.append(f'<line x1="{px(0)}" x2="{px(0)}" y1="1" y2="13" stroke="#bbb"/>')
    if math.isfinite(lo) and math.isfinite(hi):
        parts.append(f'<rect x="{px(lo)}" y="5" width="{max(px(hi) - px(lo), 1)}" height="4" fill="#7aa6d6"/>')
    if math.isfinite(value):
        parts.append(f'<circle cx="{px(value)}" cy="7" r="2.5" fill="#0b3d91"/>')
    if mark is not None and math.isfinite(mark):
        parts.append(f'<line x1="{px(mark)}" x2="{px(mark)}" y1="1" y2="13" stroke="{mark_colour}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def _scale(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[float, float]:
    """The bars' range for correlations: up to 1, down to 0 or a tenth below the lowest value (at most -1).
    Values outside [-1, 1] (counts such as top-64 hits) are left out: their rows get their own range."""
    values = pd.concat([pd.to_numeric(frame[c], errors="coerce") for c in columns if c in frame.columns])
    values = values[np.isfinite(values) & (values.abs() <= 1)]
    low = float(values.min()) if len(values) else 0.0
    return max(-1.0, min(0.0, math.floor(low * 10) / 10)), 1.0


def _row_scale(values: Iterable[float | None], scale: tuple[float, float]) -> tuple[float, float]:
    """``scale``, or the row's own range from 0 when one of its values leaves it (a count)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if all(scale[0] <= v <= scale[1] for v in finite):
        return scale
    return min(0.0, *finite), max(*finite, 0.0) * 1.05 or 1.0


# -- tables ------------------------------------------------------------------------------------------
def html_table(
    frame: pd.DataFrame,
    *,
    table_class: str,
    hidden: Sequence[str] = (),
    marks: Mapping[str, str] | None = None,
    row_colour: str | None = None,
    digits: int = 3,
    scales: Mapping[str, tuple[float, float]] | None = None,
) -> str:
    """``frame`` as a sortable table; ``X_lo``/``X_hi`` drawn as a bar in the ``X`` cell (``marks``: X -> the
    column drawn as a tick on it, e.g. the published value); ``row_colour`` a column whose value colours the row
    (a verdict); ``scales``: X -> the bar's range (default [-1, 1], or the values' range when they leave it)."""
    marks = dict(marks or {})
    columns = [c for c in frame.columns if c not in hidden]
    with_ci = {c for c in columns if all(f"{c}{s}" in frame.columns for s in CI_SUFFIXES)}
    shown = [c for c in columns if not any(c == f"{b}{s}" for b in with_ci for s in CI_SUFFIXES)]
    scales = {c: (scales or {}).get(c) or _scale(frame, [c, f"{c}_lo", f"{c}_hi", marks.get(c, c)]) for c in with_ci}
    head = "".join(f'<th data-col="{esc(c)}">{esc(c)}{" [95% CI]" if c in with_ci else ""}</th>' for c in shown)
    body = []
    for row in frame.to_dict("records"):
        cells = []
        for c in shown:
            value = row[c]
            text = esc(_text(value, digits))
            if c in with_ci:
                lo, hi = float(row[f"{c}_lo"]), float(row[f"{c}_hi"])
                mark = row.get(marks[c]) if c in marks else None
                colour = VERDICT_COLOURS.get(str(row.get(row_colour, "")), "#cf222e") if row_colour else "#cf222e"
                mark = None if mark is None else float(mark)
                scale = _row_scale([float(value), lo, hi, mark], scales[c])
                bar = ci_bar(float(value), lo, hi, scale, mark=mark, mark_colour=colour)
                interval = f" [{_text(lo, digits)}, {_text(hi, digits)}]" if math.isfinite(lo) else ""
                text = f'{bar}<span class="num">{text}</span><span class="ci">{esc(interval)}</span>'
            cells.append(f'<td data-v="{esc(_sort_key(value))}">{text}</td>')
        attrs = ""
        if row_colour:
            attrs = f' class="v-{esc(str(row.get(row_colour, "")).replace(" ", "-"))}"'
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    return f'<table class="sortable {table_class}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _select(name: str, label: str, values: Iterable[str], target: str, column: str) -> str:
    options = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
    return (
        f'<label>{esc(label)} <select class="filter" data-target="{esc(target)}" data-col="{esc(column)}" '
        f'name="{esc(name)}"><option value="">all</option>{options}</select></label>'
    )


def _search(target: str, placeholder: str) -> str:
    return (
        f'<label>filter <input type="search" class="filter" data-target="{esc(target)}" data-col="" '
        f'placeholder="{esc(placeholder)}"></label><span class="count" id="count-{esc(target)}"></span>'
    )


def leaderboards(correlations: pd.DataFrame, sort_by: str = "spearman") -> str:
    if correlations.empty:
        return "<p>No correlations.</p>"
    groups = [f"{s}/{d}" for s, d in correlations[list(GROUP_KEYS)].drop_duplicates().itertuples(index=False)]
    parts = [
        '<div class="controls">',
        _select("lb-group", "space/dataset", groups, "lb", "group"),
        _search("lb", "proxy, e.g. near"),
        "</div>",
    ]
    # settings (the same in every row: top, k, T) and a group's own labels (its target) go to its caption
    everywhere = {c for c in correlations.columns if correlations[c].astype(str).nunique() == 1}
    with_ci = [c for c in correlations.columns if all(f"{c}{x}" in correlations.columns for x in CI_SUFFIXES)]
    scales = {c: _scale(correlations, [c, f"{c}_lo", f"{c}_hi"]) for c in with_ci}  # the same bars in every group
    for (space, dataset), sub in correlations.groupby(list(GROUP_KEYS), sort=True):
        if sort_by in sub.columns:
            sub = sub.sort_values(sort_by, ascending=False, na_position="last")
        labels = {c for c in sub.columns if _number(sub[c].iloc[0]) is None and sub[c].astype(str).nunique() == 1}
        constant = [c for c in sub.columns if c not in GROUP_KEYS and (c in everywhere or c in labels)]
        caption = "; ".join(f"{c} {_text(sub[c].iloc[0])}" for c in constant)
        parts.append(
            f'<div class="group lb" data-group="{esc(f"{space}/{dataset}")}"><h3>{esc(space)} / {esc(dataset)}</h3>'
            f'<p class="caption">{esc(caption)}</p>'
            + html_table(sub, table_class="lb", hidden=[*GROUP_KEYS, *constant], scales=scales)
            + "</div>"
        )
    return "".join(parts)


# shown first in the published-vs-ours table, the rest in ``COMPARISON_COLUMNS``' order
PUBLISHED_FIRST = ("paper", "table", "space", "dataset", "proxy", "metric", "published", "ours", "verdict")


def _first(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` (those it has) moved to the front, the others after in their order."""
    front = [c for c in columns if c in frame.columns]
    return frame[front + [c for c in frame.columns if c not in front]]


def published_section(comparison: pd.DataFrame, summary: pd.DataFrame) -> str:
    if comparison.empty:
        return "<p>No published cell matches these results.</p>"
    controls = [
        '<div class="controls">',
        _select("pvo-paper", "paper", sorted(comparison["paper"].astype(str).unique()), "pvo", "paper"),
        _select("pvo-table", "table", sorted(comparison["table"].astype(str).unique()), "pvo", "table"),
        _select("pvo-verdict", "verdict", VERDICTS, "pvo", "verdict"),
        _search("pvo", "proxy, dataset, reason..."),
        "</div>",
    ]
    counts = comparison["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)
    return (
        f"<h3>Per table</h3>{html_table(summary, table_class='pvo-summary')}"
        f"<h3>Every cell ({len(comparison)}: {esc(tally)})</h3>"
        '<p class="caption">bar: our 95% CI, dot: ours, tick: the published value (green: agrees, red: differs, '
        "grey: not comparable)</p>"
        + "".join(controls)
        + '<div class="group pvo">'
        + html_table(
            _first(comparison, PUBLISHED_FIRST).rename(columns={"ci_lo": "ours_lo", "ci_hi": "ours_hi"}),
            table_class="pvo",
            marks={"ours": "published"},
            row_colour="verdict",
        )
        + "</div>"
    )


def paired_section(paired: pd.DataFrame) -> str:
    if paired.empty:
        return ""
    values = pd.to_numeric(pd.concat([paired["ci_lo"], paired["ci_hi"], paired["difference"]]), errors="coerce")
    finite = values[np.isfinite(values)]
    reach = max(0.1, float(finite.abs().max())) if len(finite) else 1.0
    frame = paired.rename(columns={"ci_lo": "difference_lo", "ci_hi": "difference_hi"})
    table = html_table(frame, table_class="paired", scales={"difference": (-reach, reach)})
    return (
        '<div class="controls">'
        + _select("pair-metric", "metric", sorted(paired["metric"].unique()), "paired", "metric")
        + _select("pair-zero", "excludes_zero", ["yes", "no"], "paired", "excludes_zero")
        + _search("paired", "proxy, dataset...")
        + f'</div><p class="caption">bar: the paired 95% CI of the difference, on [-{reach:.2f}, {reach:.2f}]</p>'
        f'<div class="group paired">{table}</div>'
    )


# -- scatters ----------------------------------------------------------------------------------------
def _axis_transform(values: np.ndarray):
    """(forward, inverse, scale name): the x axis ``plots.score_axis_scale`` picks for these scores."""
    scale = score_axis_scale(values)
    if scale == "log":
        return np.log10, lambda t: 10.0**t, scale
    if scale == "symlog":
        magnitudes = np.abs(values[values != 0])
        lin = 10.0 ** math.floor(math.log10(magnitudes.min()))
        return (
            lambda v: np.sign(v) * np.log10(1 + np.abs(v) / lin),
            lambda t: np.sign(t) * (10.0 ** np.abs(t) - 1) * lin,
            scale,
        )
    return (lambda v: v), (lambda t: t), scale


def _tick(value: float) -> str:
    return f"{value:.3g}"


def svg_scatter(item: Scatter, *, rho: float | None = None, max_points: int = MAX_POINTS, seed: int = 0) -> str:
    """Score (x, on the report figures' scale) against the target (y) as inline SVG: colour = #params
    sixth, red rings = the 10 worst-predicted cells; at most ``max_points`` dots (seeded sample)."""
    width, height, left, right, top, bottom = 330, 235, 48, 8, 22, 32
    score, gt = np.asarray(item.score, dtype=float), np.asarray(item.gt, dtype=float)
    keep = np.flatnonzero(np.isfinite(score) & np.isfinite(gt))
    title = f"{item.proxy}" + (f"  ρ={rho:.3f}" if rho is not None and math.isfinite(rho) else "")
    header = (
        f'<svg class="scatter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(item.proxy)} vs {esc(item.target)}">'
        f'<text x="{left}" y="14" class="t">{esc(title)}</text>'
    )
    if keep.size < 2:
        return header + f'<text x="{left}" y="100">no finite (score, target) pairs</text></svg>'
    forward, inverse, scale = _axis_transform(score[keep])
    x_all = np.full(score.shape, np.nan)
    x_all[keep] = forward(score[keep])
    x0, x1 = float(np.min(x_all[keep])), float(np.max(x_all[keep]))
    y0, y1 = float(np.min(gt[keep])), float(np.max(gt[keep]))
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(v):
        return np.rint(left + (v - x0) / (x1 - x0) * plot_w).astype(int)

    def py(v):
        return np.rint(top + plot_h - (v - y0) / (y1 - y0) * plot_h).astype(int)

    shown = keep
    if keep.size > max_points:
        shown = np.sort(np.random.default_rng(seed).choice(keep, size=max_points, replace=False))
    worst = worst_predicted(score, gt, 10)
    parts = [header, f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    params = None if item.params is None else np.asarray(item.params, dtype=float)
    if params is not None and np.isfinite(params[keep]).sum() >= 2:
        finite = keep[np.isfinite(params[keep])]
        edges = np.quantile(params[finite], np.linspace(0, 1, len(PARAMS_COLOURS) + 1)[1:-1])
        bins = np.where(np.isfinite(params[shown]), np.searchsorted(edges, params[shown], side="right"), -1)
    else:
        bins = np.zeros(shown.size, dtype=int)
    xs, ys = px(x_all[shown]), py(gt[shown])
    for b in np.unique(bins):
        colour = "#999" if b < 0 else (PARAMS_COLOURS[b] if params is not None else "#1f77b4")
        path = "".join(f"M{x} {y}h0" for x, y in zip(xs[bins == b], ys[bins == b]))
        parts.append(f'<path d="{path}" stroke="{colour}" class="dots"/>')
    for x, y in zip(px(x_all[worst]), py(gt[worst])):
        parts.append(f'<circle cx="{x}" cy="{y}" r="4" class="worst"/>')
    for frac in (0.0, 0.5, 1.0):  # three ticks per axis, labelled in the scores' own units
        xv, yv = x0 + frac * (x1 - x0), y0 + frac * (y1 - y0)
        x_px, y_px = left + frac * plot_w, top + plot_h - frac * plot_h
        anchor = ("start", "middle", "end")[int(frac * 2)]
        parts.append(
            f'<text x="{x_px:.0f}" y="{top + plot_h + 12}" text-anchor="{anchor}">{esc(_tick(float(inverse(xv))))}</text>'
            f'<text x="{left - 3}" y="{y_px + 3:.0f}" text-anchor="end">{esc(_tick(yv))}</text>'
        )
    sample = f"{shown.size:,} of {keep.size:,} cells" if shown.size < keep.size else f"{keep.size:,} cells"
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle">score ({scale}); {sample}</text>'
        f'<text x="10" y="{top + plot_h / 2:.0f}" transform="rotate(-90 10 {top + plot_h / 2:.0f})" '
        f'text-anchor="middle">{esc(item.target)}</text></svg>'
    )
    return "".join(parts)


def scatter_section(scatters: Sequence[Scatter], correlations: pd.DataFrame) -> str:
    if not scatters:
        return "<p>No figures (--no-plots).</p>"
    rho: dict[tuple[str, str, str], float] = {}
    if {"space", "dataset", "proxy", "spearman"} <= set(correlations.columns):
        rho = {
            (s, d, p): float(r)
            for s, d, p, r in correlations[["space", "dataset", "proxy", "spearman"]].itertuples(index=False)
        }
    groups = list(dict.fromkeys(f"{s.space}/{s.dataset}" for s in scatters))
    parts = [
        '<div class="controls">',
        _select("fig-group", "space/dataset", groups, "fig", "group"),
        _search("fig", "proxy"),
        "</div>",
        '<p class="caption">x: proxy score (log or symlog when it spans over three decades), y: the target; '
        "colour: #params from the smallest sixth (purple) to the largest (yellow); red rings: the 10 "
        f"worst-predicted cells (largest rank gap); at most {MAX_POINTS:,} dots (a seeded sample)</p>",
    ]
    for group in groups:
        parts.append(f'<div class="group fig" data-group="{esc(group)}"><h3>{esc(group)}</h3><div class="figs">')
        for item in (s for s in scatters if f"{s.space}/{s.dataset}" == group):
            svg = svg_scatter(item, rho=rho.get((item.space, item.dataset, item.proxy)))
            parts.append(f'<figure class="row" data-text="{esc(item.proxy)}">{svg}</figure>')
        parts.append("</div></div>")
    return "".join(parts)


# -- provenance --------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance_section(inputs: Sequence[Path], runs_of) -> str:
    """One block per input CSV: size, sha256, and its sidecar's run entries (every field, nested ones as JSON)."""
    if not inputs:
        return "<p>No input files named.</p>"
    parts = []
    for path in inputs:
        path = Path(path)
        runs = runs_of(path)
        size = path.stat().st_size if path.is_file() else 0
        digest = _sha256(path) if path.is_file() else "missing"
        summary = f"{esc(path.name)}: {size:,} bytes, sha256 {esc(digest[:16])}..., {len(runs)} run(s) in its sidecar"
        if not runs:
            parts.append(f"<details><summary>{summary} (no provenance sidecar)</summary></details>")
            continue
        fields = list(dict.fromkeys(k for run in runs for k in run))
        rows = [
            {
                k: json.dumps(run[k], sort_keys=True, default=str)
                if isinstance(run.get(k), (dict, list))
                else run.get(k, "")
                for k in fields
            }
            for run in runs
        ]
        table = html_table(pd.DataFrame(rows, columns=fields), table_class="prov")
        parts.append(
            f'<details class="prov-file"><summary>{summary}</summary><p class="caption">{esc(str(path))}; '
            f'sha256 {esc(digest)}</p><div class="wide">{table}</div></details>'
        )
    return "".join(parts)


# -- page --------------------------------------------------------------------------------------------
CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:0 1.5em 3em;color:#1f2328}
h1{font-size:20px;margin:.6em 0 .2em}h2{font-size:17px;border-bottom:1px solid #d0d7de;margin-top:1.6em}
h3{font-size:14px;margin:1em 0 .2em}nav a{margin-right:1em}.caption{color:#57606a;margin:.2em 0 .4em}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #d0d7de;padding:2px 6px;text-align:left;
vertical-align:middle;white-space:nowrap}td{max-width:28em;overflow:hidden;text-overflow:ellipsis}
th{background:#f6f8fa;cursor:pointer;position:sticky;top:0}th.asc:after{content:" \\25B2"}
th.desc:after{content:" \\25BC"}.bar{vertical-align:middle;margin-right:4px}.ci{color:#57606a;font-size:11px}
tr.v-differs td{background:#fff5f5}tr.v-not-comparable td{color:#6e7781}.controls{margin:.5em 0}
.controls label{margin-right:1.2em}.figs{display:flex;flex-wrap:wrap;gap:6px}figure{margin:0;
border:1px solid #eaeef2}.scatter text{font-size:10px;fill:#1f2328}.scatter .t{font-size:12px;font-weight:600}
.frame{fill:none;stroke:#d0d7de}.dots{stroke-width:3;stroke-linecap:round;fill:none;opacity:.75}
.worst{fill:none;stroke:#e5000b;stroke-width:1.2}.wide{overflow-x:auto}.hidden{display:none}
"""

JS = """
(function(){
function val(td){var v=td.getAttribute('data-v');return v===null||v===''?null:parseFloat(v);}
document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){
 var table=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th);
 var asc=!th.classList.contains('asc');table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc');});
 th.classList.add(asc?'asc':'desc');var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=a.cells[i],y=b.cells[i],u=val(x),w=val(y),c;
  if(u!==null||w!==null){if(u===null)return 1;if(w===null)return -1;c=u-w;}
  else{c=x.textContent.localeCompare(y.textContent);}return asc?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});});});
function colIndex(table,name){var ths=table.tHead.rows[0].cells;
 for(var i=0;i<ths.length;i++){if(ths[i].getAttribute('data-col')===name)return i;}return -1;}
function apply(target){var controls=document.querySelectorAll('.filter[data-target="'+target+'"]');
 document.querySelectorAll('.group.'+target).forEach(function(group){var showGroup=true,shown=0;
  controls.forEach(function(c){if(c.getAttribute('data-col')==='group'&&c.value&&c.value!==group.getAttribute('data-group'))showGroup=false;});
  group.querySelectorAll('tbody tr, figure.row').forEach(function(row){var ok=true;
   controls.forEach(function(c){var col=c.getAttribute('data-col'),want=c.value.trim().toLowerCase();
    if(!want||col==='group')return;
    if(col===''){var t=(row.getAttribute('data-text')||row.textContent).toLowerCase();if(t.indexOf(want)<0)ok=false;return;}
    var table=row.closest('table');if(!table)return;var i=colIndex(table,col);
    if(i>=0&&row.cells[i].textContent.trim().toLowerCase()!==want)ok=false;});
   row.classList.toggle('hidden',!ok);if(ok)shown++;});
  group.classList.toggle('hidden',!showGroup||shown===0);});
 var count=document.getElementById('count-'+target);if(count){
  count.textContent=document.querySelectorAll('.group.'+target+':not(.hidden) tbody tr:not(.hidden), .group.'+target+':not(.hidden) figure.row:not(.hidden)').length+' shown';}}
document.querySelectorAll('.filter').forEach(function(c){c.addEventListener('input',function(){apply(c.getAttribute('data-target'));});});
document.body.setAttribute('data-ready','1');
})();
"""

# records uncaught errors and console.error calls in the DOM, where a headless browser's --dump-dom shows them
ERROR_TRAP = """
(function(){function note(m){var r=document.documentElement,p=r.getAttribute('data-js-errors')||'';
r.setAttribute('data-js-errors',p+(p?' | ':'')+m);}
window.addEventListener('error',function(e){note('error: '+(e.message||e.type));});
window.addEventListener('unhandledrejection',function(e){note('rejection: '+e.reason);});
var ce=console.error;console.error=function(){note('console.error: '+Array.prototype.join.call(arguments,' '));
return ce.apply(console,arguments);};})();
"""


def render_html(
    *,
    title: str,
    correlations: pd.DataFrame,
    ranks: pd.DataFrame,
    comparison: pd.DataFrame,
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    scatters: Sequence[Scatter],
    inputs: Sequence[Path],
    runs_of,
    captions: Mapping[str, str],
) -> str:
    sections = [
        (
            "leaderboards",
            "Leaderboards",
            captions.get("correlations", ""),
            leaderboards(correlations)
            + (f"<h3>Average rank</h3>{html_table(ranks, table_class='ranks', digits=2)}" if not ranks.empty else ""),
        ),
    ]
    if not paired.empty:
        sections.append(("paired", "Paired comparison", captions.get("paired", ""), paired_section(paired)))
    sections += [
        ("published", "Published vs ours", captions.get("published", ""), published_section(comparison, summary)),
        ("scatters", "Scores against the target", "", scatter_section(scatters, correlations)),
        (
            "provenance",
            "Provenance of the input CSVs",
            "each file's provenance sidecar (<csv>.provenance.json): one row per run",
            provenance_section(inputs, runs_of),
        ),
    ]
    nav = "".join(f'<a href="#{sid}">{esc(name)}</a>' for sid, name, _c, _b in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{esc(name)}</h2>'
        + (f'<p class="caption">{esc(caption)}</p>' if caption else "")
        + f"{content}</section>"
        for sid, name, caption, content in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><script>{ERROR_TRAP}</script><style>{CSS}</style></head>"
        f"<body><h1>{esc(title)}</h1><nav>{nav}</nav>{body}<script>{JS}</script></body></html>\n"
    )


def write_html(path: Path, **parts) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(**parts), encoding="utf-8")
    return path
