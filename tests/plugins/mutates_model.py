"""Declares leaves_model_unchanged but scales the weights in place (check-plugin must catch it)."""

import torch

from nasprox.core import proxy


@proxy(
    "plug_mutates",
    "weight norm after scaling (test fixture)",
    needs_real_data=False,
    cost="free",
    leaves_model_unchanged=True,
)
def plug_mutates(ctx):
    with torch.no_grad():
        for p in ctx.model.parameters():
            p.mul_(2.0)
        return float(sum(p.norm() for p in ctx.model.parameters()))
