"""TransNAS-Bench-101 networks: the MacroNet encoder (micro cells or ResNet basic blocks) and the
task-specific decoders, re-implemented from the benchmark's training code
(yawen-d/TransNASBench: lib/models/net_infer/{net_macro,cell_micro}.py, net_ops/cell_ops.py,
task_models/{decoder,siamese}.py, configs/train_from_scratch/<task>/config.py).

Parity notes (behaviour kept on purpose, so parameter counts and shapes match the benchmark):

* The encoder is built with MacroNet's default ``input_dim=(224, 224)``, and the dense decoders
  derive their number of upsampling layers from that 224-based feature size
  (``int(log2(256 / feature_width))``), whatever the real input size. For every skeleton of the
  two spaces this upsamples a 256x256 input's feature map back to exactly 256x256 (and any input
  of a multiple of 64 back to its own size).
* Encoder convs get Kaiming-normal (fan_out) init and BN (1, 0), as ``MacroNet._kaiming_init``;
  decoders keep PyTorch defaults. This is the benchmark's own init (PROXY_SPEC §1.5).
* The GAN discriminator of ``normal``/``autoencoder`` is a training device, not part of the
  network's forward, so it is not built.
* Jigsaw: the Siamese net runs the encoder on each of 9 tiles (3x64x64) and concatenates the
  features. The model accepts either tiles ``(B, 9, 3, h, w)`` or an image ``(B, 3, 3h, 3w)`` that
  it cuts into a 3x3 grid of tiles in reading order (the benchmark's ``image2tiles4testing``
  reshapes without cutting, which mixes pixels of different tiles; we cut properly).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

BENCH_INPUT_DIM = 224  # MacroNet's default input_dim, used by the benchmark to size the decoders
DENSE_TARGET_DIM = 256  # target_dim of the dense tasks in the benchmark configs


# -- cell operations (cell_ops.py) --------------------------------------------------------------
class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.ops = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )

    def forward(self, x):
        return self.ops(x)


class Zero(nn.Module):
    """The 'none' op: zeros of the output shape (strided/channel-changing like the benchmark)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x):
        if self.c_in == self.c_out:
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        n, _, h, w = x.shape
        return x.new_zeros(n, self.c_out, (h + 1) // self.stride, (w + 1) // self.stride)


class FactorizedReduce(nn.Module):
    """Skip-connect across a stride/channel change: two offset 1x1 convs, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        halves = (c_out // 2, c_out - c_out // 2)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c, 1, stride=stride, padding=0, bias=False) for c in halves)
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        self.bn = nn.BatchNorm2d(c_out, affine=True, track_running_stats=True)

    def forward(self, x):
        x = self.relu(x)
        shifted = self.pad(x)[:, :, 1:, 1:]
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1))


def make_op(code: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """Micro op codes: 0 none, 1 skip, 2 conv1x1, 3 conv3x3 (all ReLU-Conv-BN)."""
    if code == "0":
        return Zero(c_in, c_out, stride)
    if code == "1":
        return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)
    if code == "2":
        return ReLUConvBN(c_in, c_out, 1, stride, 0)
    if code == "3":
        return ReLUConvBN(c_in, c_out, 3, stride, 1)
    raise ValueError(f"unknown TransNAS micro op code {code!r}")


# -- blocks (cell_micro.py) ----------------------------------------------------------------------
class MicroCell(nn.Module):
    """4-node cell; node j sums op(node i) over i < j; edges leaving node 0 carry the stride."""

    def __init__(self, cell_code: list[str], c_in: int, c_out: int, stride: int):
        super().__init__()
        self.edges = nn.ModuleList()
        self.sources: list[list[tuple[int, int]]] = [[]]  # per node: (edge index, from node)
        for node in range(1, len(cell_code)):
            incoming = []
            for from_node, code in enumerate(cell_code[node]):
                if from_node == 0:
                    op = make_op(code, c_in, c_out, stride)
                else:
                    op = make_op(code, c_out, c_out, 1)
                incoming.append((len(self.edges), from_node))
                self.edges.append(op)
            self.sources.append(incoming)

    def forward(self, x):
        nodes = [x]
        for incoming in self.sources[1:]:
            nodes.append(sum(self.edges[e](nodes[i]) for e, i in incoming))
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, padding=0, bias=False),
                nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
            )

    def forward(self, x):
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


# -- encoder (net_macro.py, structure='backbone') -----------------------------------------------
class MacroEncoder(nn.Module):
    """Stem (two stride-2 convs) then one 2-block module per macro-code digit.

    Digit semantics: 1 normal, 2 channels x2, 3 resolution /2, 4 both.
    ``output_dim`` is (channels, h, w) at the benchmark's nominal 224x224 input.
    """

    def __init__(self, arch: str):
        super().__init__()
        base, macro_code, cell = _split_arch(arch)
        c = base
        self.stem = nn.Sequential(
            nn.Conv2d(3, base // 2, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(base // 2, affine=True, track_running_stats=True),
            ReLUConvBN(base // 2, base, 3, 2, 1),
        )
        feature = BENCH_INPUT_DIM // 4
        layers = []
        for digit in macro_code:
            layer_type = int(digit)
            target = c * 2 if layer_type % 2 == 0 else c
            stride = 2 if layer_type > 2 else 1
            feature //= stride
            blocks = [self._block(cell, c, target, stride), self._block(cell, target, target, 1)]
            layers.append(nn.Sequential(*blocks))
            c = target
        self.layers = nn.Sequential(*layers)
        self.output_dim = (c, feature, feature)
        for m in self.modules():  # MacroNet._kaiming_init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    @staticmethod
    def _block(cell: list[str] | None, c_in: int, c_out: int, stride: int) -> nn.Module:
        return ResNetBasicBlock(c_in, c_out, stride) if cell is None else MicroCell(cell, c_in, c_out, stride)

    def forward(self, x):
        return self.layers(self.stem(x))


def _split_arch(arch: str) -> tuple[int, str, list[str] | None]:
    """'64-41414-1_02_333' -> (64, '41414', ['', '1', '02', '333']); '64-1234-basic' -> (64, '1234', None)."""
    base, macro_code, cell = arch.split("-")
    return int(base), macro_code, None if cell == "basic" else [""] + cell.split("_")


# -- decoders (decoder.py) ------------------------------------------------------------------------
class ConvLayer(nn.Module):
    def __init__(self, c_in, c_out, activation: nn.Module | None, norm: bool, transposed: bool = False):
        super().__init__()
        self.conv: nn.Conv2d | nn.ConvTranspose2d
        if transposed:
            self.conv = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1)
        else:
            self.conv = nn.Conv2d(c_in, c_out, 3, stride=1, padding=1)
        self.norm = nn.BatchNorm2d(c_out) if norm else None
        self.activation = activation

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return x if self.activation is None else self.activation(x)


def _num_upsample(in_width: int) -> int:
    n = int(math.log2(DENSE_TARGET_DIM / in_width))
    if n not in (2, 3, 4, 5, 6):
        raise ValueError(f"invalid number of upsampling layers {n} for feature width {in_width}")
    return n


class PooledLinear(nn.Module):
    """FFDecoder / SiameseDecoder: global average pool then one linear layer."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SegmentationDecoder(nn.Module):
    def __init__(self, in_dim: tuple[int, int, int], num_classes: int):
        super().__init__()
        c_in, width = in_dim[0], in_dim[1]
        n_up = _num_upsample(width)
        leaky = lambda: nn.LeakyReLU(0.2, False)  # noqa: E731
        layers = [ConvLayer(c_in, 1024, leaky(), True)]
        c = 1024
        for _ in range(6 - n_up):  # non-upsampling layers
            layers.append(ConvLayer(c, c // 2, leaky(), True))
            c //= 2
        for _ in range(n_up - 1):
            layers.append(ConvLayer(c, c // 2, leaky(), True, transposed=True))
            c //= 2
        layers.append(ConvLayer(c, c, leaky(), True, transposed=True))
        layers.append(ConvLayer(c, num_classes, None, False))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class GenerativeDecoder(nn.Module):
    """14-layer conv/deconv decoder with a Tanh output (normal, autoencoder)."""

    def __init__(self, in_dim: tuple[int, int, int], out_channels: int = 3):
        super().__init__()
        c_in, width = in_dim[0], in_dim[1]
        n = _num_upsample(width)
        leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        plan = [  # (c_in, c_out, transposed)
            (c_in, 1024, False),
            (1024, 1024, False),
            (1024, 512, n == 6),
            (512, 512, False),
            (512, 256, n >= 5),
            (256, 128, False),
            (128, 64, n >= 4),
            (64, 64, False),
            (64, 32, n >= 3),
            (32, 32, False),
            (32, 16, True),
            (16, 32, False),
            (32, 16, True),
        ]
        layers = [ConvLayer(a, b, leaky(), True, transposed=t) for a, b, t in plan]
        layers.append(ConvLayer(16, out_channels, nn.Tanh(), False))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


# -- full task networks -----------------------------------------------------------------------------
class TaskNetwork(nn.Module):
    """Encoder + decoder; returns logits / predictions as a single tensor."""

    def __init__(self, encoder: MacroEncoder, decoder: nn.Module, jigsaw: bool = False):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.jigsaw = jigsaw

    def forward(self, x):
        if not self.jigsaw:
            return self.decoder(self.encoder(x))
        tiles = x if x.dim() == 5 else image_to_tiles(x)
        # one encoder pass per tile position, as the benchmark (BN statistics per position)
        features = [self.encoder(tiles[:, i].contiguous()) for i in range(tiles.shape[1])]
        return self.decoder(torch.cat(features, dim=1))


def image_to_tiles(x: torch.Tensor, grid: int = 3) -> torch.Tensor:
    """(B, C, grid*h, grid*w) -> (B, grid*grid, C, h, w), tiles in reading order."""
    b, c, height, width = x.shape
    h, w = height // grid, width // grid
    x = x[:, :, : h * grid, : w * grid].reshape(b, c, grid, h, grid, w)
    return x.permute(0, 2, 4, 1, 3, 5).reshape(b, grid * grid, c, h, w)


def build_task_network(arch: str, task: str, num_outputs: int) -> TaskNetwork:
    encoder = MacroEncoder(arch)
    in_dim = encoder.output_dim
    if task == "jigsaw":
        return TaskNetwork(encoder, PooledLinear(in_dim[0] * 9, num_outputs), jigsaw=True)
    if task in ("class_object", "class_scene", "room_layout"):
        return TaskNetwork(encoder, PooledLinear(in_dim[0], num_outputs))
    if task == "segmentsemantic":
        return TaskNetwork(encoder, SegmentationDecoder(in_dim, num_outputs))
    if task in ("normal", "autoencoder"):
        return TaskNetwork(encoder, GenerativeDecoder(in_dim, num_outputs))
    raise ValueError(f"unknown TransNAS task {task!r}")
