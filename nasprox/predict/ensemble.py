"""Ensembles of proxies as a pseudo-proxy in the result schema (``nasprox ensemble``).

Reads result CSVs, aggregates the chosen proxies per (space, dataset) with ``aggregate`` and
returns the input rows plus one row per architecture for each aggregate, under a proxy name such
as ``ensemble:rank-mean(near+meco_opt+zico+synflow)``. The rows have the schema of
``nasprox.storage.schema``, so ``correlate``, ``report``, ``search`` and ``pareto`` read them like
any proxy; the aggregate is higher = better.

Directions: each member's sign comes from the registry (``ProxySpec.higher_is_better``; False
flips it). Proxies registered as raw (``higher_is_better=None``: plain, l2_norm), names the
registry does not know, and other ensembles (``ensemble:*`` rows, +1) are refused unless a sign is
given (``signs``, CLI ``--sign NAME=+1``).

Missing values: an architecture whose row for some member is absent or not ``ok`` is left out of
the ranking; it gets a row with status ``undefined``, score NaN and the reason in ``error`` (so
``correlate`` counts it in ``n_nonfinite``), and the count is reported.

Greedy subset (``method='greedy'``): a seeded labelled split of ``select_labels`` architectures
(with all members finite and a finite target) chooses the subset (``aggregate.greedy_select``,
aggregated with ``base``); those architectures are then removed from the whole output (input rows
and every aggregate), so any table computed on the output is on held-out architectures only. The
labelled indices, the seed and the selection trace are returned for the provenance sidecar.

Named recipes (``recipe=``, CLI ``--recipe``): aggregates with fixed members, each a member list and a
method run by the same code as any other ensemble (``RECIPES``): the published ``az_nas`` (AZ-NAS, Lee &
Ham 2024) and ``vkdnw_agg`` / ``vkdnw_agg_mbv2`` (VKDNW, Tybl & Neumann 2025), fixed by their authors' code,
and nasprox's own label-free rule ``az_near_meco``, fixed before it was scored on any labelled cell (members
chosen without the labels they are judged on); all ``log-rank``. Their authors rank every architecture, a
member's -inf included (the proxies map a
NaN component to -inf, status ``nonfinite``): with ``floor_neg_inf`` such a member value is kept, below
every finite one and tied with the other -inf values (``scipy.stats.rankdata``'s average rank of
-inf), instead of leaving the architecture out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasprox.core import PROXIES, NasproxError
from nasprox.predict.aggregate import METHODS, aggregate, greedy_select
from nasprox.stats import default_target, pivot_results, read_results, target_values
from nasprox.storage.csv_store import header_for
from nasprox.storage.schema import GT_PREFIX

GREEDY = "greedy"
ALL_METHODS = (*METHODS, GREEDY)
PREFIX = "ensemble:"


# -- directions -----------------------------------------------------------------------------------
def parse_signs(items: Iterable[str]) -> dict[str, float]:
    """``['l2_norm=-1', 'plain=+1']`` -> {name: sign}."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or value not in ("+1", "1", "-1", "+", "-"):
            raise NasproxError(f"cannot read sign '{item}' (use NAME=+1 or NAME=-1)")
        out[name] = -1.0 if value.startswith("-") else 1.0
    return out


def proxy_sign(name: str, overrides: dict[str, float]) -> float:
    """+1 / -1 for ``name``: an explicit override, else the registry's ``higher_is_better``."""
    if name in overrides:
        return overrides[name]
    if name in PROXIES:
        direction = PROXIES.get(name).higher_is_better
        if direction is None:
            raise NasproxError(
                f"proxy {name} is reported raw (no direction in the registry); give its sign with "
                f"--sign {name}=+1 or --sign {name}=-1, or leave it out"
            )
        return 1.0 if direction else -1.0
    what = "an ensemble (higher is better)" if name.startswith(PREFIX) else "not a registered proxy"
    raise NasproxError(f"'{name}' is {what}; give its direction with --sign '{name}=+1' (or -1), or leave it out")


def default_proxies(present: Sequence[str], overrides: dict[str, float]) -> tuple[list[str], list[str]]:
    """Proxies with a known direction among ``present`` (used when none are named), and the rest."""
    chosen, skipped = [], []
    for name in present:
        try:
            proxy_sign(name, overrides)
        except NasproxError:
            skipped.append(name)
        else:
            chosen.append(name)
    return chosen, skipped


def ensemble_name(method: str, members: Sequence[str], base: str = "rank-mean") -> str:
    label = f"{GREEDY}-{base}" if method == GREEDY else method
    return f"{PREFIX}{label}({'+'.join(members)})"


# -- named recipes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    name: str
    members: tuple[str, ...]
    method: str
    source: str  # where the members and the aggregation are defined
    floor_neg_inf: bool = True  # a member's -inf (status nonfinite) ranks lowest instead of dropping the arch


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "az_nas",
            ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
            "log-rank",
            "cvlab-yonsei/AZ-NAS:NB201/tss_general.ipynb (rank_agg = sum of log(rankdata(s) / n) over FLOPs "
            "and the three components); docs/reproduction.md",
        ),
        Recipe(
            "vkdnw_agg",
            ("vkdnw_single", "jacob_cov", "az_expressivity", "az_trainability", "az_complexity"),
            "log-rank",
            "ondratybl/VKDNW@2b67433^:NB201/tss_utils.py:392-394 (get_scores, vkdnw_comb_rank = log(dense rank of "
            "(vkdnw_dim, vkdnw_entropy)) + log rank(expressivity) + log rank(trainability) + log rank(flops) + "
            "log rank(jacov), pandas average ranks; also paper_preparation.ipynb, 'Ablation: add components'). "
            "Differences: vkdnw_single is ranked by average rank, not dense (identical unless two cells tie on "
            "(vkdnw_dim, entropy)); jacob_cov keeps the space's init where the authors' jacov re-initialises "
            "Kaiming-normal fan-in (compute_jacov_score.py:72 at 779a3a8) and fills a NaN jacov with the "
            "column's minimum; docs/reproduction.md",
        ),
        Recipe(
            "vkdnw_agg_mbv2",
            ("az_complexity", "az_expressivity", "az_progressivity", "vkdnw", "az_trainability"),
            "log-rank",
            "ondratybl/VKDNW:ImageNet_MBV2/evolution_search_vkdnw.py (the search's ranking: complexity, "
            "expressivity, progressivity, vkdnw_entropy, trainability)",
        ),
        Recipe(
            "az_near_meco",
            ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity", "near", "meco_opt"),
            "log-rank",
            "nasprox's label-free rule, written down 2026-12-07 before it was computed on any dataset: every AZ-NAS "
            "component plus NEAR and MeCo (meco_opt), aggregated as AZ-NAS aggregates (VKDNW left out: its NB201 "
            "input was then unresolved); docs/reproduction.md",
        ),
    )
}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise NasproxError(f"unknown ensemble recipe '{name}' (choose from {', '.join(RECIPES)})")
    return RECIPES[name]


def _neg_inf_rows(raw: pd.DataFrame, members: Sequence[str], sign: np.ndarray) -> set[tuple[str, str, str, str]]:
    """(space, dataset, arch, proxy) of member rows whose score is the worst infinity (status nonfinite)."""
    if raw.empty or "status" not in raw:
        return set()
    sub = raw[(raw["status"] == "nonfinite") & raw["proxy"].isin(members)]
    worst = {m: (-np.inf if s > 0 else np.inf) for m, s in zip(members, sign)}
    score = pd.to_numeric(sub["score"], errors="coerce")
    sub = sub[score.to_numpy() == sub["proxy"].map(worst).to_numpy(dtype=float)]
    return set(zip(sub["space"], sub["dataset"], sub["arch"], sub["proxy"]))


# -- building the rows ------------------------------------------------------------------------------
@dataclass
class EnsembleResult:
    rows: pd.DataFrame  # every output row, all values as CSV strings, columns = header
    header: list[str]
    info: list[dict] = field(default_factory=list)  # one entry per (space, dataset, aggregate)
    messages: list[str] = field(default_factory=list)  # user-facing notes for stderr


def _read_raw(paths: Sequence[Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "nan" if not np.isfinite(value) else repr(float(value))
    return str(value)


def _config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _group_seed(meta: pd.DataFrame, space: str, dataset: str) -> int:
    """The seed the members of one (space, dataset) were scored with, when they agree on one; else -1."""
    try:
        seeds = meta.xs((space, dataset), level=(0, 1))["seed"]
    except KeyError:
        return -1
    found = pd.unique(pd.to_numeric(seeds, errors="coerce").dropna())
    found = [s for s in found if s != -1]
    return int(found[0]) if len(found) == 1 else -1


def _member_meta(long: pd.DataFrame, members: Sequence[str]) -> pd.DataFrame:
    """Per (space, dataset, arch): summed member seconds, max memory, and the common seed/batch/device."""
    sub = long[long["proxy"].isin(members)].copy()
    for col in ("seconds", "peak_mem_mb", "batch_size", "seed"):
        sub[col] = pd.to_numeric(sub[col], errors="coerce") if col in sub else np.nan
    if "device" not in sub:
        sub["device"] = ""
    per_proxy = sub.groupby(["space", "dataset", "arch", "proxy"], sort=False).agg(
        seconds=("seconds", "mean"), peak_mem_mb=("peak_mem_mb", "max")
    )
    summed = per_proxy.groupby(level=[0, 1, 2]).agg(seconds=("seconds", "sum"), peak_mem_mb=("peak_mem_mb", "max"))

    def common(values, empty):
        uniq = pd.unique(values.dropna())
        return uniq[0] if len(uniq) == 1 else empty

    others = sub.groupby(["space", "dataset", "arch"], sort=False).agg(
        seed=("seed", lambda v: common(v, -1)),
        batch_size=("batch_size", lambda v: common(v, 0)),
        device=("device", lambda v: common(v.replace("", np.nan), "mixed")),
    )
    return summed.join(others)


def _member_statuses(long: pd.DataFrame, members: Sequence[str]) -> dict[tuple[str, str, str, str], list[str]]:
    """{(space, dataset, arch, proxy): its rows' statuses} for the members, read once (a lookup per undefined
    arch; filtering the whole table per arch took minutes on a 15,625-cell population)."""
    sub = long[long["proxy"].isin(members)]
    statuses = sub["status"].fillna("").astype(str)
    keys = zip(sub["space"], sub["dataset"], sub["arch"], sub["proxy"])
    out: dict[tuple[str, str, str, str], list[str]] = {}
    for key, status in zip(keys, statuses):
        out.setdefault(key, []).append(status)
    return out


def _missing_reason(
    statuses_of: dict[tuple[str, str, str, str], list[str]], space: str, dataset: str, arch: str, members: Sequence[str]
) -> str:
    parts = []
    for m in members:
        statuses = statuses_of.get((space, dataset, arch, m), [])
        if not statuses:
            parts.append(f"{m} (no row)")
        elif "ok" not in statuses:
            parts.append(f"{m} ({'/'.join(sorted(set(statuses)))})")
        else:
            parts.append(f"{m} (non-finite)")
    return "missing member values: " + ", ".join(parts)


def build_ensembles(
    paths: Sequence[Path],
    *,
    proxies: Sequence[str] | None,
    methods: Sequence[str],
    signs: dict[str, float] | None = None,
    name: str | None = None,
    base: str = "rank-mean",
    select_labels: int = 100,
    seed: int = 0,
    target: str | None = None,
    only_ensemble: bool = False,
    recipe_name: str | None = None,
) -> EnsembleResult:
    """All output rows for ``nasprox ensemble`` (module doc)."""
    signs = dict(signs or {})
    floor_neg_inf = False
    if recipe_name is not None:
        chosen_recipe = recipe(recipe_name)
        if proxies:
            raise NasproxError(f"--recipe {recipe_name} fixes its members; leave out --proxies")
        if methods and list(methods) != [chosen_recipe.method]:
            raise NasproxError(f"--recipe {recipe_name} fixes its method ({chosen_recipe.method}); leave out --method")
        proxies, methods = list(chosen_recipe.members), [chosen_recipe.method]
        name = name or f"{PREFIX}{chosen_recipe.name}"
        floor_neg_inf = chosen_recipe.floor_neg_inf
    methods = list(methods) or ["rank-mean"]
    methods = list(dict.fromkeys(methods))
    for m in methods:
        if m not in ALL_METHODS:
            raise NasproxError(f"unknown ensemble method '{m}' (choose from {', '.join(ALL_METHODS)})")
    if base not in METHODS:
        raise NasproxError(f"unknown base aggregation '{base}' for greedy (choose from {', '.join(METHODS)})")
    if name and len(methods) > 1:
        raise NasproxError("--name names one aggregate; give a single --method with it")
    paths = [Path(p) for p in paths]
    long = read_results(paths)
    table = pivot_results(long)
    raw = _read_raw(paths)
    messages: list[str] = []
    if proxies:
        members = []
        for p in proxies:
            found = p if p in table.proxies else (PROXIES.canonical(p) if p in PROXIES else p)
            if found not in table.proxies:
                raise NasproxError(f"proxy '{p}' is not in the results (they hold: {', '.join(table.proxies)})")
            members.append(found)
        members = list(dict.fromkeys(members))
    else:
        members, skipped = default_proxies([p for p in table.proxies if not p.startswith(PREFIX)], signs)
        if skipped:
            messages.append(f"left out (no direction; give --sign NAME=+1 to include): {', '.join(skipped)}")
    if len(members) < 2 and methods != [GREEDY]:
        raise NasproxError(f"an ensemble needs at least 2 proxies (got {', '.join(members) or 'none'})")
    sign = np.array([proxy_sign(m, signs) for m in members])
    for m in members:
        if (
            m in signs
            and m in PROXIES
            and PROXIES.get(m).higher_is_better is not None
            and (signs[m] > 0) != PROXIES.get(m).higher_is_better
        ):
            messages.append(f"note: --sign {m} overrides its registry direction")

    gt_fields = [c[len(GT_PREFIX) :] for c in raw.columns if c.startswith(GT_PREFIX)]
    header = header_for(gt_fields)
    header += [c for c in raw.columns if c not in header]
    meta = _member_meta(long, members)
    new_rows: list[dict] = []
    info: list[dict] = []
    drop_archs: set[tuple[str, str, str]] = set()

    for space, dataset, sub, present in table.groups():
        absent = [m for m in members if m not in present]
        if absent:
            raise NasproxError(f"{space}/{dataset} has no rows for {', '.join(absent)}")
        values = sub[members].to_numpy(dtype=float, copy=True)
        if floor_neg_inf:
            worst = _neg_inf_rows(raw, members, sign)
            for j, m in enumerate(members):
                hit = np.array([(space, dataset, a, m) in worst for a in sub["arch"]], dtype=bool)
                values[hit, j] = -np.inf * sign[j]
        floored = np.isneginf(values * sign)
        complete = np.all(np.isfinite(values) | floored, axis=1)
        n_drop = int((~complete).sum())
        if n_drop:
            messages.append(
                f"{space}/{dataset}: {n_drop} of {len(sub)} archs miss a member value "
                f"(absent or not ok); left out of the ranking, written as status 'undefined'"
            )
        oriented = values * sign
        if floored.any():  # below every finite value of its column, tied (module doc)
            finite = np.where(np.isfinite(oriented) & complete[:, None], oriented, np.nan)
            low = np.nan_to_num(np.nanmin(finite, axis=0, initial=np.inf), posinf=0.0) - 1.0
            oriented = np.where(floored, low[None, :], oriented)
            n_floor = int((floored & complete[:, None]).any(axis=1).sum())
            messages.append(f"{space}/{dataset}: {n_floor} archs have a member at -inf, ranked lowest in it (tied)")
        rank_rows = complete.copy()  # rows that are ranked
        greedy_info: dict[str, Any] = {}  # filled below when GREEDY is among the methods
        if GREEDY in methods:
            tgt = target or default_target(space)
            gt = target_values(sub, space, tgt)
            eligible = np.flatnonzero(complete & np.isfinite(gt))
            if select_labels >= eligible.size:
                raise NasproxError(
                    f"{space}/{dataset}: --select-labels {select_labels} leaves no held-out archs "
                    f"({eligible.size} have all members and a finite {tgt})"
                )
            rng = np.random.default_rng(seed)
            labelled = np.sort(rng.choice(eligible, size=select_labels, replace=False))
            selection = greedy_select(oriented, gt, labelled, method=base)
            chosen = [members[j] for j in selection.chosen]
            rank_rows[labelled] = False
            for i in labelled:
                drop_archs.add((space, dataset, sub["arch"].iloc[i]))
            greedy_info = {
                "target": tgt,
                "seed": seed,
                "select_labels": int(select_labels),
                "base": base,
                "labelled_arch_index": [int(sub["arch_index"].iloc[i]) for i in labelled],
                "chosen": chosen,
                "trace_spearman": list(selection.trace),
                "candidates_spearman": {str(k): dict(zip(members, v)) for k, v in selection.candidates.items()},
            }
            messages.append(
                f"{space}/{dataset}: greedy ({base}) on {select_labels} labelled archs (seed {seed}) chose "
                f"{' + '.join(chosen)} (labelled rho {selection.trace[-1]:.3f}); those archs are "
                f"removed from the output, which holds {int(rank_rows.sum())} held-out archs"
            )
        for method in methods:
            if method == GREEDY:
                cols = [members.index(c) for c in greedy_info["chosen"]]
                scores = aggregate(oriented[rank_rows][:, cols], base)
                used = greedy_info["chosen"]
            else:
                scores = aggregate(oriented[rank_rows], method)
                used = members
            proxy_name = name or ensemble_name(method, used, base)
            config = {
                "method": method,
                "base": base if method == GREEDY else None,
                "members": list(used),
                "signs": {m: float(sign[members.index(m)]) for m in used},
                "data_configs": sorted(set(long.loc[long["proxy"].isin(used), "data_config"].astype(str))),
            }
            if method == GREEDY:
                config["labelled"] = greedy_info["labelled_arch_index"]
            data_config = _config_hash(config)
            score_of = dict(zip(sub.index[rank_rows], scores))
            # a cell none of the members scored has no seed of its own: its (undefined) row takes the members' seed
            # of this group, so the ensemble column is one setting (correlate refuses a column of two seeds)
            group_seed = _group_seed(meta, space, dataset)
            statuses_of = _member_statuses(long, used)
            for idx, row in sub.iterrows():
                key = (space, dataset, row["arch"])
                if key in drop_archs:
                    continue
                # pandas-stubs has no .loc overload for a full MultiIndex key given as a tuple
                member_meta = meta.loc[key] if key in meta.index else None  # type: ignore[index]
                ok = idx in score_of
                rec = {
                    "space": space,
                    "arch_index": int(row["arch_index"]),
                    "arch": row["arch"],
                    "dataset": dataset,
                    "proxy": proxy_name,
                    "proxy_version": "1",
                    "seed": int(member_meta["seed"])
                    if member_meta is not None and pd.notna(member_meta["seed"])
                    else group_seed,
                    "data_config": data_config,
                    "score": score_of.get(idx, float("nan")),
                    "status": "ok" if ok else "undefined",
                    "error": "" if ok else _missing_reason(statuses_of, space, dataset, row["arch"], used),
                    "seconds": round(float(member_meta["seconds"]), 6)
                    if member_meta is not None and pd.notna(member_meta["seconds"])
                    else 0.0,
                    "peak_mem_mb": round(float(member_meta["peak_mem_mb"]), 3)
                    if member_meta is not None and pd.notna(member_meta["peak_mem_mb"])
                    else 0.0,
                    "batch_size": int(member_meta["batch_size"])
                    if member_meta is not None and pd.notna(member_meta["batch_size"])
                    else 0,
                    "device": str(member_meta["device"])
                    if member_meta is not None and pd.notna(member_meta["device"])
                    else "",
                }
                for gt_col in table.gt_columns:
                    rec[gt_col] = row[gt_col]
                new_rows.append({k: _fmt(v) for k, v in rec.items()})
            entry = {
                "space": space,
                "dataset": dataset,
                "proxy": proxy_name,
                "method": method,
                "members": list(used),
                "signs": config["signs"],
                "n_ranked": int(rank_rows.sum()),
                "n_undefined": int((~complete).sum()),
                "data_config": data_config,
            }
            if method == GREEDY:
                entry["greedy"] = greedy_info
            info.append(entry)

    kept = raw.iloc[:0] if only_ensemble else raw
    if drop_archs and not only_ensemble:
        keys = list(zip(raw["space"], raw["dataset"], raw["arch"]))
        kept = raw[[k not in drop_archs for k in keys]]
    out = pd.concat([kept, pd.DataFrame(new_rows)], ignore_index=True).reindex(columns=header).fillna("")
    return EnsembleResult(out, header, info, messages)


def write_rows(result: EnsembleResult, out: Path) -> None:
    """Write the rows (strings, schema header) to ``out`` atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    result.rows.to_csv(tmp, index=False, columns=result.header, lineterminator="\n")
    tmp.replace(out)
