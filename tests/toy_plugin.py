"""A tiny search space and proxies for engine/storage/CLI tests (loaded via NASPROX_PLUGINS)."""

import math
import os
import time

import torch
from torch import nn

from nasprox.core import InputSpec, NasproxError, ProxyUndefined, SearchSpace, proxy, space


@space("toy")
class ToySpace(SearchSpace):
    description = "MLP-ish convnets of width 1..40 (test fixture)"
    datasets = ("cifar10",)
    gt_fields = ("test_acc", "params")

    def __len__(self):
        return 40

    def key(self, index):
        return f"w{index + 1}"

    def index_of(self, key):
        try:
            i = int(key.lstrip("w")) - 1
        except ValueError:
            raise NasproxError(f"not a toy arch: {key}") from None
        return i

    def input_spec(self, dataset):
        return InputSpec(kind="image", shape=(3, 8, 8), num_classes=10)

    def build(self, arch, dataset):
        w = arch.index + 1
        return nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w, 10)
        )

    def ground_truth(self, arch, dataset):
        return {"test_acc": 50.0 + arch.index, "params": (3 * 9 * (arch.index + 1) + (arch.index + 1) * 11 + 10) / 1e6}


@proxy("toy_width", "number of conv channels (test fixture)", needs_real_data=False, cost="free")
def toy_width(ctx):
    if os.environ.get("TOY_SLEEP"):
        time.sleep(float(os.environ["TOY_SLEEP"]))
    return float(ctx.model[0].out_channels)


@proxy(
    "toy_alloc", "holds 256 MiB of touched memory during the call (test fixture)", needs_real_data=False, cost="free"
)
def toy_alloc(ctx):
    block = torch.ones(64 * 2**20)  # 256 MiB of float32, every page written
    return float(block[-1]) * ctx.model[0].out_channels


@proxy("toy_mean", "mean logit on the batch (test fixture)")
def toy_mean(ctx):
    with torch.no_grad():
        return float(ctx.model(ctx.inputs).mean())


@proxy("toy_flaky", "fails in several ways depending on the width (test fixture)", needs_real_data=False, cost="free")
def toy_flaky(ctx):
    w = ctx.model[0].out_channels
    if w % 4 == 0:
        raise RuntimeError("boom")
    if w % 4 == 1:
        return math.inf
    if w % 4 == 2:
        raise ProxyUndefined("no such thing for this net")
    return 1.0


@proxy("toy_hang", "hangs forever on width 3 (test fixture for --timeout-per-arch)", needs_real_data=False, cost="free")
def toy_hang(ctx):
    if ctx.model[0].out_channels == 3:
        while True:
            time.sleep(1)
    return float(ctx.model[0].out_channels)
