"""Zen-score (Lin et al. 2021; PROXY_SPEC §6.1, reference idstcv/ZenNAS ``compute_zen_score.py``).

Per repeat, under no_grad in the model's train mode:
1. Gaussian re-init (Conv2d/Linear weight N(0, 1), bias 0; BatchNorm2d/GroupNorm γ = 1, β = 0;
   affine-free norms skipped). BN running statistics are *not* reset: repeat r sees the running
   statistics left by repeats 1..r−1 (same module objects throughout).
2. x ~ N(0, I), ε ~ N(0, I) of shape [B, *input shape]; x' = x + α ε (α = ``zen.alpha`` = 0.01).
3. f(x), then f(x'), with f = the feature map before global average pooling.
4. Δ = mean_b Σ |f(x)_b − f(x')_b| (L1 per sample, batch mean).
5. Zen = log Δ + Σ_{BatchNorm2d with running stats} log √(mean_c running_var_c), read after both
   forwards (first repeat: running_var = 0.81 + 0.09·v₁ + 0.1·v₂ with v the unbiased batch variances).
Final = mean over ``zen.repetitions`` (32; old name ``repeats``) repetitions; the Gaussian batch size is
the input batch size (``zen.batch_size``, old name ``zen.batch``; default the reference batch 16). Random draws come from a
torch Generator seeded from ``ctx.seed`` (CPU draws, so devices agree).

Choices: f is found generically — the model's own ``forward_pre_GAP`` if it has one; else the input
of the last executed global pooling module (AdaptiveAvgPool2d/AdaptiveMaxPool2d); else the last 4-D
output larger than 1×1 produced by a submodule (a functional mean before the classifier); else (no
4-D features, e.g. an MLP) the input of the last executed Linear. Token-id models are undefined
(Gaussian inputs cannot stand in for token ids). Inputs are synthetic: data values are not used.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nasprox.core import BATCH_SIZE_OPTION, NasproxError, ProxyContext, ProxyOption, ProxyUndefined, proxy
from nasprox.proxies._activations import gaussian_reinit, require_images
from nasprox.proxies._common import forward_hooks

GLOBAL_POOL_TYPES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class _PreGapFeatures:
    """Captures the pre-GAP feature map of one forward of ``model`` (see the module docstring)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.submodules = [m for m in model.modules() if m is not model]
        self._pool_input = self._last_4d = self._linear_input = None

    def _hook(self, module, inputs, output):
        if isinstance(module, GLOBAL_POOL_TYPES) and inputs and inputs[0].dim() == 4:
            self._pool_input = inputs[0]
        if isinstance(module, nn.Linear) and inputs:
            self._linear_input = inputs[0]
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[-2:].numel() > 1:
            self._last_4d = output

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        pre_gap = getattr(self.model, "forward_pre_GAP", None)
        if pre_gap is not None:
            return pre_gap(x)
        self._pool_input = self._last_4d = self._linear_input = None
        with forward_hooks(self.submodules, self._hook):
            out = self.model(x)
        for feature in (self._pool_input, self._last_4d, self._linear_input):
            if feature is not None:
                return feature
        return out[0] if isinstance(out, (tuple, list)) else out


def bn_log_scale(model: nn.Module) -> float:
    total = 0.0
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
            mean_var = m.running_var.mean().item()
            total += 0.5 * math.log(mean_var) if mean_var > 0 else -math.inf
    return total


def zen_repeat(
    model: nn.Module,
    features: _PreGapFeatures,
    shape: tuple[int, ...],
    batch: int,
    alpha: float,
    generator: torch.Generator,
    device: torch.device,
) -> float:
    """One repeat (steps 1-5) on the current module objects."""
    gaussian_reinit(model, generator)
    x = torch.randn((batch, *shape), generator=generator).to(device)
    noise = torch.randn((batch, *shape), generator=generator).to(device)
    with torch.no_grad():
        clean = features(x)
        mixed = features(x + alpha * noise)
        delta = (clean - mixed).abs().reshape(batch, -1).sum(dim=1).mean().item()
    return math.log(delta) + bn_log_scale(model) if delta > 0 else -math.inf


@proxy(
    "zen",
    "Zen-score: log of the L1 output change under a small Gaussian input perturbation plus BN scaling, Gaussian re-init (Lin et al. 2021)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=False,
    bn="reinit",
    cost="forward",
    aliases=("zen_score",),
    default_batch_size=16,  # standalone 16 x 32 repeats
    options=(
        ProxyOption(
            "repetitions", int, 32, "Gaussian re-inits averaged (PROXY_SPEC §6.1)", minimum=1, aliases=("repeats",)
        ),
        ProxyOption("alpha", float, 0.01, "perturbation scale: x' = x + alpha * eps (PROXY_SPEC §6.1)", above=0.0),
        ProxyOption(
            BATCH_SIZE_OPTION.name,
            int,
            None,
            "input batch size, which is also the size of the Gaussian "
            "batch (default: the reference batch 16, or --batch-size); engine-level",
            minimum=1,
            aliases=("batch",),
        ),
    ),
)
def zen(ctx: ProxyContext) -> float:
    require_images(ctx, "zen", "its Gaussian inputs cannot stand in for token ids")
    batch = int(ctx.inputs.shape[0])  # Gaussian inputs of the run's batch size (zen.batch_size)
    repeats = int(ctx.opt("repetitions"))
    alpha = float(ctx.opt("alpha"))
    if batch < 1 or repeats < 1:
        raise NasproxError("zen's batch size and zen.repetitions must be >= 1")
    model = ctx.model.train()
    if not any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()):
        raise ProxyUndefined("the network has no Conv2d/Linear layer to re-initialise")
    features = _PreGapFeatures(model)
    generator = torch.Generator().manual_seed(ctx.seed)
    shape = tuple(ctx.input_spec.shape)
    values = [zen_repeat(model, features, shape, batch, alpha, generator, ctx.device) for _ in range(repeats)]
    return sum(values) / len(values)
