"""Helpers shared by subcommands: one-line user errors with exit code 2, table and file output."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer

from nasprox.core import NasproxError, RegistryError


def user_errors(fn):
    """Turn NasproxError/RegistryError (and unreadable files) into ``nasprox: error: ...`` + exit 2."""

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
