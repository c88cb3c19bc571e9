"""NATS-Bench SSS: 32,768 channel configurations of the size-search network.

Keys are ``c1:c2:c3:c4:c5`` with each channel count in {8, 16, ..., 64}; the index is the official
NATS index, which is the product order with the last layer varying fastest (checked against the real
``NATS-sss-v1_0-50262`` meta file in the tests). The network is xautodl's ``DynamicShapeTinyNet`` with
the fixed cell of the benchmark (the best NB201 cell). Ground truth reads the 90-epoch results
(``hp='90'``, PROXY_SPEC §1).
"""

from __future__ import annotations

import itertools
from functools import cached_property

from nasprox.core import ArchRef, CellTopology, ProxyUndefined, space
from nasprox.core.sources import describe_files
from nasprox.spaces.nats._nats_common import DATASET_SPECS, NatsSpace, unknown_arch
from nasprox.spaces.nats._nb201_codec import genotype_of

CHANNELS = tuple(range(8, 65, 8))
LAYERS = 5
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
EXAMPLE = "16:32:48:64:64"


@space("nats-sss", aliases=("natsbench-sss",))
class NatsSssSpace(NatsSpace):
    description = "NATS-Bench size search space: 32,768 channel configs (8..64 per layer) of the fixed best cell"
    base_names = ("NATS-sss-v1_0-50262",)
    space_label = "NATS-Bench SSS"
    source, csv_source = "nats-sss", "nats-sss-csv"
    files_help = describe_files(
        source,
        csv_source,
        note="--benchmark also takes the folder holding the -simple directory; results read at hp=90",
    )

    def __init__(self, hp: str = "90") -> None:
        super().__init__(hp)

    @cached_property
    def _keys(self) -> list[str]:
        return [":".join(map(str, c)) for c in itertools.product(CHANNELS, repeat=LAYERS)]

    def __len__(self) -> int:
        return len(CHANNELS) ** LAYERS

    def all_keys(self) -> list[str]:
        return self._keys

    def key(self, index: int) -> str:
        return self._keys[self._check_index(index)]

    def canonical(self, text: str) -> str:
        parts = text.strip().split(":")
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise unknown_arch(self.name, text, EXAMPLE) from None
        if len(values) != LAYERS or any(v not in CHANNELS for v in values):
            raise unknown_arch(self.name, text, EXAMPLE)
        return ":".join(map(str, values))

    def index_of(self, key: str) -> int:
        index = 0
        for v in self.canonical(key).split(":"):
            index = index * len(CHANNELS) + CHANNELS.index(int(v))
        return index

    def build(self, arch: ArchRef, dataset: str):
        from nasprox.spaces.nats._nb201_ops import DynamicShapeTinyNet  # torch only when building

        spec = DATASET_SPECS[self.check_dataset(dataset)]
        channels = [int(v) for v in self.canonical(arch.key).split(":")]
        return DynamicShapeTinyNet(channels, genotype_of(CELL), spec.num_classes)

    def thin_network(self, arch: ArchRef, dataset: str):
        """Undefined: TE-NAS's thin network keeps the cell and sets every width to one channel, and NATS-SSS
        architectures differ only in their widths (the cell is fixed), so every one would give the same network."""
        raise ProxyUndefined(
            "TE-NAS's thin network (one channel, one cell) is undefined on nats-sss: its architectures differ "
            "only in channel widths, which the thin network sets to 1, so all of them would be the same network"
        )

    def neighbours(self, index: int) -> list[int]:
        """Configurations differing in one layer's channel count."""
        values = self.key(index).split(":")
        out = []
        for i in range(LAYERS):
            for c in CHANNELS:
                if str(c) != values[i]:
                    out.append(self.index_of(":".join(values[:i] + [str(c)] + values[i + 1 :])))
        return out

    def topology(self, arch: ArchRef) -> tuple[CellTopology, ...]:
        """Cells for nn_mass / nn_degree: the fixed best cell at layers 1, 3, 5 and the ResNet reduction
        blocks at layers 2, 4, each with its layer's channel count (``_nb201_graph.tiny_network_topology``)."""
        from nasprox.spaces.nats._nb201_graph import tiny_network_topology

        return tiny_network_topology(CELL, [int(v) for v in self.canonical(arch.key).split(":")])

    def arch_features(self, arch: ArchRef) -> dict[str, float]:
        """Channel widths per layer plus their min / max / mean and the number of width changes."""
        widths = [float(v) for v in self.canonical(arch.key).split(":")]
        feats = {f"width_{i + 1}": w for i, w in enumerate(widths)}
        feats.update(
            width_min=min(widths),
            width_max=max(widths),
            width_mean=sum(widths) / len(widths),
            width_changes=float(sum(a != b for a, b in zip(widths, widths[1:]))),
        )
        return feats
