"""Needs real data but feeds its own 16 random samples, whatever batch it is handed (check-plugin must catch it)."""

import torch

from nasprox.core import proxy


@proxy("plug_own_batch", "mean logit on its own random batch (test fixture)", default_batch_size=8)
def plug_own_batch(ctx):
    x = torch.randn(16, *ctx.inputs.shape[1:], device=ctx.inputs.device)
    with torch.no_grad():
        return float(ctx.model(x).mean())
