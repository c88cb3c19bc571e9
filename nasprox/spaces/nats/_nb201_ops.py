"""NAS-Bench-201 / NATS-Bench cell operations and the two benchmark networks, in PyTorch.

The structure follows xautodl (D-X-Y/AutoDL-Projects): ``models/cell_operations.py`` (``OPS``,
``ReLUConvBN``, ``ResNetBasicblock``, ``POOLING``, ``Zero``, ``Identity``, ``FactorizedReduce``),
``models/cell_infers/cells.py`` (``InferCell``), ``models/cell_infers/tiny_network.py``
(``TinyNetwork``, NATS-TSS) and ``models/shape_infers/InferTinyCellNet.py`` (``DynamicShapeTinyNet``,
NATS-SSS). We keep its class names (proxies such as NASWOT match class-name substrings like
``ReLU``), module names and registration order (so ``named_parameters`` order and layer lists
agree with the reference), and its affine / ``track_running_stats`` settings (all True in the
benchmark networks). The one deliberate difference: ``forward`` returns the logits tensor, not
xautodl's ``(features, logits)`` tuple.

Parameter counts therefore equal the benchmark's ``params`` (xautodl ``count_parameters_in_MB``,
all parameters); ``tests/test_space_nats.py`` checks them against the NATS records and NASLib.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nasprox.spaces.nats._nb201_codec import Genotype, genotype_string


class ReLUConvBN(nn.Module):
    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine, track_running_stats=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            # xautodl: bias only when BN has no affine shift (never in the benchmark networks)
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=not affine),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x):
        return self.op(x)


class ResNetBasicblock(nn.Module):
    """The fixed reduction block between stages (stride 2) of both NATS networks."""

    def __init__(self, inplanes, planes, stride, affine=True, track_running_stats=True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"invalid stride {stride}")
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, 1, affine, track_running_stats)
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif inplanes != planes:
            self.downsample = ReLUConvBN(inplanes, planes, 1, 1, 0, 1, affine, track_running_stats)
        else:
            self.downsample = None
        self.in_dim = inplanes
        self.out_dim = planes
        self.stride = stride
        self.num_conv = 2

    def extra_repr(self):
        return f"inC={self.in_dim}, outC={self.out_dim}, stride={self.stride}"

    def forward(self, inputs):
        basicblock = self.conv_b(self.conv_a(inputs))
        residual = self.downsample(inputs) if self.downsample is not None else inputs
        return residual + basicblock


class POOLING(nn.Module):
    def __init__(self, C_in, C_out, stride, mode, affine=True, track_running_stats=True):
        super().__init__()
        # a 1x1 ReLUConvBN first when the channel count changes (happens only in NATS-SSS cells)
        self.preprocess = None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track_running_stats)
        if mode == "avg":
            self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif mode == "max":
            self.op = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ValueError(f"invalid pooling mode {mode}")

    def forward(self, inputs):
        x = self.preprocess(inputs) if self.preprocess is not None else inputs
        return self.op(x)


class ConvAvgPool2d(nn.AvgPool2d):
    """``avg_pool_3x3`` (3x3, stride 1, padding 1, count_include_pad=False) as a depthwise all-ones
    convolution divided by the per-pixel count of in-image taps. Opt-in (``use_conv_avg_pool``).

    On a channels_last CPU batch (the engine's CPU layout) NEAR on pooling-heavy NATS-TSS cells ran
    1.09x faster; on contiguous CPU tensors the pooling itself is ~10-18x faster (the native
    count_include_pad=False kernel is slow there). Scores were bit-identical on the development
    machine (oneDNN sums the 9 taps in the native kernel's row-major order, and the division by
    the count is the same IEEE division), but that order is oneDNN's choice per CPU ISA, not a
    guarantee, so it stays off by default (tests/test_near_batched.py checks it to 1e-6).
    """

    def forward(self, x):
        if x.dim() != 4 or x.device.type != "cpu":
            return super().forward(x)
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        ones = torch.ones(channels, 1, 3, 3, dtype=x.dtype).contiguous(
            memory_format=torch.channels_last
            if x.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        counts = nn.functional.avg_pool2d(
            x.new_ones(1, 1, height, width), 3, 1, 1, count_include_pad=True, divisor_override=1
        )
        return nn.functional.conv2d(x, ones, padding=1, groups=channels) / counts


def use_conv_avg_pool(model: nn.Module) -> nn.Module:
    """Swap every NB201 ``avg_pool_3x3`` AvgPool2d of ``model`` for ``ConvAvgPool2d`` (in place)."""
    for module in model.modules():
        op = getattr(module, "op", None)
        if (
            isinstance(module, POOLING)
            and type(op) is nn.AvgPool2d
            and op.kernel_size == 3
            and op.stride == 1
            and op.padding == 1
            and not op.count_include_pad
        ):
            module.op = ConvAvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return model


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (``x.mul(0.)`` when the shape is kept, as xautodl)."""

    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.C_in = C_in
        self.C_out = C_out
        self.stride = stride
        self.is_zero = True

    def forward(self, x):
        if self.C_in == self.C_out:
            return x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)
        shape = list(x.shape)
        shape[1] = self.C_out
        return x.new_zeros(shape, dtype=x.dtype, device=x.device)

    def extra_repr(self):
        return f"C_in={self.C_in}, C_out={self.C_out}, stride={self.stride}"


class FactorizedReduce(nn.Module):
    """``skip_connect`` when the shape changes (stride 1 in NATS-SSS cells: a 1x1 conv + BN)."""

    def __init__(self, C_in, C_out, stride, affine, track_running_stats):
        super().__init__()
        self.stride = stride
        self.C_in = C_in
        self.C_out = C_out
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            c_outs = [C_out // 2, C_out - C_out // 2]
            self.convs = nn.ModuleList(nn.Conv2d(C_in, c, 1, stride=stride, padding=0, bias=not affine) for c in c_outs)
            self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        elif stride == 1:
            self.conv = nn.Conv2d(C_in, C_out, 1, stride=stride, padding=0, bias=not affine)
        else:
            raise ValueError(f"invalid stride {stride}")
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats)

    def forward(self, x):
        if self.stride == 2:
            x = self.relu(x)
            y = self.pad(x)
            out = torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1)
        else:
            out = self.conv(x)
        return self.bn(out)

    def extra_repr(self):
        return f"C_in={self.C_in}, C_out={self.C_out}, stride={self.stride}"


def _conv(kernel: int):
    pad = kernel // 2
    return lambda C_in, C_out, stride, affine, track: ReLUConvBN(
        C_in, C_out, (kernel, kernel), (stride, stride), (pad, pad), (1, 1), affine, track
    )


OPS = {
    "none": lambda C_in, C_out, stride, affine, track: Zero(C_in, C_out, stride),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, track: POOLING(C_in, C_out, stride, "avg", affine, track),
    "nor_conv_3x3": _conv(3),
    "nor_conv_1x1": _conv(1),
    "skip_connect": lambda C_in, C_out, stride, affine, track: (
        Identity() if stride == 1 and C_in == C_out else FactorizedReduce(C_in, C_out, stride, affine, track)
    ),
}


class InferCell(nn.Module):
    """One NB201 cell: node j = sum over its edges of op(node i); the output is the last node."""

    def __init__(self, genotype: Genotype, C_in, C_out, stride, affine=True, track_running_stats=True):
        super().__init__()
        self.layers = nn.ModuleList()
        self.node_IN: list[list[int]] = []
        self.node_IX: list[list[int]] = []
        self.genotype: tuple[tuple[tuple[str, int], ...], ...] = tuple(
            tuple((str(op), int(j)) for op, j in node) for node in genotype
        )
        for node_info in self.genotype:
            cur_index, cur_innod = [], []
            for op_name, op_in in node_info:
                if op_in == 0:  # edges from the cell input change channels/stride
                    layer = OPS[op_name](C_in, C_out, stride, affine, track_running_stats)
                else:
                    layer = OPS[op_name](C_out, C_out, 1, affine, track_running_stats)
                cur_index.append(len(self.layers))
                cur_innod.append(op_in)
                self.layers.append(layer)
            self.node_IX.append(cur_index)
            self.node_IN.append(cur_innod)
        self.nodes = len(self.genotype) + 1
        self.in_dim = C_in
        self.out_dim = C_out
        # nodes that keep xautodl's 0 + ... sum (see forward): all edges ``none``, or one ``skip_connect``
        self._sum_from_zero = [
            all(isinstance(self.layers[i], Zero) for i in node)
            or (len(node) == 1 and isinstance(self.layers[node[0]], Identity))
            for node in self.node_IX
        ]

    def extra_repr(self):
        return f"nodes={self.nodes}, inC={self.in_dim}, outC={self.out_dim}, {genotype_string(self.genotype)}"

    def forward(self, inputs):
        # xautodl sums a node's terms with sum(), i.e. from the int 0: 0 + t1 + t2 ... Starting from t1
        # saves one elementwise kernel per node and is bit-identical: 0 + t == t except that 0 + (-0.0)
        # is +0.0, and no term can be -0.0 except the output of a ``none`` op (x * 0 for x < 0): the
        # others end in a BatchNorm (+ bias 0 turns -0.0 into +0.0) or pass on pooled/identical node
        # values, which by induction are never -0.0 (barring an average of subnormals ~1e-45 rounding
        # to -0.0). A -0.0 term changes a partial sum only if that
        # sum is 0 too, and once a non-``none`` term is in, the sum is never -0.0. So only a node with
        # ``none`` edges alone could differ, and it keeps the 0 + ... form. So does a node that is one
        # ``skip_connect``: without the add it would be the input node itself, and gradients from its
        # consumers would accumulate there in another order (forward equal, backward round-off apart).
        # Bit-identity of forward and backward is tested in tests/test_near_batched.py.
        nodes = [inputs]
        for node_layers, node_innods, from_zero in zip(self.node_IX, self.node_IN, self._sum_from_zero):
            terms = (self.layers[il](nodes[ii]) for il, ii in zip(node_layers, node_innods))
            if from_zero:
                nodes.append(sum(terms))
                continue
            node = next(terms)
            for term in terms:
                node = node + term
            nodes.append(node)
        return nodes[-1]


class _StagedCellNetwork(nn.Module):
    """The skeleton of both NATS networks: stem, 3 stages of N cells joined by ResNet blocks, head.

    ``layer_channels`` gives each of the 3N + 2 layers' output channels. Modules are created in
    xautodl's order, so seeded initialisation matches it.
    """

    def __init__(self, stem_channels: int, layer_channels: Sequence[int], genotype: Genotype, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(stem_channels)
        )
        N = len(layer_channels) // 3
        layer_reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        c_prev = stem_channels
        self.cells = nn.ModuleList()
        for c_curr, reduction in zip(layer_channels, layer_reductions):
            cell = ResNetBasicblock(c_prev, c_curr, 2) if reduction else InferCell(genotype, c_prev, c_curr, 1)
            self.cells.append(cell)
            c_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, inputs):
        feature = self.stem(inputs)
        for cell in self.cells:
            feature = cell(feature)
        out = self.global_pooling(self.lastact(feature))
        return self.classifier(out.view(out.size(0), -1))


class TinyNetwork(_StagedCellNetwork):
    """NATS-TSS / NB201 network: stem, 3 stages of N cells (C, 2C, 4C) joined by ResNet blocks, head."""

    def __init__(self, C: int, N: int, genotype: Genotype, num_classes: int):
        super().__init__(C, [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N, genotype, num_classes)
        self._C = C
        self._layerN = N
        self._Layer = len(self.cells)

    def extra_repr(self):
        return f"C={self._C}, N={self._layerN}, L={self._Layer}"


class ThinNetwork(nn.Module):
    """TE-NAS's "thin" network for counting linear regions on NAS-Bench-201 (VITA-Group/TENAS ``prune_tenas.py``:
    ``TinyNetworkDarts`` with C=1, N=1, depth=1, use_stem=False): the cell alone at ``C`` channels, fed the
    input directly, then the usual head (BN + ReLU, global average pooling, linear classifier).

    ``depth=1`` stops TE-NAS's layer loop after the first layer, so there is one cell in all: no later
    stages and no ResNet reduction blocks. TE-NAS also builds a stem (``Conv2d(1, 1, 3)`` + BN) that
    ``use_stem=False`` never calls; it is left out here (it only shifts the init draws, which cannot
    match TE-NAS's anyway: its supernet cell builds all five candidate ops on every edge).
    """

    def __init__(self, genotype: Genotype, num_classes: int, C: int = 1):
        super().__init__()
        self.cells = nn.ModuleList([InferCell(genotype, C, C, 1)])
        self.lastact = nn.Sequential(nn.BatchNorm2d(C), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C, num_classes)
        self._C = C

    def extra_repr(self):
        return f"C={self._C}, cells=1, no stem"

    def forward(self, inputs):
        feature = inputs
        for cell in self.cells:
            feature = cell(feature)
        out = self.global_pooling(self.lastact(feature))
        return self.classifier(out.view(out.size(0), -1))


class DynamicShapeTinyNet(_StagedCellNetwork):
    """NATS-SSS network: the TinyNetwork skeleton with per-layer channel counts (N = len(channels) // 3)."""

    def __init__(self, channels: Sequence[int], genotype: Genotype, num_classes: int):
        if len(channels) % 3 != 2:
            raise ValueError(f"invalid number of layers: {len(channels)}")
        super().__init__(channels[0], channels, genotype, num_classes)
        self._channels = tuple(channels)
        self._num_stage = len(channels) // 3
        self._num_layer = len(self.cells)

    def extra_repr(self):
        return f"C={list(self._channels)}, N={self._num_stage}, L={self._num_layer}"
