"""A plug-in with its own space and a proxy for it (tests/test_plugins.py): check-plugin checks both, the proxy
on the plug-in's own space. ``TINY_LOGITS`` set to another width breaks the space contract on purpose."""

import os

import torch
from torch import nn

from nasprox.core import InputSpec, NasproxError, SearchSpace, proxy, space


@space("plug_tiny")
class TinySpace(SearchSpace):
    description = "one conv of width 1..8 (test fixture)"
    datasets = ("cifar10",)

    def __len__(self):
        return 8

    def key(self, index):
        return f"c{index + 1}"

    def index_of(self, key):
        if not (key.startswith("c") and key[1:].isdigit()):
            raise NasproxError(f"not a plug_tiny arch: {key}")
        return int(key[1:]) - 1

    def input_spec(self, dataset):
        return InputSpec(kind="image", shape=(3, 8, 8), num_classes=10)

    def build(self, arch, dataset):
        width, logits = arch.index + 1, int(os.environ.get("TINY_LOGITS", "10"))
        return nn.Sequential(
            nn.Conv2d(3, width, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, logits)
        )


@proxy("plug_tiny_act", "mean activation on the batch (test fixture)", default_batch_size=4)
def plug_tiny_act(ctx):
    with torch.no_grad():
        return float(ctx.model(ctx.inputs).mean())
