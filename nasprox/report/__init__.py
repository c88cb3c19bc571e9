"""Reports: tables (Markdown, CSV, LaTeX), figures (matplotlib Agg) and published-vs-ours tables."""

from nasprox.report.build import write_report
from nasprox.report.published import METRICS, PublishedEntry, compare_published, load_published, load_published_file
from nasprox.report.tables import FORMATS, render, to_csv, to_latex, to_markdown, write_table

__all__ = [
    "FORMATS",
    "METRICS",
    "PublishedEntry",
    "compare_published",
    "load_published",
    "load_published_file",
    "render",
    "to_csv",
    "to_latex",
    "to_markdown",
    "write_report",
    "write_table",
]
