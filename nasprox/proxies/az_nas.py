"""AZ-NAS components (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability, complexity.

Reference: ``cvlab-yonsei/AZ-NAS:NB201/ZeroShotProxy/compute_az_nas_score.py`` with the NB201 driver
``NB201/tss_general.ipynb`` (the code wins where it and the paper differ; docs/reproduction.md).

Protocol (one forward and one backward shared by the three score components through ``ctx.memo``):
1. Re-init (``az_*.init``, default ``kaiming_norm_fanin``): Conv2d/Linear weights Kaiming-normal, fan-in,
   ReLU gain, bias 0; BatchNorm2d/GroupNorm with affine parameters γ = 1, β = 0 (running statistics
   untouched). Train mode: BN uses batch statistics.
2. Input: ``x ~ N(0, I)`` of the batch's shape (the notebook gives az_nas no loader: ``trainloader=None``,
   so ``torch.randn(64, 3, 32, 32)``); ``az_*.input=real`` uses the run's batch instead. Batch 64, the
   notebook's ``config.batch_size`` (weight-sharing.config).
3. Feature maps F_0..F_L: the stem output and every cell output (``TinyNetwork.extract_cell_features``).
   Generic rule here: a model's own ``extract_cell_features(x)``; else the outputs of ``model.stem`` and
   of each module of ``model.cells`` (NATS-TSS/SSS); else of ``model.stem`` (if any) and of each child of
   a ``model.layers`` Sequential (NB101, TransNAS). Every map must be 4-D; otherwise undefined.
4. Expressivity per map: rows = the B·H·W positions, columns = the C channels; centre the columns,
   Σ = XᵀX / (B·H·W), eigenvalues s of Σ (``eigvalsh``), p = s / Σs, e_l = Σ −p·log(p + 1e-8).
   expressivity = Σ_l e_l; progressivity = min_l (e_l − e_{l−1}).
5. Trainability, for l = L..1 (last pair first): g_out = Rademacher ±1 of F_l's shape; g_in =
   ∂F_l/∂F_{l−1}ᵀ g_out (one ``autograd.grad`` per pair). If g_in equals g_out elementwise (an identity
   cell) the pair scores −inf. Otherwise, if the spatial sizes differ, g_in is pixel-unshuffled by the
   stride H_in/H_out; M = g_inᵀ g_out / (B·H_out·W_out) over positions (C_in' × C_out); σ = its largest
   singular value; score = −σ − 1/(σ + 1e-6) + 2 (0 at σ = 1, the norm-preserving block).
   trainability = mean over pairs.
6. A NaN component becomes −inf, as in the reference (rows with status ``nonfinite``); the
   ``az_nas`` ensemble recipe ranks those lowest, as the authors' ``rankdata`` does.
az_complexity: FLOPs (MACs, xautodl convention, ``flops`` proxy's counter) — the notebook reads the API's
``flops``, which are the same counts in millions.

Random draws (re-init, input, Rademacher vectors) come from one torch Generator seeded from ``ctx.seed``
on the CPU; the reference draws from the global RNG seeded once per run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from nasprox.core import ProxyContext, ProxyOption, ProxyUndefined, proxy
from nasprox.proxies._activations import require_images
from nasprox.proxies._common import forward_hooks
from nasprox.proxies.flops import macs_per_sample

INITS = ("kaiming_norm_fanin", "kaiming_norm_fanout", "kaiming_uni_fanin", "kaiming_uni_fanout", "none")


def az_reinit(model: nn.Module, method: str, generator: torch.Generator) -> None:
    """The reference's ``init_model`` (module doc, step 1), drawing from ``generator`` on the CPU."""
    if method == "none":
        return
    kind, fan = method.rsplit("_", 1)
    mode: Literal["fan_in", "fan_out"] = "fan_in" if fan == "fanin" else "fan_out"
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = torch.empty(m.weight.shape)
                if kind == "kaiming_norm":
                    nn.init.kaiming_normal_(w, mode=mode, nonlinearity="relu", generator=generator)
                else:
                    nn.init.kaiming_uniform_(w, mode=mode, nonlinearity="relu", generator=generator)
                m.weight.copy_(w)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()


def feature_modules(model: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are AZ-NAS's feature maps (module doc, step 3)."""
    stem = getattr(model, "stem", None)
    head = [stem] if isinstance(stem, nn.Module) else []
    cells = getattr(model, "cells", None)
    if isinstance(cells, nn.ModuleList) and len(cells):
        return head + list(cells)
    layers = getattr(model, "layers", None)
    if isinstance(layers, nn.Sequential) and len(layers):
        return head + list(layers)
    raise ProxyUndefined("no stem/cells or layers block sequence to take AZ-NAS feature maps from")


def cell_features(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Feature maps F_0..F_L of one forward of ``x`` (in the autograd graph)."""
    own: Callable | None = getattr(model, "extract_cell_features", None)
    if callable(own):
        feats = list(own(x))
    else:
        modules = feature_modules(model)
        outputs: dict[int, torch.Tensor] = {}

        def keep(module, _inputs, output):
            outputs[id(module)] = output

        with forward_hooks(modules, keep):
            model(x)
        feats = [outputs[id(m)] for m in modules if id(m) in outputs]
    if len(feats) < 2 or any(not isinstance(f, torch.Tensor) or f.dim() != 4 for f in feats):
        raise ProxyUndefined("AZ-NAS needs at least two 4-D feature maps (stem and cells)")
    return feats


def expressivity_of(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance over positions (step 4)."""
    b, c, h, w = feature.shape
    rows = feature.detach().permute(0, 2, 3, 1).reshape(b * h * w, c)
    rows = rows - rows.mean(dim=0, keepdim=True)
    sigma = rows.T @ rows / rows.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def trainability_pair(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator) -> float:
    """One pair's score −σ − 1/(σ + 1e-6) + 2 from a Rademacher vector-Jacobian product (step 5)."""
    g_out = (torch.bernoulli(torch.full(f_out.shape, 0.5), generator=generator) - 0.5) * 2
    g_out = g_out.to(device=f_out.device, dtype=f_out.dtype)
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=False)
    if g_in.shape == g_out.shape and bool(torch.equal(g_in, g_out)):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, int(g_in.shape[2] / g_out.shape[2]))
    bo, co, ho, wo = g_out.shape
    ci = g_in.shape[1]
    a = g_in.permute(0, 2, 3, 1).reshape(-1, ci)
    o = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co)
    mat = a.T @ o / (bo * ho * wo)
    top = float(torch.linalg.svdvals(mat).max())
    return -top - 1.0 / (top + 1e-6) + 2.0


def az_components(ctx: ProxyContext) -> dict[str, float]:
    """Expressivity, progressivity and trainability of one network, computed once per architecture."""
    require_images(ctx, "AZ-NAS", "its feature maps are 4-D image features")
    method, source = str(ctx.opt("init")), str(ctx.opt("input"))
    key = ("az_nas", method, source, tuple(ctx.inputs.shape))
    if key in ctx.memo:
        return ctx.memo[key]
    generator = torch.Generator().manual_seed(ctx.seed)
    model = ctx.model.train()
    az_reinit(model, method, generator)
    if source == "gaussian":
        x = torch.randn(tuple(ctx.inputs.shape), generator=generator).to(ctx.device, ctx.inputs.dtype)
    else:
        x = ctx.inputs
    feats = cell_features(model, x)
    scores = [expressivity_of(f) for f in feats]
    expressivity = sum(scores)
    steps = [b - a for a, b in zip(scores[:-1], scores[1:])]
    progressivity = math.nan if any(map(math.isnan, steps)) else min(steps)  # numpy's min: NaN wins
    pairs = [trainability_pair(feats[i - 1], feats[i], generator) for i in reversed(range(1, len(feats)))]
    trainability = sum(pairs) / len(pairs)
    out = {
        name: (-math.inf if math.isnan(v) else float(v))
        for name, v in (
            ("expressivity", expressivity),
            ("progressivity", progressivity),
            ("trainability", trainability),
        )
    }
    ctx.memo[key] = out
    return out


AZ_OPTIONS = (
    ProxyOption(
        "init",
        str,
        "kaiming_norm_fanin",
        "re-initialisation before scoring (the reference's init_model; none keeps the model's own)",
        choices=INITS,
    ),
    ProxyOption(
        "input",
        str,
        "gaussian",
        "gaussian: N(0, I) batch of the input shape (the NB201 notebook); real: the run's batch",
        choices=("gaussian", "real"),
    ),
)
_AZ_FAMILY = dict(
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=False,
    bn="reinit",
    cost="backward",
    default_batch_size=64,
    options=AZ_OPTIONS,
)


@proxy(
    "az_expressivity",
    "AZ-NAS expressivity: summed eigen-entropy of the channel covariance of stem and cell outputs (Lee & Ham 2024)",
    **_AZ_FAMILY,
)
def az_expressivity(ctx: ProxyContext) -> float:
    return az_components(ctx)["expressivity"]


@proxy(
    "az_progressivity",
    "AZ-NAS progressivity: smallest increase of the eigen-entropy from one feature map to the next (Lee & Ham 2024)",
    **_AZ_FAMILY,
)
def az_progressivity(ctx: ProxyContext) -> float:
    return az_components(ctx)["progressivity"]


@proxy(
    "az_trainability",
    "AZ-NAS trainability: mean over cells of -s - 1/s + 2, s = top singular value of a random-projected block Jacobian",
    **_AZ_FAMILY,
)
def az_trainability(ctx: ProxyContext) -> float:
    return az_components(ctx)["trainability"]


@proxy(
    "az_complexity",
    "AZ-NAS complexity: FLOPs (MACs per sample in millions, xautodl convention; same value as the flops proxy)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=False,
    bn="n/a",
    cost="forward",
    leaves_model_unchanged=True,
)
def az_complexity(ctx: ProxyContext) -> float:
    mega_macs, unsupported = macs_per_sample(ctx)
    if unsupported:
        raise ProxyUndefined(f"no MAC handler for layer types: {', '.join(sorted(unsupported))}")
    return mega_macs
