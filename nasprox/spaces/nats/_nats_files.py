"""Reader for the real NATS-Bench v1.0 benchmark files, without the ``nats_bench`` package.

Layout (read from D-X-Y/NATS-Bench ``nats_bench/api_utils.py`` and ``api_topology.py``):

* "simple" (fast-mode) directory, e.g. ``NATS-tss-v1_0-3ffb9-simple/`` or
  ``NATS-sss-v1_0-50262-simple/``: ``meta.pickle.pbz2`` = bz2 pickle of
  ``{'meta_archs': [arch string per index], 'total_archs', 'arch2infos': None, 'evaluated_indexes'}``
  plus one ``{index:06d}.pickle.pbz2`` per architecture (``{index}.pickle.pbz2`` also accepted, as
  ``api_utils.reload`` does) holding ``{hp: ArchResults state}`` with hp ``'12'``/``'200'`` (TSS) or
  ``'01'``/``'12'``/``'90'`` (SSS). An ArchResults state is ``{'arch_index', 'arch_str',
  'dataset_seed': {dataset: [seeds]}, 'all_results': {(dataset, seed): result}, ...}`` and a result
  has ``'epochs'``, ``'params'`` (M), ``'flop'`` (M) and ``'eval_acc1es': {'<set>@<epoch>': acc}``.
* the single-file archive ``NATS-tss-v1_0-3ffb9.pickle.pbz2``: the meta dict with ``'arch2infos':
  {index: {hp: ArchResults state}}`` filled in (loaded whole, which takes a lot of memory).

Per-arch files are read lazily (a small LRU cache) so a run over a few archs stays cheap. Which
architectures an archive holds (``NatsArchive.held``) is listed once when it is opened, so a sample
archive (a few records, e.g. ``nats_format_samples/``) is reported before a run starts
(``NatsArchive.missing_record``) instead of failing at the first absent record.

Fields (``NatsArchive.fields``), following the API's own ``remap_dataset_set_names`` and
``get_more_info(..., is_random=False)`` (final epoch, mean over the seeds in ``dataset_seed``):

* ``test_acc``: cifar10 -> the ``'cifar10'`` runs (trained on train+valid) on ``ori-test``;
  cifar100 / ImageNet16-120 -> ``x-test``. This is the survey convention of PROXY_SPEC §1
  ("Evaluation conventions") and reproduces ``nb201_test_acc_200ep.csv`` exactly. (MeCo/Samsung
  instead read ``'cifar10-valid'`` ``ori-test`` for CIFAR-10; that number is not exposed here.)
* ``valid_acc``: cifar10 -> the ``'cifar10-valid'`` runs on ``x-valid``; others -> ``x-valid``.
* ``params`` / ``flops``: the record's ``params`` / ``flop`` (millions) for the dataset's runs
  (``'cifar10'`` for cifar10), averaged over seeds like ``get_cost_info``.

Pickles can run code when loaded, so the unpickler only admits the few globals the real files use
(``collections.OrderedDict`` and numpy scalars/dtypes); anything else is refused.
"""

from __future__ import annotations

import bz2
import io
import math
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

from nasprox.core import NasproxError
from nasprox.core.sources import missing

PICKLE_EXT = "pickle.pbz2"
FIELDS = ("test_acc", "valid_acc", "params", "flops")
# dataset -> ((runs, eval set) for test_acc, (runs, eval set) for valid_acc)
SPLITS = {
    "cifar10": (("cifar10", "ori-test"), ("cifar10-valid", "x-valid")),
    "cifar100": (("cifar100", "x-test"), ("cifar100", "x-valid")),
    "ImageNet16-120": (("ImageNet16-120", "x-test"), ("ImageNet16-120", "x-valid")),
}
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}
CACHE_SIZE = 32


class _RecordUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing global {module}.{name} (not in a NATS-Bench record)")
        if module.startswith("numpy") and name == "scalar":
            import numpy as np

            core = getattr(np, "_core", None) or np.core
            return core.multiarray.scalar
        return super().find_class(module, name)


def load_pbz2(path: Path, source: str | None = None):
    """Unpickle one bz2-compressed NATS file; any failure becomes a one-line NasproxError.

    ``source``: the key of the archive in ``nasprox.core.sources.SOURCES`` named when the file is
    absent (both NATS-Bench archives when not given).
    """
    if not path.is_file():
        raise NasproxError(
            missing(f"NATS-Bench file not found: {path}", *([source] if source else ["nats-tss", "nats-sss"]))
        )
    try:
        with bz2.open(path, "rb") as handle:
            payload = handle.read()
        return _RecordUnpickler(io.BytesIO(payload)).load()
    except Exception as exc:  # noqa: BLE001 - truncated bz2 (EOFError), bad stream (OSError), bad pickle, ...
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise NasproxError(
            f"cannot read {path} as a NATS-Bench pickle ({exc.__class__.__name__}{': ' + detail if detail else ''})"
        ) from None


class NatsArchive:
    """One NATS-Bench archive (simple directory or single file) for one search space.

    ``keys`` is the space's own enumeration; the archive's ``meta_archs`` must list the same
    architectures (this also catches a TSS archive given to the SSS space and vice versa).
    """

    def __init__(
        self,
        path: Path,
        space_label: str,
        base_names: Sequence[str],
        keys: Sequence[str],
        hp: str,
        source: str,
        csv_source: str,
    ):
        self.space_label = space_label
        self.source, self.csv_source = source, csv_source  # keys of nasprox.core.sources.SOURCES
        self.hp = str(hp)
        self._records: OrderedDict[int, dict] = OrderedDict()
        self._all_infos: Mapping | None = None
        path = Path(path).expanduser()
        self.path, meta = self._open(path, base_names)
        archs = meta.get("meta_archs") if isinstance(meta, dict) else None
        if not isinstance(archs, list):
            raise NasproxError(f"{self.path} is not a NATS-Bench archive (no 'meta_archs' list)")
        if len(archs) != len(keys) or (archs[0], archs[-1]) != (keys[0], keys[-1]):
            raise NasproxError(
                f"{self.path} is not a {space_label} archive: it lists {len(archs)} architectures starting "
                f"{str(archs[0])[:40]!r}, expected {len(keys)} starting {keys[0][:40]!r}"
            )
        self._index_of = {a: i for i, a in enumerate(archs)}
        if list(archs) != list(keys):
            raise NasproxError(f"{self.path}: architecture order differs from the {space_label} index order")
        self.total = len(archs)
        self.held: frozenset[int] = self._held_indices()

    def _held_indices(self) -> frozenset[int]:
        """Indices with a record: the per-arch files of a -simple directory, or the keys of ``arch2infos``."""
        if self._all_infos is not None:
            return frozenset(int(i) for i in self._all_infos)
        suffix = f".{PICKLE_EXT}"
        with os.scandir(self.path) as entries:
            stems = (e.name[: -len(suffix)] for e in entries if e.name.endswith(suffix))
            return frozenset(int(stem) for stem in stems if stem.isdigit())

    @property
    def partial(self) -> bool:
        """True for a sample archive that holds the records of only some architectures."""
        return len(self.held) < self.total

    def missing_record(self, index: int) -> str:
        """One line: which architectures this archive holds, and that ``--ground-truth`` takes a CSV."""
        held = sorted(self.held)
        shown = ", ".join(map(str, held[:12])) + (f", ... ({len(held):,} in all)" if len(held) > 12 else "")
        return missing(
            f"{self.path} holds the records of {len(held):,} of {self.total:,} {self.space_label} architectures "
            f"({shown or 'none'}), not of architecture {index}: select among those, or give the ground truth "
            "of the others as a CSV",
            self.csv_source,
            self.source,
        )

    def _open(self, path: Path, base_names: Sequence[str]) -> tuple[Path, dict]:
        if path.is_dir():
            if (path / f"meta.{PICKLE_EXT}").is_file():
                return path, load_pbz2(path / f"meta.{PICKLE_EXT}", self.source)
            for base in base_names:  # a TORCH_HOME-like folder holding the benchmark
                if (path / f"{base}-simple" / f"meta.{PICKLE_EXT}").is_file():
                    return path / f"{base}-simple", load_pbz2(
                        path / f"{base}-simple" / f"meta.{PICKLE_EXT}", self.source
                    )
                if (path / f"{base}.{PICKLE_EXT}").is_file():
                    return self._open(path / f"{base}.{PICKLE_EXT}", base_names)
            raise NasproxError(
                missing(
                    f"no NATS-Bench {self.space_label} files in {path} (expected meta.{PICKLE_EXT} or "
                    f"{base_names[0]}-simple/)",
                    self.source,
                )
            )
        if not path.exists():
            raise NasproxError(missing(f"NATS-Bench benchmark path not found: {path}", self.source))
        data = load_pbz2(path, self.source)  # the single-file archive
        infos = data.get("arch2infos") if isinstance(data, dict) else None
        if not isinstance(infos, dict):
            raise NasproxError(f"{path} has no 'arch2infos' (give the -simple directory or the full archive file)")
        self._all_infos = infos
        return path, data

    # -- per-arch records ------------------------------------------------------------------
    def record(self, index: int) -> dict:
        """The ``{hp: ArchResults state}`` dict of one architecture (cached)."""
        if index in self._records:
            self._records.move_to_end(index)
            return self._records[index]
        if self._all_infos is not None:
            record = self._all_infos.get(index)
            if record is None:
                raise NasproxError(self.missing_record(index))
        else:
            candidates = [self.path / f"{index:06d}.{PICKLE_EXT}", self.path / f"{index}.{PICKLE_EXT}"]
            found = next((p for p in candidates if p.is_file()), None)
            if found is None:
                if self.partial:
                    raise NasproxError(self.missing_record(index))
                raise NasproxError(
                    missing(
                        f"NATS-Bench file not found: {candidates[0]} ({self.space_label} architecture {index})",
                        self.source,
                    )
                )
            record = load_pbz2(found, self.source)
        if not isinstance(record, dict) or not record:
            raise NasproxError(f"{self.path}: architecture {index} record is not a dict of hyper-parameter results")
        self._records[index] = record
        if len(self._records) > CACHE_SIZE:
            self._records.popitem(last=False)
        return record

    def fields(self, index: int, key: str, dataset: str) -> dict[str, float]:
        """test_acc / valid_acc / params / flops of one architecture on one dataset (module doc)."""
        if dataset not in SPLITS:
            raise NasproxError(f"NATS-Bench has no dataset '{dataset}' (choose from {', '.join(SPLITS)})")
        record = self.record(index)
        state = record.get(self.hp)
        if not isinstance(state, dict):
            raise NasproxError(
                f"{self.path}: architecture {index} has no hp='{self.hp}' results (has {', '.join(map(str, record))})"
            )
        if state.get("arch_str", key) != key:
            raise NasproxError(f"{self.path}: record {index} is {state.get('arch_str')!r}, expected {key!r}")
        try:
            seeds_of = state["dataset_seed"]
            results = state["all_results"]
            (test_runs, test_set), (valid_runs, valid_set) = SPLITS[dataset]
            out: dict[str, float] = {}
            for name, runs, eval_set in (("test_acc", test_runs, test_set), ("valid_acc", valid_runs, valid_set)):
                value = _seed_mean(results, runs, seeds_of.get(runs, ()), lambda r, s=eval_set: _final_eval(r, s))
                if value is not None:
                    out[name] = value
            for name, stored in (("params", "params"), ("flops", "flop")):
                value = _seed_mean(results, test_runs, seeds_of.get(test_runs, ()), lambda r, k=stored: r.get(k))
                if value is not None:
                    out[name] = value
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise NasproxError(
                f"{self.path}: architecture {index} record is malformed ({exc.__class__.__name__}: {exc})"
            ) from None
        return out


def _final_eval(result: Mapping, eval_set: str) -> float | None:
    """Accuracy on ``eval_set`` after the last epoch (``ResultsCount.get_eval`` with iepoch=None)."""
    return result["eval_acc1es"].get(f"{eval_set}@{int(result['epochs']) - 1}")


def _seed_mean(results: Mapping, runs: str, seeds, value_of) -> float | None:
    values = []
    for seed in seeds:
        result = results.get((runs, seed))
        value = value_of(result) if result is not None else None
        if value is not None:
            values.append(float(value))
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    return mean
