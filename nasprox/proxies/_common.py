"""Shared machinery for proxies: the foresight layer set, BN removal, output hooks.

Keyed by layer type so every proxy agrees on what a "layer" is (PROXY_SPEC §1.6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

# re-exported for the proxies: defined once in core, where score_model reads outputs the same way
from nasprox.core import logits_of as logits_of

WEIGHT_LAYER_TYPES = (nn.Conv2d, nn.Linear)  # exactly the foresight set, classifier included
WeightLayer = nn.Conv2d | nn.Linear  # the type of a WEIGHT_LAYER_TYPES member
BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

# ``@proxy`` metadata shared by the label-free forward proxies on the real batch with BN kept
# (epsilon, lnwot, linear_regions, meco): splat it into the decorator and write only what differs
FORWARD_REAL_DATA = dict(
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=True,
    bn="kept",
    cost="forward",
)


def weight_layers(model: nn.Module) -> list[WeightLayer]:
    """Conv2d/Linear modules in registration order (PROXY_SPEC §1.6)."""
    return [m for m in model.modules() if isinstance(m, WEIGHT_LAYER_TYPES)]


def remove_bn(model: nn.Module) -> nn.Module:
    """Make every BatchNorm an identity, in place (the foresight ``bn=False`` copy, §1.4)."""
    for m in model.modules():
        if isinstance(m, BN_TYPES):
            m.forward = _identity  # type: ignore[method-assign,assignment]  # per-instance patch, other signature
    return model


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def has_module(model: nn.Module, types: tuple[type, ...]) -> bool:
    return any(isinstance(m, types) for m in model.modules())


@contextlib.contextmanager
def forward_hooks(modules: Iterable[nn.Module], fn: Callable[[nn.Module, tuple, torch.Tensor], None]) -> Iterator[None]:
    """Register ``fn(module, inputs, output)`` on each module for the duration of the block."""
    handles = [m.register_forward_hook(fn) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def sum_layer_scores(per_layer: list[torch.Tensor]) -> float:
    """foresight ``sum_arr``: the sum of every element of every per-layer tensor, in float64."""
    total = torch.zeros((), dtype=torch.float64)
    for t in per_layer:
        total += t.detach().double().sum().cpu()
    return float(total)
