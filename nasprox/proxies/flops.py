"""flops: multiply-accumulates per sample in millions, xautodl ``get_model_infos`` convention (PROXY_SPEC §8.2).

Eval mode, one forward of a batch-1 ``torch.rand`` input (random token ids for token models).
A per-module handler table counts, for every call:
  Conv1d/2d/3d: out positions · prod(kernel) · C_in · C_out / groups (+ C_out · out positions if bias);
  ConvTranspose1d/2d/3d: *in* positions · prod(kernel) · C_in · C_out / groups (each input position is
                scattered through the whole kernel; fvcore's and thop's count) (+ C_out · out positions if bias);
  Linear:       out positions · in · out (+ out · out positions if bias), positions = all but the feature dim.
Pooling, normalisation, activations, embeddings lookups, dropout and parameter-free modules count
zero by the convention. Any other *called* module that owns parameters (LSTM, MultiheadAttention's
input projection, ...) has no handler, unless it defines
``mac_count(inputs, output)`` (e.g. the NAS-Bench-NLP cell's ``MultiLinear``): by default (``flops.strict=true``) the
proxy is then undefined and names those types rather than silently counting them as zero; with
``flops.strict=false`` they are logged and skipped.
"""

from __future__ import annotations

import logging
import math
from typing import Protocol

import torch
from torch import nn

from nasprox.core import ProxyContext, ProxyOption, ProxyUndefined, proxy
from nasprox.proxies._common import forward_hooks

log = logging.getLogger("nasprox.proxies.flops")


def _conv_macs(module: nn.modules.conv._ConvNd, _inputs, output: torch.Tensor) -> float:
    positions = output.numel() // output.shape[1]  # batch · spatial output positions
    per_position = math.prod(module.kernel_size) * module.in_channels * module.out_channels / module.groups
    macs = per_position * positions
    if module.bias is not None:
        macs += module.out_channels * positions
    return macs


def _conv_transpose_macs(module: nn.modules.conv._ConvTransposeNd, inputs, output: torch.Tensor) -> float:
    x = inputs[0]
    in_positions = x.numel() // x.shape[1]  # batch · spatial input positions
    macs = math.prod(module.kernel_size) * module.in_channels * module.out_channels / module.groups * in_positions
    if module.bias is not None:
        macs += module.out_channels * (output.numel() // output.shape[1])
    return macs


def _linear_macs(module: nn.Linear, _inputs, output: torch.Tensor) -> float:
    positions = output.numel() // module.out_features  # batch · any middle dimensions
    macs = module.in_features * module.out_features * positions
    if module.bias is not None:
        macs += module.out_features * positions
    return macs


MAC_HANDLERS = {
    nn.Conv1d: _conv_macs,
    nn.Conv2d: _conv_macs,
    nn.Conv3d: _conv_macs,
    nn.ConvTranspose1d: _conv_transpose_macs,
    nn.ConvTranspose2d: _conv_transpose_macs,
    nn.ConvTranspose3d: _conv_transpose_macs,
    nn.Linear: _linear_macs,
}
# owning parameters but, by the xautodl convention, not counted
ZERO_BY_CONVENTION = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.Embedding,
    nn.PReLU,
)


class _CountsMacs(Protocol):
    def mac_count(self, inputs, output) -> float: ...


def _own_count(module: _CountsMacs, inputs, output) -> float:
    return float(module.mac_count(inputs, output))


def _handler(module: nn.Module):
    if callable(getattr(module, "mac_count", None)):  # a space's own layer type counts itself
        return _own_count
    for kind, fn in MAC_HANDLERS.items():
        if isinstance(module, kind):
            return fn
    return None


def count_macs(model: nn.Module, inputs: torch.Tensor) -> tuple[float, set[str]]:
    """Total MACs of one forward of ``inputs`` and the type names of called modules with no handler."""
    total = 0.0
    unsupported: set[str] = set()

    def on_forward(module, module_inputs, output):
        nonlocal total
        fn = _handler(module)
        if fn is not None:
            total += fn(module, module_inputs, output)
        elif not isinstance(module, ZERO_BY_CONVENTION) and any(True for _ in module.parameters(recurse=False)):
            unsupported.add(type(module).__name__)

    with forward_hooks(list(model.modules()), on_forward), torch.no_grad():
        model(inputs)
    return total, unsupported


def probe_input(ctx: ProxyContext) -> torch.Tensor:
    shape = (1, *ctx.inputs.shape[1:])
    gen = torch.Generator().manual_seed(ctx.seed)
    if ctx.input_spec.kind == "tokens" or not ctx.inputs.is_floating_point():
        return torch.randint(0, max(ctx.input_spec.num_classes, 1), shape, generator=gen).to(ctx.inputs.device)
    return torch.rand(shape, generator=gen).to(device=ctx.inputs.device, dtype=ctx.inputs.dtype)


@proxy(
    "flops",
    "Multiply-accumulates of Conv/Linear layers per sample in millions (xautodl convention; baseline)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=False,
    bn="n/a",
    cost="forward",
    leaves_model_unchanged=True,
    options=(
        ProxyOption(
            "strict",
            bool,
            True,
            "a called module with parameters but no MAC handler makes the proxy "
            "undefined (false: log and count it as zero) (PROXY_SPEC §8.2)",
        ),
    ),
)
def flops(ctx: ProxyContext) -> float:
    strict = bool(ctx.opt("strict"))
    mega_macs, unsupported = macs_per_sample(ctx)
    if unsupported:
        names = ", ".join(sorted(unsupported))
        if strict:
            raise ProxyUndefined(
                f"no MAC handler for layer types: {names} (use --proxy-opt flops.strict=false to skip them)"
            )
        log.warning("flops: skipped layer types with no MAC handler: %s", names)
    return mega_macs


def macs_per_sample(ctx: ProxyContext) -> tuple[float, set[str]]:
    """(MACs per sample in millions, layer types with no handler) of ``ctx.model`` counted in eval mode, as
    xautodl does; the modes are restored after (the engine shares the network, no copy). Also AZ-NAS's
    complexity component."""
    inputs = probe_input(ctx)
    modes = [(m, m.training) for m in ctx.model.modules()]
    ctx.model.eval()
    try:
        macs, unsupported = count_macs(ctx.model, inputs)
    finally:
        for module, training in modes:
            module.training = training
    return macs / inputs.shape[0] / 1e6, unsupported
