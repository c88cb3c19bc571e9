"""Which published-vs-ours differences an experiment has explained (``configs/explained_differences.yaml``).

A ``differs`` verdict stays ``differs``: an explanation never changes a verdict or a number. It adds,
beside the cell, which documented experiment accounts for the gap, so that the per-table summary can
name the largest difference nobody has explained yet. File format (``version: 1``)::

    version: 1
    explanations:
      - id: target
        summary: "the paper correlated against one seed's validation accuracy"
        evidence: docs/reproduction.md, item 1
        cells:
          - {paper: epsilon, table: Table 1, space: nats-tss, proxy: [synflow, snip]}

A cell pattern matches a comparison row when every field it names equals the row's value (a list: any
of its values); fields it leaves out match anything. Fields: those of ``CELL_FIELDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from nasprox.core import NasproxError, load_yaml, proxy_of_column

SUPPORTED_VERSIONS = (1,)
CELL_FIELDS = ("paper", "table", "kind", "space", "dataset", "proxy", "metric")
EXPLANATION_FIELDS = ("id", "summary", "evidence", "cells")
EXPLAINED_COLUMN = "explained"


@dataclass(frozen=True)
class Explanation:
    id: str
    summary: str
    evidence: str
    cells: tuple[dict[str, frozenset[str]], ...]

    def covers(self, row: pd.Series) -> bool:
        """Whether a published-vs-ours row is one of the cells; a proxy kept apart by its setting
        (``snip@batch=256``) is matched by the proxy's name, which is the paper's."""
        fields = {f: str(row.get(f, "")) for f in CELL_FIELDS}
        fields["proxy"] = proxy_of_column(fields["proxy"])
        return any(all(fields[f] in values for f, values in cell.items()) for cell in self.cells)

    @property
    def label(self) -> str:
        return f"{self.id}: {self.summary} ({self.evidence})"


def default_explanations_path() -> Path:
    """configs/explained_differences.yaml next to the package in a source checkout."""
    return Path(__file__).resolve().parents[2] / "configs" / "explained_differences.yaml"


def _cell_pattern(path: Path, index: int, raw: object) -> dict[str, frozenset[str]]:
    if not isinstance(raw, dict) or not raw:
        raise NasproxError(f"{path}: explanation {index} has a cell that is not a mapping of fields")
    unknown = sorted(set(raw) - set(CELL_FIELDS))
    if unknown:
        raise NasproxError(f"{path}: explanation {index} matches on unknown field(s) {', '.join(unknown)}")
    return {f: frozenset(map(str, v if isinstance(v, list) else [v])) for f, v in raw.items()}


def load_explanations(path: Path | None = None) -> list[Explanation]:
    """The explanations in ``path``; by default the shipped file, or none in an installed wheel without it."""
    if path is None:
        path = default_explanations_path()
        if not path.is_file():
            return []
    path = Path(path)
    if not path.is_file():
        raise NasproxError(f"explanations file {path} does not exist")
    try:
        doc = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise NasproxError(f"cannot read explanations {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(doc, dict) or doc.get("version") not in SUPPORTED_VERSIONS:
        raise NasproxError(f"{path}: needs 'version' in {SUPPORTED_VERSIONS}")
    explanations = []
    for i, raw in enumerate(doc.get("explanations") or []):
        missing = [f for f in EXPLANATION_FIELDS if not (isinstance(raw, dict) and raw.get(f))]
        if missing:
            raise NasproxError(f"{path}: explanation {i} lacks {', '.join(missing)}")
        cells = tuple(_cell_pattern(path, i, c) for c in raw["cells"])
        explanations.append(Explanation(str(raw["id"]), str(raw["summary"]), str(raw["evidence"]), cells))
    ids = [e.id for e in explanations]
    if len(set(ids)) != len(ids):
        raise NasproxError(f"{path}: explanation ids must be unique")
    return explanations


def explain(comparison: pd.DataFrame, explanations: list[Explanation]) -> pd.DataFrame:
    """``comparison`` with an ``explained`` column: for each ``differs`` row, the explanations covering it."""
    frame = comparison.copy()
    frame[EXPLAINED_COLUMN] = [
        "; ".join(e.label for e in explanations if e.covers(row)) if row["verdict"] == "differs" else ""
        for _, row in frame.iterrows()
    ]
    return frame
