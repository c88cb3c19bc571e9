"""What the two NATS-Bench spaces share: datasets, input specs and ground-truth plumbing.

Datasets are the benchmark's three: cifar10 (3x32x32, 10 classes), cifar100 (3x32x32, 100) and
ImageNet16-120 (3x16x16, 120). Ground truth comes from ``configure``:

* ``benchmark=PATH``: the real NATS-Bench archive (``-simple`` directory, a folder holding it, or
  the single ``.pickle.pbz2`` file), read lazily per architecture by ``_nats_files.NatsArchive``
  at the space's ``hp`` (fields and seed averaging documented there).
* ``ground_truth=CSV``: a plain CSV read by ``_gt_csv.read_ground_truth_csv``. Its values win
  over the archive's for the same field.

A sample archive (records of a few architectures only) is fine for those architectures; selecting
one it lacks (:meth:`NatsSpace.arch`, which every selection goes through before a run writes
anything) raises one line naming the architectures it holds, unless the CSV has that architecture.

``ground_truth`` returns ``test_acc``, ``valid_acc`` (accuracy in percent), ``params`` and
``flops`` (millions) when known; an empty dict when nothing is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nasprox.core import ArchRef, InputSpec, NasproxError, SearchSpace

if TYPE_CHECKING:
    from nasprox.spaces.nats._nats_files import NatsArchive

DATASET_SPECS = {
    "cifar10": InputSpec(kind="image", shape=(3, 32, 32), num_classes=10, norm="cifar10"),
    "cifar100": InputSpec(kind="image", shape=(3, 32, 32), num_classes=100, norm="cifar100"),
    "ImageNet16-120": InputSpec(kind="image", shape=(3, 16, 16), num_classes=120, norm="imagenet16"),
}
# extra spellings of each dataset in CSV column names / dataset cells
DATASET_ALIASES = {
    "cifar10": ("cifar-10",),
    "cifar100": ("cifar-100",),
    "ImageNet16-120": ("imagenet16", "imagenet-16-120", "imagenet"),
}


class NatsSpace(SearchSpace):
    """Base of ``nats-tss`` and ``nats-sss``; subclasses enumerate keys, canonicalise and build."""

    datasets = tuple(DATASET_SPECS)
    gt_fields = ("test_acc", "valid_acc", "params", "flops")
    default_target = "test_acc"
    base_names: tuple[str, ...] = ()  # file stems of the official archive, newest last
    space_label = ""
    source = ""  # keys of the archive and of a ground-truth CSV in nasprox.core.sources.SOURCES
    csv_source = ""

    def __init__(self, hp: str) -> None:
        self.hp = str(hp)  # NATS training schedule whose results are read from the archive
        self._archive: NatsArchive | None = None
        self._csv: dict[str, dict[str, dict[str, float]]] = {}

    # -- to be provided by subclasses ------------------------------------------------------
    def canonical(self, text: str) -> str:
        raise NotImplementedError

    def all_keys(self) -> list[str]:
        raise NotImplementedError

    # -- enumeration ---------------------------------------------------------------------------
    def parse(self, text: str) -> ArchRef:
        return self.arch(self.index_of(text))

    def arch(self, index: int) -> ArchRef:
        """The ArchRef of ``index``; refuses, up front, an architecture that a configured sample archive
        lacks and no ground-truth CSV covers (module doc)."""
        ref = super().arch(index)
        if self._archive is not None and index not in self._archive.held and ref.key not in self._csv:
            raise NasproxError(self._archive.missing_record(index))
        return ref

    # -- models ------------------------------------------------------------------------------
    def input_spec(self, dataset: str) -> InputSpec:
        return DATASET_SPECS[self.check_dataset(dataset)]

    # -- ground truth ------------------------------------------------------------------------
    def configure(self, benchmark: Path | None = None, ground_truth: Path | None = None) -> None:
        if benchmark is not None:
            from nasprox.spaces.nats._nats_files import NatsArchive

            self._archive = NatsArchive(
                Path(benchmark),
                self.space_label,
                self.base_names,
                self.all_keys(),
                self.hp,
                self.source,
                self.csv_source,
            )
        if ground_truth is not None:
            from nasprox.spaces._gt_csv import read_ground_truth_csv

            table = read_ground_truth_csv(
                Path(ground_truth),
                space=self.name,
                datasets=DATASET_ALIASES,
                fields=self.gt_fields,
                canonical=self.canonical,
                default_field=self.default_target,
                source=self.csv_source,
            )
            for key, per_dataset in table.items():
                for dataset, fields in per_dataset.items():
                    self._csv.setdefault(key, {}).setdefault(dataset, {}).update(fields)

    def ground_truth(self, arch: ArchRef, dataset: str) -> Mapping[str, float]:
        self.check_dataset(dataset)
        if self._archive is None and not self._csv:
            return {}
        key = self.canonical(arch.key)  # unknown / malformed arch -> NasproxError
        index = self.index_of(key)
        truth: dict[str, float] = {}
        if self._archive is not None and (index in self._archive.held or key not in self._csv):
            truth.update(self._archive.fields(index, key, dataset))
        truth.update(self._csv.get(key, {}).get(dataset, {}))
        return truth

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self):
            raise NasproxError(f"architecture index {index} out of range for {self.name} (0..{len(self) - 1})")
        return index


def unknown_arch(space: str, text: str, example: str) -> NasproxError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return NasproxError(f"'{shown}' is not a {space} architecture (expected e.g. {example})")
