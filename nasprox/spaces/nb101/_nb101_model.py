"""The NAS-Bench-101 network in PyTorch, following google-research/nasbench ``lib/model_builder.py``.

Skeleton: conv3x3-BN-ReLU stem (128 channels), 3 stacks of 3 cells, 2x2/2 max-pool before
stacks 2 and 3 with the channel count doubled there, global average pool, linear classifier.

Inside a cell (``build_module``): interior vertex channels come from
:func:`vertex_channels`; inputs to a vertex are summed, edges from the cell input go through a
1x1 conv-BN-ReLU *projection* to the vertex's channel count, edges between interior vertices
are *truncated* (channel slice) when the source has one channel more; the output vertex
concatenates its interior inputs and adds a projection of the cell input when that edge
exists (a lone input->output edge is just the projection).

Convolutions have no bias and BatchNorm is affine, so ``sum(p.numel() for p in parameters())``
equals the benchmark's ``trainable_parameters`` (TF trainable variables: kernels, BN
gamma/beta, dense kernel and bias). BatchNorm keeps PyTorch defaults (eps 1e-5 as upstream;
momentum only affects running statistics, which the proxies never use in train mode).
"""

from __future__ import annotations

import torch
from torch import nn

from nasprox.spaces.nb101._nb101_graph import CONV1X1, CONV3X3, MAXPOOL3X3, Cell

STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3


def vertex_channels(in_channels: int, out_channels: int, cell: Cell) -> list[int]:
    """Output channels of every vertex (``compute_vertex_channels``).

    The output channels are split evenly over the vertices feeding the output (the first
    ``out % fan_in`` of them get one extra channel); every other interior vertex takes the
    maximum over its interior successors, walking backwards.
    """
    n = cell.num_vertices
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    last = n - 1
    fan_in = sum(cell.edge(v, last) for v in range(1, last))
    base, extra = divmod(out_channels, fan_in)
    for v in range(1, last):
        if cell.edge(v, last):
            channels[v] = base + (1 if extra > 0 else 0)
            extra -= 1
    for v in range(n - 3, 0, -1):
        if not cell.edge(v, last):
            for dst in range(v + 1, last):
                if cell.edge(v, dst):
                    channels[v] = max(channels[v], channels[dst])
    if any(c <= 0 for c in channels[1:last]):  # cannot happen for a pruned cell
        raise ValueError(f"NB101 vertex without channels: {channels}")
    return channels


class ConvBnRelu(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


def _vertex_op(op: str, channels: int) -> nn.Module:
    if op == CONV3X3:
        return ConvBnRelu(channels, channels, 3)
    if op == CONV1X1:
        return ConvBnRelu(channels, channels, 1)
    if op == MAXPOOL3X3:
        return nn.MaxPool2d(kernel_size=3, stride=1, padding=1)  # TF 'same' pads with -inf too
    raise ValueError(f"unknown NB101 op {op}")


class NB101Cell(nn.Module):
    def __init__(self, cell: Cell, in_channels: int, out_channels: int):
        super().__init__()
        self.cell = cell
        n = cell.num_vertices
        self.channels = vertex_channels(in_channels, out_channels, cell)
        self.ops = nn.ModuleList([nn.Identity()] + [_vertex_op(cell.ops[v], self.channels[v]) for v in range(1, n - 1)])
        # projection of the cell input for every vertex with an input edge (keyed by vertex)
        self.projections = nn.ModuleDict(
            {str(v): ConvBnRelu(in_channels, self.channels[v], 1) for v in range(1, n) if cell.edge(0, v)}
        )
        self._sources = [[u for u in range(1, v) if cell.edge(u, v)] for v in range(n)]
        self._to_output = [v for v in range(1, n - 1) if cell.edge(v, n - 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.cell.num_vertices
        values: list[torch.Tensor] = [x]
        for v in range(1, n - 1):
            width = self.channels[v]
            inputs = [values[u][:, :width] for u in self._sources[v]]  # truncate by at most 1
            if str(v) in self.projections:
                inputs.append(self.projections[str(v)](x))
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            values.append(self.ops[v](total))
        if not self._to_output:
            return self.projections[str(n - 1)](x)
        out = (
            values[self._to_output[0]]
            if len(self._to_output) == 1
            else torch.cat([values[v] for v in self._to_output], dim=1)
        )
        if str(n - 1) in self.projections:
            out = out + self.projections[str(n - 1)](x)
        return out


class NB101Network(nn.Module):
    """Stem, 3 stacks x 3 cells with max-pool downsampling, global pool, linear -> logits."""

    def __init__(self, cell: Cell, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        layers: list[nn.Module] = [ConvBnRelu(in_channels, STEM_CHANNELS, 3)]
        channels = STEM_CHANNELS
        for stack in range(NUM_STACKS):
            out_channels = channels
            if stack > 0:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                out_channels = channels * 2
            for _ in range(CELLS_PER_STACK):
                layers.append(NB101Cell(cell, channels, out_channels))
                channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.layers(x)
        return self.classifier(features.mean(dim=(2, 3)))
