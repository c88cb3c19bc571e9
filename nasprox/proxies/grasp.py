"""grasp: Σ over Conv2d/Linear weights of −θ ⊙ (H g) (PROXY_SPEC §2.3).

g = ∂L/∂θ from a first pass, held constant; a second pass on the *same* batch builds
z = Σ_l ⟨g_l, ∂L/∂θ_l⟩ with a graph, and back-propagating z leaves Hg in θ.grad. The minus sign of
the reference is included, so higher = better. When the forward draws no random numbers (no dropout),
the two passes compute the same gradient, so g is the graph pass's gradient, detached: one forward and
backward fewer, the same value bit for bit (``scripts/bench_grasp.py``: 1.3x on NATS-TSS CPU). A forward
that draws random numbers gets the reference's separate first pass, with its own draw. Logits are divided by the temperature T
(option ``grasp.temperature``, reference default 1; the GraSP paper used 200). BN kept, train mode.

Noise: on NB201 at batch 32 one grasp value per arch ranks archs with Spearman ~0.5 against the
same proxy under another init draw or batch (``scripts/grasp_sensitivity.py``); rank several seeds.
"""

from __future__ import annotations

import torch

from nasprox.core import ProxyContext, ProxyOption, ProxyUndefined, proxy
from nasprox.proxies._saliency import forward, require_weight_layers


def rng_state(device: torch.device) -> torch.Tensor:
    """The generator a forward on ``device`` draws dropout masks from (CPU's, or the device's own)."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def restore_rng_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


@proxy(
    "grasp",
    "Gradient signal preservation: sum of -weight x (Hessian-gradient product) (Wang et al. 2020; Abdelfattah et al. 2021)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="second-order",
    options=(
        ProxyOption(
            "temperature",
            float,
            1.0,
            "logits are divided by T (reference default 1; the GraSP paper used 200) (PROXY_SPEC §2.3)",
            above=0.0,
        ),
    ),
)
def grasp(ctx: ProxyContext) -> float:
    temperature = float(ctx.opt("temperature"))
    model = ctx.model.train()
    layers = require_weight_layers(model)
    weights = [layer.weight for layer in layers]
    model.zero_grad(set_to_none=True)

    def loss_gradients(create_graph: bool) -> tuple[torch.Tensor | None, ...]:
        loss = ctx.loss_fn(forward(model, ctx.inputs) / temperature, ctx.targets)
        return torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True)

    rng_before = rng_state(ctx.device)
    second = loss_gradients(create_graph=True)
    if torch.equal(rng_state(ctx.device), rng_before):  # a deterministic forward: the first pass's g is this one
        first = tuple(None if g is None else g.detach() for g in second)
    else:  # the forward draws random numbers (dropout): the reference's two passes, in its order
        restore_rng_state(ctx.device, rng_before)
        first = loss_gradients(create_graph=False)
        second = loss_gradients(create_graph=True)
    z = None
    for g_const, g_graph in zip(first, second):
        if g_const is not None and g_graph is not None:
            term = (g_const.detach() * g_graph).sum()
            z = term if z is None else z + term
    if z is None:
        raise ProxyUndefined("the loss does not depend on any Conv2d/Linear weight")
    if z.requires_grad:  # a network that is linear in its weights has H g = 0 and no graph here
        z.backward()

    total = torch.zeros((), dtype=torch.float64)
    for weight in weights:
        if weight.grad is not None:
            total += (-weight.detach() * weight.grad).double().sum().cpu()
    return float(total)
