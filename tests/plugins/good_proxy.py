"""A well-behaved plug-in proxy (tests/test_plugins.py): mean |gradient| of the loss on the batch it is handed."""

import torch

from nasprox.core import proxy


@proxy(
    "plug_grad_abs",
    "mean |dL/dw| on one batch (test fixture)",
    needs_labels=True,
    needs_gradients=True,
    cost="backward",
)
def plug_grad_abs(ctx):
    loss = ctx.loss_fn(ctx.model(ctx.inputs), ctx.targets)
    grads = torch.autograd.grad(loss, [p for p in ctx.model.parameters() if p.requires_grad], allow_unused=True)
    return float(sum(g.abs().mean() for g in grads if g is not None))
