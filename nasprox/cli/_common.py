"""Helpers shared by subcommands: one-line user errors with exit code 2, table and file output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.core import NasproxError, RegistryError, parse_key_values

# options shared by `correlate` and `report` (one definition each, so their help cannot drift apart)
NdcgK = Annotated[int, typer.Option(min=1, help="k of the ndcg_at_k column (gain: graded relevance of the true top-k)")]
PrecisionT = Annotated[
    str, typer.Option(help="T of the precision_at_t column (top-T overlap): a count (10) or a share (5%)")
]
PopulationOpt = Annotated[
    str, typer.Option(help="all | unique: every scored arch, or one per isomorphism class (NB201: 9,445 unique cells)")
]
StandIn = Annotated[
    list[str],
    typer.Option(
        help="TARGET=OTHER (repeatable): where a run has no TARGET (e.g. test_acc), correlate against OTHER "
        "(e.g. valid_acc) instead; the tables name the target used"
    ),
]
RetryFailed = Annotated[
    bool,
    typer.Option(
        "--retry-failed",
        help="score again the rows that failed before (status error, oom or timeout: a crash, out of memory, a "
        "hung worker); they are taken out of the CSV and listed in its provenance. nonfinite/undefined stay",
    ),
]
GroundTruthFiles = Annotated[
    list[str],
    typer.Option(
        "--ground-truth",
        help="SPACE=CSV (repeatable) or CSV: correlate against this ground truth instead of the one the results "
        "carry (any file `score --ground-truth` reads), for the fields it has; an architecture it lacks gets none",
    ),
]
SplitSettings = Annotated[
    bool,
    typer.Option(
        help="keep one proxy scored under different settings (seed, data config, version) apart as proxy@setting "
        "columns instead of refusing"
    ),
]


def _load_plugins(value: list[Path] | None) -> list[Path]:
    """``--plugin`` callback: import each file once, before the command resolves any proxy or space."""
    from nasprox.core.plugins import load_files

    try:
        load_files(value)
    except (NasproxError, RegistryError) as exc:
        typer.echo(f"nasprox: error: {exc}", err=True)
        raise typer.Exit(2) from None
    return value or []


# every command that resolves proxies or spaces takes it (loaded by nasprox.core.plugins, the one loader)
Plugins = Annotated[
    list[Path],
    typer.Option(
        "--plugin",
        is_eager=True,
        callback=_load_plugins,
        help="a Python file defining your own @proxy / @space (repeatable); checked by `nasprox check-plugin FILE`. "
        "Installed packages' `nasprox.plugins` entry points and NASPROX_PLUGINS=module load too",
    ),
]


def user_errors(fn):
    """Turn NasproxError/RegistryError (and unreadable files) into ``nasprox: error: ...`` + exit 2, and Ctrl-C
    into one line (exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NasproxError, RegistryError) as exc:
            typer.echo(f"nasprox: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            typer.echo(f"nasprox: error: {exc.strerror}: {exc.filename}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:  # caught here: Typer would turn it into a silent exit 130
            typer.echo(f"nasprox: {exc or 'interrupted'}", err=True)  # a run says what it kept (api.Interrupted)
            raise typer.Exit(130) from None

    return wrapper


def markdown_is_md(value):
    """``--format`` callback: ``markdown`` is a synonym of ``md`` (every format Enum lists both)."""
    if value is not None and getattr(value, "value", value) == "markdown":
        return type(value)("md")
    return value


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """Create ``path``'s folder, let ``write`` fill ``path``, then report it on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    typer.echo(f"wrote {path}", err=True)


def emit_text(text: str, out: Optional[Path], detail: str = "") -> None:
    """``text`` into ``out`` (its folder created; ``wrote OUT[: detail]`` on stderr), or to stdout as it is."""
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(f"wrote {out}" + (f": {detail}" if detail else ""), err=True)


def emit_table(table, fmt: str, header: str, out: Optional[Path]) -> None:
    """Render ``table`` as ``fmt`` (md gets a ``### header`` line) into ``out``, or to stdout."""
    from nasprox.report.tables import render  # pandas only once a command has a table

    text = render(table, fmt)
    if fmt == "md":
        text = f"### {header}\n\n{text}"
    if out:
        write_file(out, lambda path: path.write_text(text))
    else:
        typer.echo(text.rstrip("\n"))


def echo_published_summary(folder: Path) -> None:
    """One line per published table of a report folder: agreeing cells and the largest unexplained gap."""
    import csv

    summary = Path(folder) / "published_vs_ours_summary.csv"
    if not summary.is_file():
        return
    with open(summary, newline="") as fh:
        for row in csv.DictReader(fh):
            worst = row.get("largest_unexplained") or ""
            line = f"{row['paper']} {row['table']} ({row['kind']}): {row['summary']}"
            typer.echo(line + (f"; largest unexplained: {worst}" if worst else ""), err=True)


def by_key(items: list[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` items (or a bare VALUE for every key, stored under ``EVERY_SPACE``)."""
    from nasprox.stats.results import EVERY_SPACE

    return parse_key_values(items, flag, bare_key=EVERY_SPACE, form="NAME=PATH or PATH")


def load_result_table(
    results: list[Path],
    *,
    split_settings: bool,
    ground_truth: list[str],
    population: str,
    stand_in: list[str],
):
    """The results as ``correlate`` and ``report`` read them: another ground truth swapped in (--ground-truth),
    the population selected and stand-in targets set. Returns (ResultTable, Population)."""
    from nasprox.stats import load_results, parse_stand_ins, select_population, with_ground_truth

    stand_ins = parse_stand_ins(stand_in)  # a malformed flag fails before any file is read
    files = by_key(ground_truth, "--ground-truth")
    table = with_ground_truth(load_results(results, keep_settings_apart=split_settings), files)
    for note in table.notes:
        typer.echo(f"nasprox: warning: {note}", err=True)
    table, pop = select_population(table, population)
    return table.with_stand_ins(stand_ins), pop


def warn_nan_correlations(table, target: str | None) -> None:
    """One warning line per (space, dataset) group whose correlations will be NaN, and why."""
    from nasprox.stats import nan_reasons

    for reason in nan_reasons(table, target):
        typer.echo(f"nasprox: warning: {reason}", err=True)
