"""``nasprox spaces`` and ``nasprox proxies``: what exists, with metadata."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, user_errors
from nasprox.core import PROXIES, SPACES
from nasprox.core.sources import DATASET_SOURCES, describe_files

SPACES_EXAMPLES = """
Examples:

  nasprox spaces

  nasprox spaces --details nats-sss     (the files it reads, with sources)

  nasprox score --space nats-sss --proxy params --synthetic --archs 0:100 \\
      --benchmark ~/NATS-sss-v1_0-50262-simple

Where to get each benchmark and dataset file: docs/data.md.
"""


@user_errors
def spaces(
    details: Annotated[Optional[str], typer.Option("--details", help="print everything about one space")] = None,
    plugin: Plugins = [],
) -> None:
    """List search spaces (size, datasets); --details SPACE for fields and the files it reads."""
    if details:
        sp = SPACES.get(details)()
        try:
            size = str(len(sp))
        except Exception:  # nb101 / nb-nlp are enumerated from their benchmark files
            size = "known once --benchmark files are given (see files)"
        inputs = list(dict.fromkeys(DATASET_SOURCES[d] for d in sp.datasets if d in DATASET_SOURCES))
        lines = [
            f"space:        {sp.name}",
            f"description:  {sp.description}",
            f"size:         {size}",
            f"datasets:     {', '.join(sp.datasets)}",
            f"ground truth: {', '.join(sp.gt_fields) or '-'} (default target {sp.default_target}"
            + (
                f"; lower is better: {', '.join(sorted(sp.lower_is_better_targets))})"
                if sp.lower_is_better_targets
                else ")"
            ),
            *(
                [f"more fields:  {', '.join(sp.extra_gt_fields)} (only from a ground-truth file that has them)"]
                if sp.extra_gt_fields
                else []
            ),
            f"files:        {sp.files_help or '-'}",
            f"inputs:       {describe_files(*inputs) if inputs else '-'}",
        ]
        typer.echo("\n".join(lines))
        return
    rows = [("space", "size", "datasets", "description")]
    for name in SPACES.names():
        sp = SPACES.get(name)()
        try:
            size = f"{len(sp):,}"
        except Exception:  # nb101 / nb-nlp are enumerated from their benchmark files
            size = "?"
        rows.append((name, size, ", ".join(sp.datasets), sp.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, size, datasets, description in rows:
        typer.echo(f"{name:<{widths[0]}}  {size:>{widths[1]}}  {datasets:<{widths[2]}}  {description}")
    typer.echo("(size ?: known once --benchmark files are given; `nasprox spaces --details SPACE`)")


@user_errors
def proxies(
    details: Annotated[
        Optional[str], typer.Option("--details", help="print everything about one proxy, with its options")
    ] = None,
    plugin: Plugins = [],
) -> None:
    """List proxies with cost class and whether each needs labels / gradients / real data; --details NAME for one.

    Examples:

      nasprox proxies

      nasprox proxies --details near      (options for --proxy-opt near.NAME=VALUE)
    """
    if details:
        typer.echo(_proxy_details(PROXIES.get(details)))
        return
    typer.echo(f"{'name':<16} {'cost':<13} {'labels':<7} {'grads':<6} {'data':<6} {'bn':<8} {'sign':<5} description")
    for name, spec in PROXIES.items():
        sign = {True: "up", False: "down", None: "raw"}[spec.higher_is_better]
        typer.echo(
            f"{name:<16} {spec.cost:<13} {'yes' if spec.needs_labels else 'no':<7} {'yes' if spec.needs_gradients else 'no':<6} "
            f"{'real' if spec.needs_real_data else 'none':<6} {spec.bn:<8} {sign:<5} {spec.description}"
        )


def _proxy_details(spec) -> str:
    """Everything about one proxy: metadata, then its options table (name, type, default, old names, help)."""
    yes = {True: "yes", False: "no"}
    direction = {True: "higher is better", False: "lower is better", None: "raw (no direction)"}[spec.higher_is_better]
    batch = str(spec.default_batch_size) if spec.default_batch_size else "64 (run default)"
    lines = [
        f"proxy:          {spec.name}",
        f"description:    {spec.description}",
        f"version:        {spec.version}",
        f"direction:      {direction}",
        f"needs labels:   {yes[spec.needs_labels]}",
        f"needs grads:    {yes[spec.needs_gradients]}",
        f"needs data:     {'real input batches' if spec.needs_real_data else 'no (synthetic inputs or none)'}",
        f"bn handling:    {spec.bn}",
        f"cost class:     {spec.cost}",
        f"network:        {'the built one, shared (leaves it unchanged)' if spec.leaves_model_unchanged else 'its own copy'}",
        f"batch size:     {batch}  (reference; --batch-size or --proxy-opt {spec.name}.batch_size=N overrides)",
        f"aliases:        {', '.join(spec.aliases) or '-'}",
        "",
        f"options (--proxy-opt {spec.name}.NAME=VALUE):",
    ]
    rows = [("name", "type", "default", "old names", "help")]
    for option in spec.all_options.values():
        default = "-" if option.default is None else str(option.default)
        default = default.lower() if option.type is bool else default
        kind = option.type_name + (f" {{{', '.join(str(c) for c in option.choices)}}}" if option.choices else "")
        rows.append((option.name, kind, default, ", ".join(option.aliases) or "-", option.help))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command(epilog=SPACES_EXAMPLES)(spaces)
    app.command()(proxies)
