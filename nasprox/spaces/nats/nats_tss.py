"""NATS-Bench topology search space (NATS-TSS = NAS-Bench-201): 15,625 cells x 3 datasets.

Architectures
    A cell has 4 nodes and 6 edges, each edge one of none / skip_connect / nor_conv_1x1 /
    nor_conv_3x3 / avg_pool_3x3. Key = the benchmark's arch string
    ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``. Index = the NATS (= NB201) index, generated here
    without any file exactly as the benchmark did (AutoDL-Projects ``generate_meta_info``): all
    cells in ``CellStructure.gen_all`` order (edges in string order, ops in the order above, the
    first edge varying slowest), then ``random.seed(88); random.shuffle``. Tests check it against
    the real ``meta_archs`` and ``nb201_test_acc_200ep.csv``.
    :meth:`parse` also takes a NASLib op tuple ``(o0, ..., o5)`` over edges
    (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) with ops 0=skip 1=none 2=conv3x3 3=conv1x1 4=avg_pool,
    i.e. ``|{o0}~0|+|{o1}~0|{o3}~1|+|{o2}~0|{o4}~1|{o5}~2|`` (e.g. HW-NAS-Bench's ``net`` column,
    read this way by ``nasprox pareto``). Op names, edge order and both string forms: ``_nb201_codec``.

Models
    xautodl ``TinyNetwork`` (C=16, N=5) built from ``_nb201_ops``; logits only. Parameter counts
    equal the benchmark's ``params`` (checked in tests). :meth:`thin_network` builds TE-NAS's
    one-channel, one-cell network for ``linear_regions.network=thin``.

Ground truth: see ``_nats_common`` / ``_nats_files`` (default ``hp='200'``, the 200-epoch runs).
"""

from __future__ import annotations

import functools
import itertools
import random

from nasprox.core import ArchRef, CellTopology, space
from nasprox.core.sources import describe_files
from nasprox.spaces.nats._nats_common import NatsSpace, unknown_arch
from nasprox.spaces.nats._nb201_codec import EXAMPLE, OPS, arch_string, canonical_string, cell_ops, genotype_of

C, N = 16, 5
SHUFFLE_SEED = 88  # AutoDL-Projects exps/NAS-Bench-201: "please do not change this line for reproducibility"


@functools.lru_cache(maxsize=1)
def nats_order() -> tuple[str, ...]:
    """All 15,625 arch strings in NATS index order (module doc)."""
    archs = [arch_string(ops) for ops in itertools.product(OPS, repeat=6)]
    random.Random(SHUFFLE_SEED).shuffle(archs)  # same stream as random.seed(88); random.shuffle
    return tuple(archs)


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, int]:
    return {k: i for i, k in enumerate(nats_order())}


@functools.lru_cache(maxsize=1)
def nb201_unique_representatives() -> tuple[str, ...]:
    """The 9,445 non-isomorphic NB201 cells, one arch string per class of equal networks (the cell
    with its dead edges set to ``none``; see ``_nb201_graph``), in NATS index order of the
    representatives. ``nasprox unique-cells`` writes them for ``nasprox score --arch-list``."""
    from nasprox.spaces.nats._nb201_graph import canonical_cell

    reps = {canonical_cell(k) for k in nats_order()}
    return tuple(k for k in nats_order() if k in reps)


@space("nats-tss", aliases=("nb201", "nasbench201", "nas-bench-201"))
class NatsTssSpace(NatsSpace):
    description = (
        "NATS-Bench topology (= NAS-Bench-201): 15,625 cells, TinyNetwork C=16 N=5, cifar10/cifar100/ImageNet16-120"
    )
    base_names = ("NATS-tss-v1_0-3ffb9",)
    space_label = "NATS-Bench topology (tss)"
    source, csv_source = "nats-tss", "nats-tss-csv"
    files_help = describe_files(
        source,
        csv_source,
        note="--benchmark also takes the folder holding the -simple directory; results read at hp=200",
    )

    def __init__(self, hp: str = "200") -> None:
        super().__init__(hp)

    def __len__(self) -> int:
        return len(nats_order())

    def all_keys(self) -> list[str]:
        return list(nats_order())

    def key(self, index: int) -> str:
        return nats_order()[self._check_index(index)]

    def index_of(self, key: str) -> int:
        return _index()[self.canonical(key)]

    def canonical(self, text: str) -> str:
        text = str(text).strip()
        key = canonical_string(text)
        if key is not None:
            return key
        raise unknown_arch(self.name, text, f"{EXAMPLE} or a NASLib tuple (2, 2, 3, 4, 1, 0)")

    def build(self, arch: ArchRef, dataset: str):
        from nasprox.spaces.nats._nb201_ops import TinyNetwork  # torch only when building

        spec = self.input_spec(dataset)
        return TinyNetwork(C, N, genotype_of(self.canonical(arch.key)), spec.num_classes).train()

    def thin_network(self, arch: ArchRef, dataset: str):
        """TE-NAS's thin network (``_nb201_ops.ThinNetwork``): the cell alone at one channel, no stem, no
        reduction blocks, with the dataset's classifier (TE-NAS ``prune_tenas.py``: C=1, N=1, depth=1)."""
        from nasprox.spaces.nats._nb201_ops import ThinNetwork  # torch only when building

        spec = self.input_spec(dataset)
        return ThinNetwork(genotype_of(self.canonical(arch.key)), spec.num_classes).train()

    def neighbours(self, index: int) -> list[int]:
        """All cells one edge-op away (24 of them), for local search / mutation."""
        ops = list(cell_ops(self.key(index)))
        index_of = _index()
        return [index_of[arch_string(ops[:e] + [op] + ops[e + 1 :])] for e in range(6) for op in OPS if op != ops[e]]

    def arch_features(self, arch: ArchRef) -> dict[str, float]:
        """GRAF-style cell features: op counts, path counts, conv depth, cell #params/MACs (``_nb201_graph``)."""
        from nasprox.spaces.nats._nb201_graph import nb201_features

        return nb201_features(self.canonical(arch.key))

    def topology(self, arch: ArchRef) -> tuple[CellTopology, ...]:
        """Cells for nn_mass / nn_degree: the 15 searched cells and the 2 ResNet reduction blocks of the
        C=16, N=5 TinyNetwork (``_nb201_graph.tiny_network_topology``)."""
        from nasprox.spaces.nats._nb201_graph import tiny_network_topology

        return tiny_network_topology(self.canonical(arch.key), [C] * N + [2 * C] * (N + 1) + [4 * C] * (N + 1))

    def unique_key(self, key: str) -> str:
        """The cell with its dead edges set to ``none``: equal for isomorphic cells (9,445 classes)."""
        from nasprox.spaces.nats._nb201_graph import canonical_cell

        return canonical_cell(self.canonical(key))
