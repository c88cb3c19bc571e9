"""Which architectures a table is computed over: all scored rows, or one per isomorphism class.

``unique``: architectures that are the same network (equal ``SearchSpace.unique_key``, e.g. NB201
cells equal after dropping dead edges: 9,445 classes of the 15,625 cells) count once. Per
(space, dataset) and class the row kept is the class representative when it was scored (the arch
whose key is its own ``unique_key``), else the scored member with the lowest benchmark index. Over
a run of all 15,625 NB201 cells this is exactly ``nb201_unique_representatives()``. Spaces without
isomorphic duplicates (the default ``unique_key``) are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from nasprox.core import SPACES, NasproxError, RegistryError
from nasprox.stats.results import ResultTable

POPULATIONS = ("all", "unique")


@dataclass(frozen=True)
class Population:
    name: str
    kept: dict[tuple[str, str], int] = field(default_factory=dict)
    total: dict[tuple[str, str], int] = field(default_factory=dict)

    def label(self, space: str | None = None, dataset: str | None = None) -> str:
        """E.g. ``all (100 archs)`` or ``unique (87 of 100 archs; 13 isomorphic duplicates dropped)``."""
        keys = [k for k in self.total if (space is None or k[0] == space) and (dataset is None or k[1] == dataset)]
        kept = sum(self.kept[k] for k in keys)
        total = sum(self.total[k] for k in keys)
        if self.name == "all":
            return f"all ({total} archs)"
        return f"unique ({kept} of {total} archs; {total - kept} isomorphic duplicates dropped)"


def _space(name: str):
    try:
        entry = SPACES.get(name)
    except RegistryError:
        raise NasproxError(
            f"--population unique needs a known space to find isomorphic architectures; '{name}' is not registered"
        ) from None
    return entry() if isinstance(entry, type) else entry


def select_population(table: ResultTable, population: str = "all") -> tuple[ResultTable, Population]:
    """``table`` restricted to ``population`` (module doc), with per-(space, dataset) counts."""
    if population not in POPULATIONS:
        raise NasproxError(f"unknown population '{population}' (choose from {', '.join(POPULATIONS)})")
    total = {(s, d): len(sub) for s, d, sub, _ in table.groups()}
    if population == "all":
        return table, Population("all", dict(total), total)
    parts, kept = [], {}
    for space, dataset, sub, _ in table.groups():
        sp = _space(space)
        work = sub.assign(_class=[sp.unique_key(a) for a in sub["arch"]])
        work = work.assign(_is_rep=(work["_class"] == work["arch"]).astype(int))
        work = work.sort_values(
            ["_class", "_is_rep", "arch_index", "arch"], ascending=[True, False, True, True], kind="stable"
        )
        chosen = work.drop_duplicates("_class", keep="first").drop(columns=["_class", "_is_rep"])
        kept[(space, dataset)] = len(chosen)
        parts.append(chosen.sort_index())
    frame = pd.concat(parts).sort_index() if parts else table.frame.iloc[:0]
    return replace(table, frame=frame), Population("unique", kept, total)
