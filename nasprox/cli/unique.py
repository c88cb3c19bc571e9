"""``nasprox unique-cells``: one architecture per isomorphism class, as an --arch-list file for `score`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, emit_text, user_errors


@user_errors
def unique_cells(
    space: Annotated[str, typer.Option("--space", "-s", help="search space")] = "nats-tss",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="write the list here (default: stdout)")] = None,
    plugin: Plugins = [],
) -> None:
    """List one architecture per class of isomorphic architectures (nats-tss: the 9,445 unique NB201
    cells; each is the cell with its dead edges set to none), in benchmark index order, one arch
    string per line.

    Examples:

      nasprox unique-cells --out results/nb201_unique.txt

      nasprox score --space nats-tss --proxy near --arch-list results/nb201_unique.txt --data-root DIR --out results/tss_unique.csv

    To correlate an existing full run on the unique cells only: `nasprox correlate RUN.csv --population unique`.
    """
    from nasprox.core import SPACES

    sp = SPACES.get(space)()
    chosen: dict[str, str] = {}
    for index in range(len(sp)):
        key = sp.key(index)
        cls = sp.unique_key(key)
        if cls not in chosen or key == cls:  # the class's own key wins, else the lowest index
            chosen[cls] = key
    index_of = {k: i for i, k in enumerate(sp.key(i) for i in range(len(sp)))}
    keys = sorted(chosen.values(), key=index_of.__getitem__)
    emit_text("\n".join(keys) + "\n", out, detail=f"{len(keys)} of {len(sp)} {space} architectures")


def register(app: typer.Typer) -> None:
    app.command("unique-cells")(unique_cells)
