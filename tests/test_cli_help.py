"""What a user sees first: examples in --help, `nasprox spaces` as an aligned table, `--format markdown`."""

from __future__ import annotations

import importlib
import re
import typing
from pathlib import Path

import pytest
from test_stats import write_results
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.core import SPACES

runner = CliRunner()


FORMAT_COMMANDS = {  # command -> (module, function) of every subcommand with a --format option
    "correlate": ("nasprox.cli.correlate", "correlate"),
    "search": ("nasprox.cli.search", "search"),
    "pareto": ("nasprox.cli.pareto", "pareto"),
    "select-init": ("nasprox.cli.select_init", "select_init"),
}


def test_every_format_option_is_listed():
    import nasprox.cli as cli

    sources = {p.stem: p.read_text() for p in Path(cli.__file__).parent.glob("*.py")}
    with_format = {name for name, text in sources.items() if '"--format"' in text}
    assert with_format == {module.rsplit(".", 1)[1] for module, _ in FORMAT_COMMANDS.values()}


@pytest.mark.parametrize("command", sorted(FORMAT_COMMANDS))
def test_markdown_is_a_synonym_of_md(command):
    module_name, function = FORMAT_COMMANDS[command]
    module = importlib.import_module(module_name)
    hint = typing.get_type_hints(getattr(module, function), include_extras=True)["fmt"]
    enum, option = typing.get_args(hint)[0], typing.get_args(hint)[1]
    assert {"md", "markdown", "csv"} <= {m.value for m in enum}
    assert option.callback(enum("markdown")) is enum("md")
    assert option.callback(enum("csv")) is enum("csv")


@pytest.mark.parametrize(
    "command,args",
    [
        ("pareto", ["--scores", "missing.csv", "--costs", "missing.csv"]),
        ("select-init", ["--data", "missing.npz"]),
        ("search", ["--space", "nats-tss", "--ground-truth", "missing.csv"]),
    ],
)
def test_markdown_passes_option_parsing(command, args, tmp_path):
    """The commands get past parsing with --format markdown (they then stop at the missing file)."""
    result = runner.invoke(app, [command, *args, "--format", "markdown"])
    assert result.exit_code == 2
    assert "nasprox: error:" in result.output and "--format" not in result.output, result.output


def test_correlate_markdown_equals_md(tmp_path):
    results = write_results(tmp_path / "results.csv")
    md = runner.invoke(app, ["correlate", str(results), "--format", "md"])
    markdown = runner.invoke(app, ["correlate", str(results), "--format", "markdown"])
    assert md.exit_code == 0 and markdown.exit_code == 0, markdown.output
    assert markdown.stdout == md.stdout and "| proxy |" in md.stdout


def test_spaces_prints_a_header_and_aligned_columns():
    result = runner.invoke(app, ["spaces"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header, rows = lines[0], [ln for ln in lines[1:] if not ln.startswith("(")]
    assert header.split() == ["space", "size", "datasets", "description"]
    assert len(rows) == len(SPACES.names())
    starts = {col: header.index(col) for col in ("datasets", "description")}
    size_end = header.index("size") + len("size")
    for name, row in zip(SPACES.names(), rows):
        sp = SPACES.get(name)()
        assert row.startswith(name + " ")
        assert row[starts["datasets"] :].startswith(", ".join(sp.datasets)), row
        assert row[starts["description"] :] == sp.description, row
        assert row[starts["datasets"] - 2] == " " and re.fullmatch(r"\s*[\d,?]+", row[len(name) : size_end]), row


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--help"], ("Examples", "nasprox score", "nasprox correlate", "nasprox report", "docs/data.md")),
        (["spaces", "--help"], ("Examples", "nasprox spaces --details", "docs/data.md")),
        (["proxies", "--help"], ("Examples", "nasprox proxies")),
    ],
)
def test_help_has_examples(args, expected):
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in result.stdout, (text, result.stdout)


def test_details_lists_the_sources_of_files_and_inputs():
    result = runner.invoke(app, ["spaces", "--details", "nats-tss"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "https://github.com/D-X-Y/NATS-Bench" in out and "https://www.cs.toronto.edu/~kriz/cifar.html" in out
    assert re.search(r"^inputs: .*--data-root", out, re.M) and "docs/data.md" in out
