"""``nasprox merge``: combine shard CSVs, refusing duplicates and reporting anything missing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nasprox.cli._common import Plugins, user_errors
from nasprox.core import NasproxError

EXAMPLES = """
Example (4 shards, then merge):

  for i in 0 1 2 3; do nasprox score --space nats-tss --proxy near --dataset cifar10 --data-root DATA \\
      --shard $i/4 --out results/part$i.csv & done; wait

  nasprox merge results/part*.csv --out results/all.csv
"""


def _expected_pairs(paths: list[Path]) -> tuple[set[tuple[str, str]] | None, str]:
    """Rebuild the full (unsharded) selection from the shards' provenance, if they agree on it."""
    from nasprox.core import PROXIES
    from nasprox.engine import make_space
    from nasprox.engine.selection import select_archs
    from nasprox.storage.provenance import read_provenance

    configs, selections, shards = set(), set(), set()
    first = None
    for p in paths:
        runs = read_provenance(p)
        if not runs:
            return None, f"{p} has no provenance sidecar"
        for run in runs:
            first = first or run
            configs.add(run.get("config_hash"))
            selections.add(repr(sorted((run.get("selection") or {}).items())))
            shards.add(run.get("shard", "0/1"))
    if len(configs) != 1 or len(selections) != 1:
        raise NasproxError(
            "the inputs come from different commands (their config or selection differ); merge only shards of one run"
        )
    counts = {s.split("/")[1] for s in shards}
    if len(counts) != 1:
        raise NasproxError(f"the inputs mix shard counts {sorted(counts)}")
    n = int(counts.pop())
    present = {int(s.split("/")[0]) for s in shards}
    if present != set(range(n)):
        missing = sorted(set(range(n)) - present)
        raise NasproxError(f"shards {', '.join(f'{i}/{n}' for i in missing)} are missing from the inputs")
    assert first is not None  # len(configs) == 1, so at least one run was read
    cfg, sel = first["config"], first.get("selection") or {}
    space = make_space(cfg["space"], cfg.get("space_options"))
    if cfg.get("benchmark") or cfg.get("ground_truth"):
        space.configure(
            benchmark=Path(cfg["benchmark"]) if cfg.get("benchmark") else None,
            ground_truth=Path(cfg["ground_truth"]) if cfg.get("ground_truth") else None,
        )
    archs = select_archs(
        space,
        archs=sel.get("archs"),
        sample=sel.get("sample"),
        seed=sel.get("seed", 0),
        arch_list=sel.get("arch_list"),
        subset=sel.get("subset"),
    )
    proxies = [PROXIES.canonical(p) for p in cfg["proxies"]]
    return {(a.key, p) for a in archs for p in proxies}, f"{n} shard(s)"


@user_errors
def merge(
    inputs: Annotated[list[Path], typer.Argument(help="shard CSVs written by `nasprox score --shard i/n`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="merged CSV")],
    allow_missing: Annotated[bool, typer.Option(help="write the merge even if rows are missing")] = False,
    plugin: Plugins = [],
) -> None:
    """Merge shard CSVs; duplicates are an error, missing (arch, proxy) rows are listed."""
    from nasprox.storage.merge import merge_results

    expected, how = _expected_pairs(inputs)
    report = merge_results(inputs, out, expected, allow_missing)
    if expected is None:
        typer.echo(f"merged {report.rows} rows into {out}; completeness not verified ({how})", err=True)
        return
    if report.missing:
        typer.echo(f"nasprox: warning: {len(report.missing)} (arch, proxy) rows missing", err=True)
    typer.echo(
        f"merged {report.rows} rows from {how} into {out}; none duplicated, {len(report.missing)} missing", err=True
    )


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(merge)
