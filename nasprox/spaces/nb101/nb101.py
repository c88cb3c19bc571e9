"""NAS-Bench-101 (Ying et al., 2019): 423,624 unique cells on CIFAR-10.

Architectures
    A cell is a DAG of at most 7 vertices and 9 edges whose interior vertices are
    conv3x3-bn-relu, conv1x1-bn-relu or maxpool3x3. The canonical key is the official module hash
    (``graph_util.hash_module`` on the pruned graph), so isomorphic or unpruned specs share a key.
    With the benchmark file the index is the row in sorted-hash order and ``len()`` is 423,624;
    without it the space cannot be enumerated and architectures are given explicitly to
    :meth:`NB101Space.parse` as

    * a module hash (needs the benchmark file),
    * the compact spec ``ROWS:OPS``: V adjacency rows of V binary digits joined by ``.``, then
      the V-2 interior ops as ``3`` conv3x3, ``1`` conv1x1, ``m`` maxpool3x3, e.g. the README's
      Inception-like cell ``0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m``,
    * a NASLib tuple ``(V*V adjacency entries, V op codes 0=input 1=output 2=maxpool3x3
      3=conv1x1 4=conv3x3)`` as in NAS-Bench-Suite-Zero's ``zc_nasbench101.json`` keys,
    * JSON ``{"matrix": [[...]], "ops": ["input", ..., "output"]}``.

Ground truth (``configure(benchmark=...)``)
    ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord``, read without TensorFlow and
    cached once as ``.npz`` in the user cache dir (see ``_nb101_cache``); a cache ``.npz`` or a
    folder holding one of the tfrecords also works. ``test_acc`` / ``valid_acc`` are the mean over
    the three 108-epoch repeats of the final accuracy in percent, the convention in PROXY_SPEC §1
    ("Evaluation conventions": NB101 mean of the three 108-epoch final test accuracies); set
    ``repeat`` to 0, 1 or 2 for one run. ``params`` is ``trainable_parameters`` (a count, not
    millions).

Ground truth (``configure(ground_truth=CSV)``)
    A plain CSV (``nasprox.spaces._gt_csv``) whose architecture column holds any spelling
    :meth:`NB101Space.parse` takes, e.g. the 500 NAS-Bench-Suite-Zero cells with NASLib's
    ``val_accuracy`` written by ``scripts/suite_zero_nb101.py``. Its values win over the benchmark's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nasprox.core import ArchRef, CellTopology, InputSpec, NasproxError, SearchSpace, dag_topology, space
from nasprox.core.sources import describe_files, hint, missing
from nasprox.spaces.nb101._nb101_graph import Cell, is_module_hash, make_cell, parse_spec

if TYPE_CHECKING:
    from nasprox.spaces.nb101._nb101_cache import NB101Table

BENCHMARK_FILES = ("nasbench_only108.tfrecord", "nasbench_full.tfrecord")


@space("nb101", aliases=("nasbench101", "nas-bench-101"))
class NB101Space(SearchSpace):
    description = "NAS-Bench-101 cells (7 vertices, 9 edges, 3 ops) on CIFAR-10; key = official module hash"
    datasets = ("cifar10",)
    gt_fields = ("test_acc", "valid_acc", "params")
    default_target = "test_acc"
    files_help = describe_files(
        "nb101",
        note="--benchmark also takes the .npz cache built from the tfrecord; without it give architectures "
        "as cell specs such as 0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m",
    )

    def __init__(self) -> None:
        self._table: NB101Table | None = None  # set once a benchmark is configured
        self._parsed: dict[str, Cell] = {}  # hash -> cell of specs given to parse()
        self.repeat: int | None = None  # None: mean of the three 108-epoch runs
        self._csv: dict[str, dict[str, float]] = {}  # hash -> field -> value from a ground-truth CSV

    # -- enumeration ------------------------------------------------------------------------
    def examples(self, n: int = 2) -> list[ArchRef]:
        """Small cells given as specs (matrix rows '.'-joined : op codes), so no benchmark file is needed."""
        return [self.parse(spec) for spec in ("010.001.000:1", "011.001.000:3")[:n]]

    def __len__(self) -> int:
        return len(self._require_table("count the architectures"))

    def key(self, index: int) -> str:
        table = self._require_table("look up architecture indices")
        if not 0 <= index < len(table):
            raise NasproxError(f"architecture index {index} out of range for nb101 (0..{len(table) - 1})")
        return table.hashes[index].decode("ascii")

    def index_of(self, key: str) -> int:
        table = self._require_table("look up module hashes")
        row = table.find(key.strip().lower())
        if row < 0:
            raise NasproxError(f"module hash {key.strip()} is not in the NB101 benchmark")
        return row

    def parse(self, text: str) -> ArchRef:
        text = text.strip()
        if is_module_hash(text):
            module_hash = text.lower()
            if self._table is not None:
                return ArchRef(self.name, self.index_of(module_hash), module_hash)
            if module_hash in self._parsed:
                return ArchRef(self.name, -1, module_hash)
            raise NasproxError(
                "an NB101 module hash needs the benchmark file; without it give the cell spec, e.g. "
                f"0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m; {hint('nb101')}"
            )
        cell = parse_spec(text)
        module_hash = cell.module_hash()
        self._parsed[module_hash] = cell
        index = self._table.find(module_hash) if self._table is not None else -1
        # the spec travels with the ref: isomorphic specs share a hash but order their vertices differently, and
        # NB101's channel split follows that order (up to 0.016 M params apart on 3 Suite-Zero cells)
        return ArchRef(self.name, index, module_hash, spec=text)

    def cell(self, arch: ArchRef) -> Cell:
        """The pruned cell of an architecture: its own spec, else the last parse() of its hash, the benchmark's."""
        if arch.spec and not is_module_hash(arch.spec):
            return parse_spec(arch.spec)
        if arch.key in self._parsed:
            return self._parsed[arch.key]
        if self._table is not None and is_module_hash(arch.key):
            row = self._table.find(arch.key.lower())
            if row >= 0:
                return make_cell(*self._table.spec(row))
        if not is_module_hash(arch.key):
            return parse_spec(arch.key)
        raise NasproxError(
            f"cannot build NB101 architecture {arch.key}: give its spec instead of the hash, or the benchmark file; "
            + hint("nb101")
        )

    # -- models -----------------------------------------------------------------------------
    def input_spec(self, dataset: str) -> InputSpec:
        self.check_dataset(dataset)
        return InputSpec(kind="image", shape=(3, 32, 32), num_classes=10, norm="cifar10")

    def build(self, arch: ArchRef, dataset: str):
        from nasprox.spaces.nb101._nb101_model import NB101Network  # torch only when building

        self.check_dataset(dataset)
        return NB101Network(self.cell(arch), num_classes=10).train()

    def topology(self, arch: ArchRef) -> tuple[CellTopology, ...]:
        """Cells for nn_mass / nn_degree: the 9 cells of the network (3 stacks x 3; 128, 256, 512 output
        channels, the first cell of stacks 2-3 fed 128 / 256), each the pruned cell DAG with the vertex
        channels the model builds (``_nb101_model.vertex_channels``); an edge is any matrix 1 (the
        input -> output edge, a 1x1 projection, included)."""
        from nasprox.spaces.nb101._nb101_model import CELLS_PER_STACK, NUM_STACKS, STEM_CHANNELS, vertex_channels

        cell = self.cell(arch)
        n = cell.num_vertices
        edges = [(j, i) for j in range(n) for i in range(j + 1, n) if cell.edge(j, i)]
        out, c_in = [], STEM_CHANNELS
        for stack in range(NUM_STACKS):
            c_out = STEM_CHANNELS * 2**stack
            for _ in range(CELLS_PER_STACK):
                out.append(dag_topology(vertex_channels(c_in, c_out, cell), edges))
                c_in = c_out
        return tuple(out)

    # -- ground truth -----------------------------------------------------------------------
    def configure(self, benchmark: Path | None = None, ground_truth: Path | None = None) -> None:
        if benchmark is not None:
            from nasprox.spaces.nb101._nb101_cache import load_benchmark

            self._table = load_benchmark(_benchmark_file(Path(benchmark)))
        if ground_truth is not None:
            from nasprox.spaces._gt_csv import read_ground_truth_csv

            table = read_ground_truth_csv(
                Path(ground_truth),
                space=self.name,
                datasets={"cifar10": ("cifar10",)},
                fields=self.gt_fields,
                canonical=lambda text: self.parse(text).key,
                default_field=self.default_target,
                source="nb101",
            )
            for key, per_dataset in table.items():
                self._csv.setdefault(key, {}).update(per_dataset.get("cifar10", {}))

    def ground_truth(self, arch: ArchRef, dataset: str) -> Mapping[str, float]:
        self.check_dataset(dataset)
        truth = self._benchmark_truth(arch)
        truth.update(self._csv.get(arch.key.lower(), {}))
        return truth

    def _benchmark_truth(self, arch: ArchRef) -> dict[str, float]:
        if self._table is None:
            return {}
        row = self._table.find(arch.key.lower())
        if row < 0:
            return {}
        truth = {"params": float(self._table.trainable_parameters[row])}
        runs = slice(None) if self.repeat is None else slice(self.repeat, self.repeat + 1)
        for name, column in (("test_acc", self._table.test_acc), ("valid_acc", self._table.valid_acc)):
            values = column[row, runs]
            values = values[~np.isnan(values)]
            if values.size:  # mean of the available 108-epoch repeats, in percent
                truth[name] = 100.0 * float(values.mean())
        return truth

    def _require_table(self, what: str):
        if self._table is None:
            raise NasproxError(
                missing(
                    f"nb101 needs the benchmark file to {what} (or give architectures explicitly as cell specs, "
                    "e.g. the NAS-Bench-Suite-Zero sample: scripts/suite_zero_nb101.py)",
                    "nb101",
                )
            )
        return self._table


def _benchmark_file(path: Path) -> Path:
    path = path.expanduser()
    if path.is_dir():
        for name in BENCHMARK_FILES:
            if (path / name).is_file():
                return path / name
        raise NasproxError(missing(f"no {' or '.join(BENCHMARK_FILES)} in {path}", "nb101"))
    if not path.exists():
        raise NasproxError(missing(f"NB101 benchmark file not found: {path}", "nb101"))
    return path
