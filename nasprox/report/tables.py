"""Render DataFrames as Markdown, CSV or LaTeX (no optional dependencies such as tabulate)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from nasprox.core import NasproxError

FORMATS = ("md", "csv", "latex")  # also accepted: "markdown" (= md), "tex" (= latex)


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def to_markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v, digits).replace("|", "\\|") for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(frame: pd.DataFrame, digits: int = 3, caption: str = "") -> str:
    align = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in frame.columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + _latex_escape(caption) + "}")
    lines += [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in frame.columns) + r" \\",
        r"\midrule",
    ]
    lines += [
        " & ".join(_latex_escape(_cell(v, digits)) for v in row) + r" \\" for row in frame.itertuples(index=False)
    ]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


def render(frame: pd.DataFrame, fmt: str, digits: int = 3, caption: str = "") -> str:
    if fmt in ("md", "markdown"):
        return to_markdown(frame, digits)
    if fmt == "csv":
        return to_csv(frame)
    if fmt in ("latex", "tex"):
        return to_latex(frame, digits, caption)
    raise NasproxError(f"unknown table format '{fmt}' (choose from {', '.join(FORMATS)})")


def write_table(frame: pd.DataFrame, stem: Path, digits: int = 3, caption: str = "") -> list[Path]:
    """Write ``stem``.md, .csv and .tex; returns the paths."""
    written = []
    for fmt, suffix in (("md", ".md"), ("csv", ".csv"), ("latex", ".tex")):
        path = stem.with_suffix(suffix)
        path.write_text(render(frame, fmt, digits, caption))
        written.append(path)
    return written
