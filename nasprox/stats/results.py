"""Read result CSVs (schema: ``nasprox.storage.schema``) into one wide table per architecture.

Long form on disk: one row per (architecture, proxy). Wide form here: one row per
(space, dataset, arch) with a column per proxy plus the ``gt_*`` columns.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from nasprox.core import SETTING_SEPARATOR, SPACES, NasproxError, RegistryError, batch_setting_column
from nasprox.storage.schema import GT_PREFIX, KEY_COLUMNS

REQUIRED_COLUMNS = ("space", "arch_index", "arch", "dataset", "proxy", "score", "status")
ROW_KEYS = ("space", "dataset", "arch")
FALLBACK_TARGET = "test_acc"


def read_results(paths: Iterable[str | Path], notes: list[str] | None = None) -> pd.DataFrame:
    """Concatenate result CSVs (long form). Scores of rows whose status is not ``ok`` become NaN.

    Rows repeating a result key already read (two processes once wrote one file; a file given twice) are
    dropped when their score and status agree, and refused when they disagree. What was dropped is
    appended to ``notes`` (a warning when no list is given)."""
    frames = []
    paths_seen: list[Path] = []
    for path in map(Path, paths):
        paths_seen.append(path)
        if not path.is_file():
            raise NasproxError(f"result file not found: {path}")
        try:
            data = path.read_bytes()
            complete = io.BytesIO(data[: data.rfind(b"\n") + 1])  # a run still writing: its torn last line is no row
            frame = pd.read_csv(
                complete,
                dtype={
                    "space": str,
                    "arch": str,
                    "dataset": str,
                    "proxy": str,
                    "data_config": str,
                    "proxy_version": str,
                    "status": str,
                    "error": str,
                },
            )
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise NasproxError(f"cannot parse {path}: {first_line}") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise NasproxError(f"{path} is not a nasprox result CSV: missing column(s) {', '.join(missing)}")
        frame["score"] = pd.to_numeric(frame["score"], errors="coerce")
        for col in (c for c in frame.columns if c.startswith(GT_PREFIX)):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        frames.append(frame)
    if not frames:
        raise NasproxError("no result files given")
    long = pd.concat(frames, ignore_index=True)
    if long.empty:
        raise NasproxError(f"no result rows in {', '.join(map(str, paths_seen))} (only a header): nothing to correlate")
    long.loc[long["status"].fillna("") != "ok", "score"] = np.nan
    long, dropped = _without_repeated_keys(long)
    if dropped:
        _note(notes, dropped)
    return long


def _note(notes: list[str] | None, message: str) -> None:
    if notes is None:
        warnings.warn(message, stacklevel=3)
    else:
        notes.append(message)


def _without_repeated_keys(long: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``long`` with each result key once, and a line saying what was dropped (empty when nothing was)."""
    key = [c for c in KEY_COLUMNS if c in long.columns]
    repeated = long.duplicated(key, keep=False)
    if not repeated.any():
        return long, ""
    rows = long[repeated]
    variants = rows.groupby(key, dropna=False)[["score", "status"]].nunique(dropna=False).max(axis=1)
    if (variants > 1).any():
        clash = rows.set_index(key).loc[variants[variants > 1].index[0]]
        first = dict(zip(key, variants[variants > 1].index[0]))
        raise NasproxError(
            f"the results hold one result key twice with different scores: {first['proxy']} on "
            f"{first['space']}/{first['dataset']} {first['arch']} (seed {first['seed']}) scored "
            f"{' and '.join(f'{v:g}' if v == v else 'nan' for v in clash['score'].tolist()[:2])}; "
            "keep one of the files or rows"
        )
    duplicate = long.duplicated(key, keep="first")
    per_proxy = long[duplicate].groupby("proxy").size()
    detail = ", ".join(f"{proxy} {n}" for proxy, n in per_proxy.items())
    message = (
        f"dropped {int(duplicate.sum())} row(s) repeating a result key already read (same score; {detail}): "
        "a file given twice, or two processes that wrote one file"
    )
    return long[~duplicate].reset_index(drop=True), message


def failure_notes(long: pd.DataFrame) -> list[str]:
    """One line per (space, dataset, proxy) with rows but not one ``ok``: its correlations are NaN and it has
    no figure, and the line says why (the most common status and error)."""
    out = []
    for (space, dataset, proxy), group in long.groupby(["space", "dataset", "proxy"], sort=True):
        if (group["status"] == "ok").any():
            continue
        statuses = group["status"].fillna("?").value_counts()
        errors = group["error"].dropna() if "error" in group.columns else pd.Series(dtype=str)
        errors = errors[errors.str.strip() != ""]
        common = f"; most common error ({int(errors.value_counts().iloc[0])}x): {errors.value_counts().index[0][:200]}"
        out.append(
            f"{space}/{dataset}: {proxy} has no ok row ({', '.join(f'{n} {s}' for s, n in statuses.items())})"
            f"{common if len(errors) else ''}; its correlations are NaN and it gets no figure"
        )
    return out


@dataclass(frozen=True)
class ResultTable:
    """Wide results: ``frame`` has ROW_KEYS, ``arch_index``, the gt columns and one column per proxy."""

    frame: pd.DataFrame
    proxies: tuple[str, ...]
    gt_columns: tuple[str, ...]
    # proxies with at least one row (even a failed one) per (space, dataset)
    present: dict[tuple[str, str], tuple[str, ...]]
    # target -> the target used instead in a (space, dataset) group that has no value of it (--stand-in)
    stand_ins: Mapping[str, str] = field(default_factory=dict)
    # (space, dataset, proxy column) -> the batch sizes its rows record using (several after an OOM back-off)
    batches: Mapping[tuple[str, str, str], tuple[int, ...]] = field(default_factory=dict)
    # what reading changed or found unusable, one line each for the user (repeated rows dropped, failed proxies)
    notes: tuple[str, ...] = ()

    def groups(self):
        """(space, dataset, sub-frame, proxies scored there) per (space, dataset), sorted."""
        for (space, dataset), sub in self.frame.groupby(["space", "dataset"], sort=True):
            yield space, dataset, sub, self.present.get((space, dataset), ())

    def target_for(self, space: str, sub: pd.DataFrame, target: str | None = None) -> str:
        """The target a group is correlated against: ``target`` (default: the space's), or its stand-in
        where the group has no value of it and the stand-in has some. Callers report the name returned."""
        wanted = target or default_target(space)
        stand_in = self.stand_ins.get(wanted[len(GT_PREFIX) :] if wanted.startswith(GT_PREFIX) else wanted)
        if stand_in is None or _has_values(sub, wanted) or not _has_values(sub, stand_in):
            return wanted
        return stand_in

    def with_stand_ins(self, stand_ins: Mapping[str, str]) -> ResultTable:
        return replace(self, stand_ins=dict(stand_ins))


def _has_values(sub: pd.DataFrame, target: str) -> bool:
    column = target_column(target)
    return column in sub.columns and bool(sub[column].notna().any())


def parse_stand_ins(items: Iterable[str]) -> dict[str, str]:
    """``TARGET=OTHER`` items (``--stand-in test_acc=valid_acc``) as a mapping; one clear error otherwise."""
    out: dict[str, str] = {}
    for item in items:
        wanted, eq, other = (part.strip() for part in item.partition("="))
        if not (eq and wanted and other) or wanted == other:
            raise NasproxError(f"--stand-in '{item}' must look like TARGET=OTHER, e.g. test_acc=valid_acc")
        out[wanted] = other
    return out


SETTING_COLUMNS = ("proxy_version", "seed", "data_config")  # what else, besides the arch, makes a score


def check_one_setting(long: pd.DataFrame) -> None:
    """Refuse (arch, proxy) rows computed under different settings: averaging them would mean something else.

    Rows repeated with the same settings (the same CSV given twice) are fine; their scores are averaged.
    """
    cols = [c for c in SETTING_COLUMNS if c in long.columns]
    if not cols:
        return
    settings = long[["space", "dataset", "proxy", *cols]].astype(str).drop_duplicates()
    clash = settings[settings.duplicated(["space", "dataset", "proxy"], keep=False)]
    if clash.empty:
        return
    space, dataset, proxy = clash.iloc[0][["space", "dataset", "proxy"]]
    rows = clash[(clash["space"] == space) & (clash["dataset"] == dataset) & (clash["proxy"] == proxy)]
    differing = [c for c in cols if rows[c].nunique() > 1]
    values = "; ".join(f"{c} in {{{', '.join(sorted(rows[c].unique()))}}}" for c in differing)
    raise NasproxError(
        f"{proxy} on {space}/{dataset} was scored under different settings ({values}); "
        "give one setting per proxy, or --split-settings to keep them apart as columns"
    )


def _batch_per_config(rows: pd.DataFrame) -> dict[str, int] | None:
    """data_config -> its one batch size, when each config used one batch and no two share it; else None."""
    if "batch_size" not in rows.columns:
        return None
    batches = pd.to_numeric(rows["batch_size"], errors="coerce")
    per_config = batches.groupby(rows["data_config"].astype(str)).unique()
    if not all(len(b) == 1 and np.isfinite(b[0]) for b in per_config):
        return None  # a config with several batches (OOM back-off) or none: the hash is the honest label
    found = {str(config): int(b[0]) for config, b in per_config.items()}
    return found if len(set(found.values())) == len(found) else None


def split_settings(long: pd.DataFrame) -> pd.DataFrame:
    """Rename proxies scored under several settings to ``proxy@setting`` (e.g. ``near@seed=1``) so they stay apart.

    Settings that differ only in their input configuration, one batch size each, are labelled by it
    (``snip@batch=256``): the label a reader understands and the one a paper's protocol names.
    """
    cols = [c for c in SETTING_COLUMNS if c in long.columns]
    long = long.copy()
    for (_space, _dataset, proxy), rows in long.groupby(["space", "dataset", "proxy"], sort=False):
        differing = [c for c in cols if rows[c].astype(str).nunique() > 1]
        if not differing:
            continue
        batch_of = _batch_per_config(rows) if differing == ["data_config"] else None
        if batch_of is not None:
            label = rows["data_config"].astype(str).map(lambda c, b=batch_of, p=proxy: batch_setting_column(p, b[c]))
            long.loc[rows.index, "proxy"] = label
            continue
        label = (
            rows[differing]
            .astype(str)
            .agg(lambda r, differing=differing: ",".join(f"{c}={v}" for c, v in zip(differing, r)), axis=1)
        )
        long.loc[rows.index, "proxy"] = f"{proxy}{SETTING_SEPARATOR}" + label
    return long


def pivot_results(long: pd.DataFrame, keep_settings_apart: bool = False) -> ResultTable:
    """One row per (space, dataset, arch), a column per proxy; ground truth takes the first non-missing value.

    Rows of one (arch, proxy) under different settings (seed, data config, proxy version) are refused, or
    kept apart as ``proxy@setting`` columns with ``keep_settings_apart``.
    """
    if keep_settings_apart:
        long = split_settings(long)
    else:
        check_one_setting(long)
    gt_cols = tuple(c for c in long.columns if c.startswith(GT_PREFIX))
    keys = list(ROW_KEYS)
    scores = long.pivot_table(index=keys, columns="proxy", values="score", aggfunc="mean", dropna=False)
    # pivot_table drops all-NaN (arch, proxy) groups; restore them as NaN columns/rows
    proxies = tuple(sorted(long["proxy"].dropna().unique()))
    scores = scores.reindex(columns=list(proxies))
    meta_cols = ["arch_index", *gt_cols]
    meta = long.groupby(keys, sort=True)[meta_cols].first()
    wide = meta.join(scores, how="left").reset_index()
    wide.columns.name = None
    present = {
        cast(tuple[str, str], key): tuple(sorted(group.dropna().unique()))
        for key, group in long.groupby(["space", "dataset"], sort=True)["proxy"]
    }
    batches: dict[tuple[str, str, str], tuple[int, ...]] = {}
    if "batch_size" in long.columns:
        used = pd.to_numeric(long["batch_size"], errors="coerce")
        for key, group in used.groupby([long["space"], long["dataset"], long["proxy"]], sort=True):
            batches[cast(tuple[str, str, str], key)] = tuple(sorted(int(b) for b in group.dropna().unique()))
    return ResultTable(wide, proxies, gt_cols, present, batches=batches)


def load_results(paths: Iterable[str | Path], keep_settings_apart: bool = False) -> ResultTable:
    """The wide table of result CSVs, with ``notes`` on repeated rows dropped and proxies that never scored."""
    notes: list[str] = []
    long = read_results(paths, notes)
    table = pivot_results(long, keep_settings_apart)
    return replace(table, notes=tuple(notes + failure_notes(long)))


EVERY_SPACE = "*"  # the key of a ground-truth file given without SPACE= (it serves every space of the table)


def with_ground_truth(table: ResultTable, files: Mapping[str, str | Path]) -> ResultTable:
    """``table`` with the ground truth of ``files`` ({space or '*': CSV}, any file ``score --ground-truth``
    reads) in place of what the result CSVs carry, for the fields each file has.

    Scores are untouched; only the ``gt_*`` columns of that space's rows change. An architecture the file
    has no value for gets NaN in that field, so one target never mixes two sources.
    """
    from nasprox.core.types import ArchRef

    frame = table.frame.copy()
    spaces = sorted(frame["space"].unique())
    for key in files:
        if key != EVERY_SPACE and key not in spaces:
            raise NasproxError(f"--ground-truth {key}=...: no results of space '{key}' (results: {', '.join(spaces)})")
    for space_name in spaces:
        path = files.get(space_name, files.get(EVERY_SPACE))
        if path is None:
            continue
        try:  # a fresh instance: configure() adds to what an instance already holds
            space = SPACES.get(space_name)()
        except RegistryError:
            raise NasproxError(f"--ground-truth: space '{space_name}' is not registered here") from None
        space.configure(ground_truth=Path(path))
        rows = frame["space"] == space_name
        archs = zip(frame.loc[rows, "arch_index"], frame.loc[rows, "arch"], frame.loc[rows, "dataset"])
        truths = [
            space.ground_truth(ArchRef(space_name, int(index), str(key)), dataset) for index, key, dataset in archs
        ]
        fields = sorted({name for truth in truths for name in truth})
        if not fields:
            raise NasproxError(f"{path}: no ground truth for any of the {int(rows.sum())} scored {space_name} rows")
        for name in fields:
            frame.loc[rows, GT_PREFIX + name] = [truth.get(name, np.nan) for truth in truths]
    gt_columns = tuple(dict.fromkeys([*table.gt_columns, *(c for c in frame.columns if c.startswith(GT_PREFIX))]))
    return replace(table, frame=frame, gt_columns=gt_columns)


# -- target direction ----------------------------------------------------------------------------
def _space_attrs(space: str):
    """The registered space class/factory result, or None when the space is unknown."""
    try:
        entry = SPACES.get(space)
    except RegistryError:
        return None
    return entry if isinstance(entry, type) else entry()


def default_target(space: str) -> str:
    found = _space_attrs(space)
    return getattr(found, "default_target", FALLBACK_TARGET) if found is not None else FALLBACK_TARGET


def lower_is_better(space: str, target: str) -> bool:
    """Whether ``target`` (without ``gt_``) is lower-is-better in ``space``; unknown spaces: higher."""
    found = _space_attrs(space)
    return found is not None and target in getattr(found, "lower_is_better_targets", frozenset())


def target_column(target: str) -> str:
    return target if target.startswith(GT_PREFIX) else GT_PREFIX + target


def target_values(sub: pd.DataFrame, space: str, target: str) -> np.ndarray:
    """Ground truth oriented so that higher is better (sign flipped for lower-is-better targets)."""
    column = target_column(target)
    if column not in sub.columns:
        available = sorted(c[len(GT_PREFIX) :] for c in sub.columns if c.startswith(GT_PREFIX))
        raise NasproxError(f"target '{target}' not in the results (available: {', '.join(available) or 'none'})")
    values = pd.to_numeric(sub[column], errors="coerce").to_numpy(dtype=float)
    return -values if lower_is_better(space, column[len(GT_PREFIX) :]) else values


def nan_reasons(table: ResultTable, target: str | None = None) -> list[str]:
    """Why correlations of a (space, dataset) group will be NaN, one line each (empty when they are not)."""
    reasons = []
    for space, dataset, sub, _ in table.groups():
        column = target_column(table.target_for(space, sub, target))
        if column not in sub.columns or sub[column].isna().all():
            reasons.append(
                f"{space}/{dataset}: no ground truth '{column[len(GT_PREFIX) :]}' in the results "
                "(score with --ground-truth CSV or --benchmark FILE); correlations are NaN"
            )
        elif sub[column].notna().sum() < 3:
            reasons.append(
                f"{space}/{dataset}: only {int(sub[column].notna().sum())} architecture(s) with ground "
                "truth; correlations need at least 3 and are NaN"
            )
    return reasons
