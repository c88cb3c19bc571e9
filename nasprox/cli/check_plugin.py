"""``nasprox check-plugin FILE``: the registry-wide contract checks on a plug-in's proxies and spaces."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import user_errors
from nasprox.core import NasproxError

EXAMPLES = """
Examples:

  nasprox check-plugin my_proxy.py                      (its proxies on 2 NATS-TSS cells, its spaces)

  nasprox check-plugin my_proxy.py --space nats-sss:cifar100 --space nb101 --archs 3

One line per check (PASS/FAIL); exit code 0 when every check passes, 1 when one fails, 2 for a file
that does not load. The checks are those the package's own proxies pass (nasprox/engine/contract.py).
"""


@user_errors
def check_plugin(
    file: Annotated[Path, typer.Argument(help="the plug-in file (what --plugin takes)")],
    space: Annotated[
        list[str],
        typer.Option(
            help="SPACE or SPACE:DATASET (repeatable) to score its proxies on; default: the plug-in's own spaces, "
            "else nats-tss:cifar10"
        ),
    ] = [],
    archs: Annotated[int, typer.Option(min=1, help="example networks per space")] = 2,
    batch_size: Annotated[
        Optional[int], typer.Option(min=1, help="batch for the checks; default: each proxy's reference batch")
    ] = None,
) -> None:
    """Check a plug-in: finite scores or ProxyUndefined, leaves_model_unchanged kept, the handed batch used."""
    from nasprox.core import SPACES
    from nasprox.core.plugins import load_file
    from nasprox.engine.contract import check_proxy, check_space

    plugin = load_file(file)
    typer.echo(
        f"{file}: sha256 {plugin.sha256[:12]}; proxies: {', '.join(plugin.proxies) or '-'}; "
        f"spaces: {', '.join(plugin.spaces) or '-'}"
    )
    results = [c for name in plugin.spaces for c in check_space(name, archs)]
    targets = []
    for item in space or [f"{s}:{SPACES.get(s).datasets[0]}" for s in plugin.spaces] or ["nats-tss:cifar10"]:
        name, _, dataset = item.partition(":")
        name = SPACES.canonical(name)
        dataset = dataset or SPACES.get(name).datasets[0]
        if dataset not in SPACES.get(name).datasets:
            raise NasproxError(f"--space {item}: {name} has no dataset '{dataset}'")
        targets.append((name, dataset))
    for name in plugin.proxies:
        results += check_proxy(name, targets, archs, batch_size)
    for check in results:
        typer.echo(check.line())
    failed = sum(not c.ok for c in results)
    typer.echo(f"{len(results) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command(name="check-plugin", epilog=EXAMPLES)(check_plugin)
