"""MeCo and MeCo_opt: minimum eigenvalue of channel correlation (Jiang et al. 2023; PROXY_SPEC §5.2,
reference HamsterMimi/MeCo ``correlation/NAS_Bench_201.py:get_score``).

Forward hooks on **every** module of ``named_modules()`` — the root network, containers, cells and
leaves — fire on every call. Per call: take the output's first sample (out[0]), reshape to (n, D)
with n its first dimension (channels), Pearson correlation between the n rows, NaN/±inf → 0, and
λ_min (smallest real eigenvalue). MeCo adds λ_min; MeCo_opt picks 8 distinct random channels and
adds λ_min(8×8)·n/8. Network score = Σ of the finite values. One forward of **one** real image (the
first sample of the fixed batch) in train mode with default init; no labels.

Choices: λ_min by ``eigvalsh`` on the symmetric float64 correlation (the reference's general ``eig``
differs only by round-off). 2-D outputs such as logits (1, K) give an all-NaN correlation → zero
matrix → λ_min = 0, reproduced. Where the reference would crash we skip the call: a tuple output
uses its first tensor's first sample (the reference takes the whole first tensor and fails on
``eig`` of a 0-d correlation), and a first sample with fewer than 2 rows (a 0-d or 1-row reading)
adds nothing. MeCo_opt's channel draw uses a NumPy Generator seeded from ``ctx.seed`` (the
reference's ``random.sample`` is unseeded); a module call with fewer than 8 channels makes
MeCo_opt undefined, as the reference raises there.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from nasprox.core import ProxyContext, ProxyUndefined, proxy
from nasprox.proxies._common import FORWARD_REAL_DATA, forward_hooks

OPT_CHANNELS = 8


def min_correlation_eigenvalue(rows: torch.Tensor) -> float:
    """λ_min of the Pearson correlation between the rows of an (n, D) matrix, NaN/inf entries -> 0."""
    if rows.shape[1] < 2:
        return 0.0  # one observation per row: an all-NaN correlation, zeroed, has λ_min = 0
    corr = torch.corrcoef(rows.double())
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    if corr.dim() == 0:
        corr = corr.reshape(1, 1)
    return float(torch.linalg.eigvalsh(corr)[0])


def meco_values(
    model: nn.Module, image: torch.Tensor, *, sample_channels: np.random.Generator | None = None
) -> list[float]:
    """Per hook call values (MeCo, or MeCo_opt when ``sample_channels`` is a Generator)."""
    values: list[float] = []

    def on_forward(_module, _inputs, output):
        out = output
        while isinstance(out, (tuple, list)) and out:
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.dim() < 2:
            return
        first = out[0].detach()
        if first.dim() == 0 or first.shape[0] < 2:
            return
        n = first.shape[0]
        rows = first.reshape(n, -1).float()
        if sample_channels is None:
            values.append(min_correlation_eigenvalue(rows))
            return
        if n < OPT_CHANNELS:
            raise ProxyUndefined(f"meco_opt needs >= {OPT_CHANNELS} channels per module output; one has {n}")
        picked = torch.as_tensor(sample_channels.choice(n, OPT_CHANNELS, replace=False), device=rows.device)
        values.append(min_correlation_eigenvalue(rows[picked]) * n / OPT_CHANNELS)

    modules = [m for _, m in model.named_modules()]
    with forward_hooks(modules, on_forward), torch.no_grad():
        model(image)
    return values


def _score(ctx: ProxyContext, opt: bool) -> float:
    model = ctx.model.train()
    image = ctx.inputs[:1]
    rng = np.random.default_rng([ctx.seed, 52]) if opt else None
    values = meco_values(model, image, sample_channels=rng)
    return float(sum(v for v in values if math.isfinite(v)))


_MECO = {**FORWARD_REAL_DATA, "default_batch_size": 1}  # one real image (the first sample of the fixed batch)


@proxy(
    "meco",
    "MeCo: sum over all module outputs of the minimum eigenvalue of the channel correlation of one image (Jiang et al. 2023)",
    **_MECO,
)
def meco(ctx: ProxyContext) -> float:
    return _score(ctx, opt=False)


@proxy("meco_opt", "MeCo_opt: MeCo on 8 randomly sampled channels per module output, scaled by n/8", **_MECO)
def meco_opt(ctx: ProxyContext) -> float:
    return _score(ctx, opt=True)
