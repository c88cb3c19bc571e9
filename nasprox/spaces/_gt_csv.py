"""A plain ground-truth CSV reader any space can use (``configure(ground_truth=CSV)``).

Two layouts are recognised, column names matched case-insensitively and ignoring punctuation:

* wide: one row per architecture, an architecture column plus one column per (dataset, field),
  e.g. ``ArchitectureString, CIFAR10TestAccuracy200Epochs, CIFAR100TestAccuracy200Epochs,
  ImageNetTestAccuracy200Epochs`` (``nb201_test_acc_200ep.csv``) or ``arch, cifar10_valid_acc``.
  A column belongs to the dataset whose name (or alias) it contains, the longest match winning
  (so ``cifar100`` is not read as ``cifar10``); its field is ``test_acc`` if the name says
  "test", ``valid_acc`` if it says "valid"/"val", ``params``/``flops`` if it says "param"/"flop",
  else the space's default field when it says "acc" or is just the dataset name.
* long: an architecture column, a ``dataset`` column, and field columns named after the fields
  (``test_acc``, ``valid_acc``, ``params``, ...; a ``gt_`` prefix, as in nasprox result CSVs, is
  ignored; ``test_accuracy``/``val_acc``/``valid_accuracy`` are accepted too).

The architecture column is the first of ``arch``, ``arch_str``, ``architecture``,
``ArchitectureString``, ``key``, ``net`` (or else the first whose name starts with "arch"). Its
values go through the space's canonicaliser, so any spelling the space parses works. Empty
cells and ``nan`` are skipped; anything else that is not a number, an unknown architecture, a file
without the needed columns, or an architecture given two different values of one field (on two lines,
perhaps spelled differently) raises a one-line NasproxError. A line repeating a value already read is
accepted.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from nasprox.core import NasproxError
from nasprox.core.sources import missing

ARCH_COLUMNS = ("arch", "archstr", "archstring", "architecture", "architecturestring", "key", "net")
FIELD_ALIASES = {
    "test_acc": ("testacc", "testaccuracy"),
    "valid_acc": ("validacc", "valacc", "validaccuracy", "valaccuracy", "validationaccuracy"),
    "params": ("params", "param", "parameters"),
    "flops": ("flops", "flop"),
}

Table = dict[str, dict[str, dict[str, float]]]  # key -> dataset -> field -> value


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_ground_truth_csv(
    path: Path,
    *,
    space: str,
    datasets: Mapping[str, Sequence[str]],
    fields: Sequence[str],
    canonical: Callable[[str], str],
    default_field: str = "test_acc",
    source: str,
) -> Table:
    """``{canonical key: {dataset: {field: value}}}`` from a wide or long CSV (module doc).

    ``datasets`` maps each dataset name to extra aliases that may appear in column names; ``source``
    is the key of this CSV in ``nasprox.core.sources.SOURCES`` (named when the file is absent).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise NasproxError(missing(f"{space} ground-truth CSV not found: {path}", source))
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NasproxError(f"cannot read {path} as a CSV ({exc.__class__.__name__})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise NasproxError(f"{path} is empty (expected a header row with an architecture column)")
    header = [cell.strip() for cell in rows[0]]
    normed = [_norm(c) for c in header]
    arch_col = _arch_column(normed)
    if arch_col is None:
        raise NasproxError(f"{path}: no architecture column (expected one named arch, arch_str or ArchitectureString)")
    dataset_col = normed.index("dataset") if "dataset" in normed else None
    long_columns: list[tuple[int, str]] = []  # (column, field) when a dataset column names the dataset
    wide_columns: list[tuple[int, str, str]] = []  # (column, dataset, field) otherwise
    if dataset_col is not None:
        long_columns = _long_columns(normed, fields, skip={arch_col, dataset_col})
        resolve_dataset = _dataset_resolver(datasets)
    else:
        wide_columns = _wide_columns(header, normed, datasets, fields, default_field, skip={arch_col}, path=path)
    if not long_columns and not wide_columns:
        wanted = (
            "field columns such as test_acc"
            if dataset_col is not None
            else f"per-dataset columns for {', '.join(datasets)}"
        )
        raise NasproxError(f"{path}: no ground-truth columns found (expected {wanted})")

    table: Table = {}
    first_line: dict[tuple[str, str, str], int] = {}  # (key, dataset, field) -> the line its value came from
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise NasproxError(f"{path}: line {number} has {len(row)} cells, the header has {len(header)}")
        try:
            key = canonical(row[arch_col])
        except NasproxError as err:
            raise NasproxError(f"{path}: line {number}: {err}") from None
        if dataset_col is not None:
            dataset = resolve_dataset(row[dataset_col])
            if dataset is None:
                continue  # a dataset this space does not have
            targets = [(col, dataset, field) for col, field in long_columns]
        else:
            targets = wide_columns
        for col, dataset, field in targets:
            value = _number(row[col], path, number, header[col])
            if value is None:
                continue
            fields_of = table.setdefault(key, {}).setdefault(dataset, {})
            earlier = fields_of.get(field)
            if earlier is not None and earlier != value:
                raise NasproxError(
                    f"{path}: architecture {row[arch_col].strip()} has {dataset} {field} {earlier:g} on line "
                    f"{first_line[(key, dataset, field)]} and {value:g} on line {number}; keep one value per architecture"
                )
            first_line.setdefault((key, dataset, field), number)
            fields_of[field] = value
    if not table:
        raise NasproxError(f"{path}: no {space} ground-truth values found")
    _params_in_millions(table)
    return table


PARAMS_COUNT_THRESHOLD = 1e4  # no benchmark network has 10 billion parameters; 10,000 parameters is plausible


def _params_in_millions(table: Table) -> None:
    """gt_params is in millions (storage schema); a CSV that gives plain counts (NATS-SSS export: 11714) is scaled.

    Decided per dataset over the whole column, never per value, so one file cannot mix units.
    """
    datasets = {ds for per_ds in table.values() for ds in per_ds}
    for ds in datasets:
        values = [f["params"] for per_ds in table.values() if (f := per_ds.get(ds)) and "params" in f]
        if values and max(values) >= PARAMS_COUNT_THRESHOLD:
            for per_ds in table.values():
                if ds in per_ds and "params" in per_ds[ds]:
                    per_ds[ds]["params"] /= 1e6


def _arch_column(normed: list[str]) -> int | None:
    for name in ARCH_COLUMNS:
        if name in normed:
            return normed.index(name)
    return next((i for i, n in enumerate(normed) if n.startswith("arch")), None)


def _field_of(normed_col: str, fields: Sequence[str]) -> str | None:
    name = normed_col[2:] if normed_col.startswith("gt") else normed_col
    for field in fields:
        if name in (_norm(field),) + FIELD_ALIASES.get(field, ()):
            return field
    return None


def _long_columns(normed: list[str], fields: Sequence[str], skip: set[int]) -> list[tuple[int, str]]:
    return [(i, f) for i, n in enumerate(normed) if i not in skip and (f := _field_of(n, fields)) is not None]


def _dataset_resolver(datasets: Mapping[str, Sequence[str]]) -> Callable[[str], str | None]:
    lookup = {}
    for name, aliases in datasets.items():
        for alias in (name, *aliases):
            lookup[_norm(alias)] = name
    return lambda text: lookup.get(_norm(text))


def _wide_columns(header, normed, datasets, fields, default_field, skip, path) -> list[tuple[int, str, str]]:
    tokens = sorted(
        ((_norm(alias), name) for name, aliases in datasets.items() for alias in (name, *aliases)),
        key=lambda t: -len(t[0]),
    )
    out: list[tuple[int, str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for i, col in enumerate(normed):
        if i in skip:
            continue
        match = next(((tok, name) for tok, name in tokens if tok in col), None)
        if match is None:
            continue
        token, dataset = match
        rest = col.replace(token, "", 1)
        if "test" in rest:
            field = "test_acc"
        elif "valid" in rest or "val" in rest:
            field = "valid_acc"
        elif "param" in rest:
            field = "params"
        elif "flop" in rest:
            field = "flops"
        elif "acc" in rest or rest == "":
            field = default_field
        else:
            continue  # e.g. a latency column: not a ground-truth field
        if field not in fields:
            continue
        if (dataset, field) in seen:
            raise NasproxError(
                f"{path}: columns '{seen[(dataset, field)]}' and '{header[i]}' both look like {dataset} {field}"
            )
        seen[(dataset, field)] = header[i]
        out.append((i, dataset, field))
    return out


def _number(text: str, path: Path, line: int, column: str) -> float | None:
    text = text.strip()
    if text == "" or text.lower() in ("nan", "na", "none", "null"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise NasproxError(f"{path}: line {line}, column '{column}': {text[:40]!r} is not a number") from None
    return value if math.isfinite(value) else None
