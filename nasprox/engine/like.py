"""``nasprox score --like RESULTS.csv``: score new proxies under the protocol of an existing result CSV.

The CSV gives the space, dataset, seed and its architectures; its provenance sidecar (when present) gives the
data source and its sha256, the batch protocol (``--batch-size``, each recorded proxy's options), augmentation,
memory layout, thread count, space options and the ground-truth files. The rows scored this way get the
same ``data_config`` as the CSV's rows at the same batch, so they join the committed baselines in ``correlate``
and ``report``. A data file whose sha256 differs from the recorded one is refused: it is not the data those
rows were scored on.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasprox.core import NasproxError
from nasprox.storage.provenance import file_checksums, read_provenance

# score flags --like takes from the CSV and its sidecar (giving one of these beside it is refused)
LIKE_FIXES = (
    "space",
    "dataset",
    "seed",
    "batch_size",
    "synthetic",
    "augment",
    "memory_format",
    "space_opt",
    "threads",
    "allow_tf32",
)
# RunConfig fields a result's protocol fixes (the proxies, the device and where to find files are the user's)
PROTOCOL_FIELDS = (
    "batch_size",
    "synthetic",
    "augment",
    "space_options",
    "memory_format",
    "threads",
    "allow_tf32",
    "benchmark",
    "ground_truth",
)


@dataclass(frozen=True)
class Like:
    """What ``--like`` takes from a result CSV and its sidecar."""

    path: Path
    space: str
    dataset: str
    seed: int
    arch_indices: tuple[int, ...]
    data_root: str | None = None  # as recorded (the string is part of every row's data_config)
    data_checksum: str = ""  # "sha256:..." recorded for data_root
    settings: dict[str, Any] = field(default_factory=dict)  # PROTOCOL_FIELDS recorded
    proxy_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per recorded proxy, latest run wins

    @property
    def archs(self) -> str:
        return ",".join(str(i) for i in self.arch_indices)


def _one(values: set[str], column: str, path: Path) -> str:
    if len(values) != 1:
        shown = ", ".join(sorted(values)[:5]) or "none"
        raise NasproxError(f"--like {path}: needs one {column}, the file has {len(values)} ({shown})")
    return next(iter(values))


def read_like(path: str | Path) -> Like:
    """The protocol of a result CSV (and of its provenance sidecar, if present)."""
    path = Path(path)
    if not path.is_file():
        raise NasproxError(f"--like {path}: no such file")
    spaces: set[str] = set()
    datasets: set[str] = set()
    seeds: set[str] = set()
    indices: dict[int, None] = {}  # in file order, once each
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"space", "dataset", "seed", "arch_index"} - set(reader.fieldnames or ())
        if missing:
            raise NasproxError(f"--like {path}: not a nasprox result CSV (no column {', '.join(sorted(missing))})")
        for row in reader:
            spaces.add(row["space"])
            datasets.add(row["dataset"])
            seeds.add(row["seed"])
            indices.setdefault(int(row["arch_index"]), None)
    if any(i < 0 for i in indices):
        raise NasproxError(f"--like {path}: rows without a benchmark index; select them with --arch-list")
    runs = [r for r in read_provenance(path) if isinstance(r.get("config"), dict)]
    like = Like(
        path, _one(spaces, "space", path), _one(datasets, "dataset", path), int(_one(seeds, "seed", path)),
        tuple(indices),
    )  # fmt: skip
    if not runs:
        return like
    last = runs[-1]["config"]
    roots = {r["config"].get("data_root") for r in runs}
    if len(roots) > 1:
        raise NasproxError(f"--like {path}: its runs read different data ({', '.join(map(str, roots))})")
    options: dict[str, dict[str, Any]] = {}
    for run in runs:
        for proxy, opts in (run["config"].get("proxy_options") or {}).items():
            options[proxy] = dict(opts)
    checksum = next((r["input_checksums"]["data_root"] for r in reversed(runs) if r.get("input_checksums", {}).get("data_root")), "")  # fmt: skip
    return Like(
        path,
        like.space,
        like.dataset,
        like.seed,
        like.arch_indices,
        data_root=last.get("data_root"),
        data_checksum=checksum,
        settings={k: last[k] for k in PROTOCOL_FIELDS if k in last},
        proxy_options=options,
    )


def data_source(like: Like, data_root: str | None) -> tuple[str | None, str | None]:
    """(path to read, label hashed into data_config): the given ``--data-root`` or the recorded one, refused
    when its sha256 differs from the recorded checksum."""
    if like.settings.get("synthetic"):
        return None, None
    path = data_root or like.data_root
    if path is None:
        raise NasproxError(f"--like {like.path}: no provenance sidecar records its data; give --data-root")
    if not Path(path).exists():
        raise NasproxError(f"--like {like.path}: its data {path} is not here; give --data-root (the same file)")
    if like.data_checksum.startswith("sha256:"):
        found = file_checksums({"data_root": path}).get("data_root", "")
        if found != like.data_checksum:
            raise NasproxError(
                f"--data-root {path}: {found or 'not a file'} differs from the {like.data_checksum} recorded for "
                f"{like.path}; its rows were scored on other data"
            )
    label = like.data_root if data_root and like.data_root and data_root != like.data_root else None
    return path, label


def like_settings(
    path: str | Path, settings: dict[str, Any], proxies: list[str], warn: Callable[[str], None]
) -> tuple[dict[str, Any], str]:
    """``settings`` (RunConfig keyword arguments from the command line) under the protocol of the result CSV
    ``path``, and its architectures (``--archs`` text). The user's ``--proxy-opt`` values win over the recorded
    options of the same proxy; ``--data-root``, ``--benchmark`` and ``--ground-truth`` given win over the
    recorded paths (the data file only with the recorded sha256)."""
    like = read_like(path)
    out = dict(settings, space=like.space, dataset=like.dataset, seed=like.seed)
    for name in PROTOCOL_FIELDS:
        if name in like.settings and name not in ("benchmark", "ground_truth"):
            out[name] = like.settings[name]
    for name, what in (("benchmark", "benchmark"), ("ground_truth", "ground truth")):
        recorded = like.settings.get(name)
        if not settings.get(name) and recorded:
            if Path(recorded).exists():
                out[name] = recorded
            else:
                warn(f"--like: the recorded {what} {recorded} is not here; give it again to get its columns")
    given = settings.get("proxy_options") or {}
    out["proxy_options"] = {
        p: {**like.proxy_options.get(p, {}), **given.get(p, {})}
        for p in proxies
        if p in like.proxy_options or p in given
    }
    out["data_root"], out["data_label"] = data_source(like, settings.get("data_root"))
    return out, like.archs
