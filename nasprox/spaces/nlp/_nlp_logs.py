"""Readers for NAS-Bench-NLP files (fmsnew/nas-bench-nlp-release data layout).

* Training logs ``log_stats_model_<id>_<time>_<exp>.json``: one JSON object per run with
  ``recepie`` (the recipe as a JSON string), ``recepie_id``, ``data`` (``data/ptb`` or
  ``data/wikitext-2``), ``num_params``, per-epoch ``train_losses``/``val_losses``/``test_losses``
  and ``status`` (``OK`` or an error such as ``loss is nan!``). Read from a folder (searched
  recursively), a ``.zip`` of such files (read in place), or single files.
* The recipe list ``models_recepies.json`` (found by that name in a folder, or any JSON list of
  recipes given as a file): its position is the benchmark's recipe index.

Benchmark index of a log: ``recepie_id mod 1,000,000``. The WikiText-2 runs carry ids
1,000,000 + position (ids 1000000-1000002 are the list's first three recipes, the classic RNN,
LSTM and GRU cells, as in the release's ``recepies_example.json``); PTB runs carry the position.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

from nasprox.core import NasproxError
from nasprox.core.sources import missing

ID_OFFSET = 1_000_000


@dataclass(frozen=True)
class RunLog:
    recipe: dict
    benchmark_id: int  # recepie_id mod 1e6
    dataset: str  # "ptb" | "wikitext-2" | other basename of the log's data path
    num_params: int | None
    val_losses: tuple[float, ...]
    test_losses: tuple[float, ...]
    status: str
    source: str  # file name, for messages

    @property
    def ok(self) -> bool:
        return self.status == "OK"


def canonical_recipe(recipe: dict) -> str:
    """The space key: compact JSON with sorted node names (input order is meaningful, kept)."""
    return json.dumps(recipe, sort_keys=True, separators=(",", ":"))


def load_recipe_text(text: str) -> dict:
    try:
        recipe = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NasproxError(f"not a NAS-Bench-NLP recipe (invalid JSON: {exc.msg})") from None
    if not isinstance(recipe, dict):
        raise NasproxError('a NAS-Bench-NLP recipe is a JSON object {node: {"op": ..., "input": [...]}}')
    return recipe


def _run_from_json(obj: dict, source: str) -> RunLog:
    try:
        recipe = obj["recepie"]
        recipe = json.loads(recipe) if isinstance(recipe, str) else recipe
        losses = lambda k: tuple(float(v) for v in obj.get(k, []))  # noqa: E731
        return RunLog(
            recipe=recipe,
            benchmark_id=int(obj["recepie_id"]) % ID_OFFSET,
            dataset=Path(str(obj.get("data", "unknown"))).name.lower(),
            num_params=int(obj["num_params"]) if obj.get("num_params") is not None else None,
            val_losses=losses("val_losses"),
            test_losses=losses("test_losses"),
            status=str(obj.get("status", "")),
            source=source,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NasproxError(f"{source}: not a NAS-Bench-NLP training log ({exc.__class__.__name__}: {exc})") from None


def read_logs(path: Path) -> list[RunLog]:
    """All training logs under ``path`` (folder, zip, or one log file)."""
    path = path.expanduser()
    if not path.exists():
        raise NasproxError(missing(f"NAS-Bench-NLP file or folder not found: {path}", "nb-nlp"))
    runs: list[RunLog] = []
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.suffix == ".zip":
                runs.extend(read_logs(f))
            elif f.suffix == ".json" and f.name.startswith("log_stats"):
                runs.append(_run_from_json(_read_json(f.read_bytes(), str(f)), f.name))
    elif path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                for name in sorted(zf.namelist()):
                    if name.endswith(".json") and Path(name).name.startswith("log_stats"):
                        runs.append(_run_from_json(_read_json(zf.read(name), f"{path.name}:{name}"), name))
        except zipfile.BadZipFile:
            raise NasproxError(f"{path} is not a readable zip file") from None
    elif path.suffix == ".json":
        obj = _read_json(path.read_bytes(), str(path))
        if isinstance(obj, dict) and "recepie" in obj:
            runs.append(_run_from_json(obj, path.name))
    return runs


def read_recipe_list(path: Path) -> list[dict] | None:
    """The benchmark's recipe list from a file, or ``models_recepies.json`` found in a folder."""
    path = path.expanduser()
    candidates = [path] if path.is_file() else sorted(path.rglob("models_recepies.json")) if path.is_dir() else []
    for f in candidates:
        if f.suffix != ".json":
            continue
        obj = _read_json(f.read_bytes(), str(f))
        if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
            return obj
    return None


def _read_json(data: bytes, source: str):
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NasproxError(f"{source}: invalid JSON ({exc})") from None


def final_loss(losses: tuple[float, ...]) -> float | None:
    """Last epoch's loss if finite."""
    if not losses or not math.isfinite(losses[-1]):
        return None
    return losses[-1]


def best_loss(losses: tuple[float, ...]) -> float | None:
    finite = [v for v in losses if math.isfinite(v)]
    return min(finite) if finite else None
