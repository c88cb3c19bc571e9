"""VKDNW and VKDNW_single: the Fisher-information spectrum of 128 sampled weights (Tybl & Neumann, CVPR 2025).

Reference: ``ondratybl/VKDNW:NB201/ZeroShotProxy/compute_vkdnw_score.py`` (``vkdnw_entropy``, ``vkdnw_dim``)
as driven by the NB201 Table 1 driver ``NB201/tss_general_.py`` and aggregated by ``NB201/tss_utils.py``
(both in the authors' history: commit 779a3a8, and 2b67433^, gone from HEAD), with
``ImageNet_MBV2/ZeroShotProxy/compute_vkdnw_score.py`` where the NB201 file leaves a knob open.

Protocol:
1. Re-init as AZ-NAS (``vkdnw.init``, default Kaiming-normal fan-in; BN γ = 1, β = 0), then **eval mode**
   (the reference's ``get_fisher`` calls ``model.eval()``): BN normalises with its running statistics, which
   for a freshly built network are mean 0, variance 1; they are reset to that here.
2. Parameter subset θ_S: the first ``vkdnw.tensors`` (128) tensors of ``named_parameters()`` (weights,
   biases, BN γ/β alike, registration order) and, in each, ``vkdnw.per_tensor`` elements at
   ``linspace(0, numel − 1, per_tensor)`` (default 1: element 0 of each tensor, the Table 1 code's
   ``v.flatten()[0:1]``, and what the MobileNetV2 code takes).
3. Input (``vkdnw.input``): by default N(0, I) of the batch's shape, batch 64, as in Table 1: the driver's
   ``--real_input`` is off and vkdnw is not among its ``real_input_metrics``, so the score gets
   ``trainloader=None`` and ``torch.randn(batch_size, 3, res, res)`` (the MobileNetV2 search's
   ``--rand_input`` defaults to True as well); ``vkdnw.input=real`` scores the run's batch instead.
   Per sample b, the Jacobian J_b = ∂z_b/∂θ_S of the logits z_b (K × P).
4. Probabilities p = softmax(z_b)·(1 − α) + α/K with α = 0.05 (held in float16, as the reference), and
   the lower-triangular factor L_b of the multinomial covariance diag(p) − ppᵀ = L_b L_bᵀ of the
   reference (Tanabe & Sagae 1992): d_k = √(p_k q_k / q_{k−1}), q_k = 1 − Σ_{j≤k} p_j, q_0 = 1;
   L_kk = d_k, L_kj = −p_k d_j / q_j for k > j (0 where q_j = 0), 0 above the diagonal.
5. F = mean_b (L_b J_b)ᵀ (L_b J_b) (P × P); λ = its singular values (= eigenvalues; a failed
   decomposition gives λ = (0, 0), as the reference).
6. q = the quantiles of λ at 0.1, 0.2, ..., 0.9 (NB201 code; ``vkdnw.quantiles=0-1`` adds 0 and 1, the
   MobileNetV2 code); t = q / (‖q‖₁ + 1e-10); VKDNW = −Σ t·log(t + 1e-10). Higher = better.

``vkdnw_single`` (VKDNW_single of Table 1) ranks lexicographically by (ℵ, VKDNW), ℵ = the number of
parameter tensors of the whole network, ``len(list(model.named_parameters()))`` (the reference's
``vkdnw_dim``, not capped at 128), as ``tss_utils.get_scores`` does with
``df[['vkdnw_dim', 'vkdnw_entropy']].apply(tuple, axis=1).rank(method='dense')``. See ``single_score`` for
the one number that orders exactly like the tuple.

Random draws (re-init, Gaussian input) come from one CPU generator seeded with ``ctx.seed``, the same for
every architecture; the reference draws from the global RNG seeded once per run. Both proxies of one
architecture share one spectrum through ``ctx.memo`` when their options agree (``shared_spectrum``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from nasprox.core import ProxyContext, ProxyOption, ProxyUndefined, proxy
from nasprox.proxies._activations import require_images
from nasprox.proxies._common import logits_of
from nasprox.proxies._saliency import RandomDraws, shared_pass_key
from nasprox.proxies.az_nas import INITS, az_reinit

ALPHA = torch.tensor(0.05, dtype=torch.float16)  # the reference keeps alpha in float16
QUANTILE_LEVELS = {
    "0.1-0.9": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "0-1": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
}


def multinomial_factor(logits: torch.Tensor) -> torch.Tensor:
    """L (B × K × K) with L Lᵀ = diag(p) − ppᵀ for the smoothed softmax p (module doc, step 4)."""
    k = logits.shape[1]
    prob = torch.softmax(logits, dim=1) * (1 - ALPHA) + ALPHA / k
    q = 1 - torch.cumsum(prob, dim=1)
    q[:, -1] = 0
    q_prev = torch.cat([torch.ones_like(q[:, :1]), q[:, :-1]], dim=1)
    d = torch.sqrt(prob * q / q_prev)
    inv_q = torch.where(q > 0, 1 / q, torch.zeros_like(q))
    below = -prob.unsqueeze(2) * inv_q.unsqueeze(1)  # [b, i, j] = -p_i / q_j
    lower = torch.tril(below, diagonal=-1) + torch.eye(k, dtype=logits.dtype, device=logits.device)
    return lower * d.unsqueeze(1)  # column j times d_j


def _subset(model: nn.Module, tensors: int, per_tensor: int) -> list[tuple[str, torch.Tensor]]:
    """(parameter name, flat element indices) of the sampled subset (module doc, step 2)."""
    named = list(model.named_parameters())[:tensors]
    if not named:
        raise ProxyUndefined("the network has no parameters")
    return [(k, torch.linspace(0, v.numel() - 1, steps=per_tensor).long()) for k, v in named]


def subset_jacobian_func(model: nn.Module, x: torch.Tensor, tensors: int, per_tensor: int) -> torch.Tensor:
    """Per-sample Jacobians of the logits w.r.t. the subset (B × K × P) by jacrev inside vmap (the
    reference's construction; any module type, slow: it forms per-sample gradients of whole tensors)."""
    subset = _subset(model, tensors, per_tensor)
    base = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    index = {k: i.to(base[k].device) for k, i in subset}
    chosen = {k: base[k].flatten()[i] for k, i in index.items()}

    def logits(values: dict[str, torch.Tensor], sample: torch.Tensor) -> torch.Tensor:
        params = dict(base)
        for k, v in values.items():
            params[k] = base[k].flatten().index_put((index[k],), v).reshape(base[k].shape)
        return logits_of(functional_call(model, (params, buffers), (sample.unsqueeze(0),))).squeeze(0)

    jac = vmap(jacrev(logits), in_dims=(None, 0))(chosen, x)
    return torch.cat([jac[k].flatten(start_dim=2) for k in index], dim=2).detach()


def _conv_term(module: nn.Conv2d, x: torch.Tensor, out_shape, idx: tuple[int, ...]) -> tuple[int, torch.Tensor]:
    """∂out[:, o]/∂W[o, i, kh, kw] for every sample: the input channel i of o's group, shifted by (kh, kw)."""
    o, i, kh, kw = idx
    if isinstance(module.padding, str) or module.padding_mode != "zeros":
        raise _Unsupported
    ph, pw = module.padding
    xp = nn.functional.pad(x, (pw, pw, ph, ph))
    group = o // (module.out_channels // module.groups)
    channel = group * (module.in_channels // module.groups) + i
    (sh, sw), (dh, dw) = module.stride, module.dilation
    ho, wo = out_shape[2], out_shape[3]
    window = xp[:, channel, kh * dh : kh * dh + sh * (ho - 1) + 1 : sh, kw * dw : kw * dw + sw * (wo - 1) + 1 : sw]
    return o, window


class _Unsupported(Exception):
    pass


def _terms(module: nn.Module, attr: str, x: torch.Tensor, out: torch.Tensor, flat: int):
    """(output channel, ∂out[:, channel]/∂θ per sample) for one parameter element of ``module``."""
    param = getattr(module, attr)
    idx = tuple(int(v) for v in torch.unravel_index(torch.tensor(flat), param.shape))
    if isinstance(module, nn.Conv2d) and type(module) is nn.Conv2d:
        if attr == "weight":
            return _conv_term(module, x, out.shape, idx)
        return idx[0], torch.ones_like(out[:, 0])
    if type(module) is nn.Linear and x.dim() == 2:
        if attr == "weight":
            return idx[0], x[:, idx[1]]
        return idx[0], torch.ones_like(out[:, 0])
    if type(module) is nn.BatchNorm2d and not module.training and module.running_mean is not None:
        c = idx[0]
        if attr == "weight":
            assert module.running_var is not None
            return c, (x[:, c] - module.running_mean[c]) / torch.sqrt(module.running_var[c] + module.eps)
        return c, torch.ones_like(out[:, c])
    raise _Unsupported


def subset_jacobian(model: nn.Module, x: torch.Tensor, tensors: int, per_tensor: int) -> torch.Tensor:
    """Per-sample Jacobians of the logits w.r.t. the subset (B × K × P), model in eval mode.

    Each sampled element θ_j gets a per-sample copy θ_j + δ_{b,j} with δ = 0, added in a forward hook
    as δ_b · ∂out/∂θ_j (Conv2d, Linear, eval-mode BatchNorm2d are linear in each parameter), so
    ∂z_{b,k}/∂δ_{b,j} = ∂z_{b,k}/∂θ_j: one forward and K backward passes, no per-sample weight gradients.
    Equal to ``subset_jacobian_func`` (tested); other layer types fall back to it.
    """
    subset = _subset(model, tensors, per_tensor)
    modules = dict(model.named_modules())
    deltas: list[torch.Tensor] = []
    by_module: dict[str, list[tuple[str, int, torch.Tensor]]] = {}
    for name, flat in subset:
        owner, _, attr = name.rpartition(".")
        for f in flat.tolist():
            delta = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype, requires_grad=True)
            deltas.append(delta)
            by_module.setdefault(owner, []).append((attr, f, delta))

    def hook(module, inputs, output):
        extra = torch.zeros_like(output)
        for attr, f, delta in by_module[names[id(module)]]:
            channel, term = _terms(module, attr, inputs[0], output, f)
            shape = (-1,) + (1,) * (term.dim() - 1)
            extra = extra.index_add(
                1, torch.tensor([channel], device=output.device), (delta.view(shape) * term).unsqueeze(1)
            )
        return output + extra

    names = {id(modules[m]): m for m in by_module}
    handles = [modules[m].register_forward_hook(hook) for m in by_module]
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        z = logits_of(model(x))
        rows = [
            torch.stack(torch.autograd.grad(z[:, k].sum(), deltas, retain_graph=k < z.shape[1] - 1), dim=1)
            for k in range(z.shape[1])
        ]
    except _Unsupported:
        rows = []
    finally:
        for h in handles:
            h.remove()
        for p in frozen:
            p.requires_grad_(True)
    if not rows:
        return subset_jacobian_func(model, x, tensors, per_tensor)
    return torch.stack(rows, dim=1).detach()


def singular_values(fisher: torch.Tensor) -> torch.Tensor:
    """λ: the singular values of ``fisher`` (module doc, step 5)."""
    try:
        return torch.linalg.svd(fisher, full_matrices=False).S  # = torch.svd(F).S of the reference (gesdd with
        # vectors); svdvals alone takes another LAPACK path whose small singular values differ in float32
    except RuntimeError:  # the reference catches LinAlgError (and a CUDA fault) and scores zeros
        return torch.zeros(2, dtype=fisher.dtype, device=fisher.device)


def quantile_entropy(lambdas: torch.Tensor, levels: tuple[float, ...]) -> float:
    """Entropy of the normalised quantiles of ``lambdas`` at ``levels`` (module doc, step 6)."""
    q = torch.quantile(lambdas, torch.tensor(levels, dtype=lambdas.dtype, device=lambdas.device))
    t = q / (float(q.abs().sum()) + 1e-10)
    return float(-(t * torch.log(t + 1e-10)).sum())


def spectrum_entropy(fisher: torch.Tensor, levels: tuple[float, ...]) -> float:
    """Entropy of the normalised quantiles of the singular values of ``fisher`` (module doc, steps 5-6)."""
    return quantile_entropy(singular_values(fisher), levels)


def fisher_spectrum(model: nn.Module, x: torch.Tensor, *, tensors: int = 128, per_tensor: int = 1) -> torch.Tensor:
    """λ of ``model`` (already re-initialised) on ``x``: eval mode, empirical Fisher, its singular values."""
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
            m.reset_running_stats()
    with torch.no_grad():
        z = logits_of(model(x))
    jac = subset_jacobian(model, x, tensors, per_tensor)
    scaled = multinomial_factor(z).to(jac.dtype) @ jac
    fisher = (scaled.transpose(1, 2) @ scaled).mean(dim=0)
    return singular_values(fisher).detach()


def vkdnw_value(
    model: nn.Module, x: torch.Tensor, *, tensors: int = 128, per_tensor: int = 1, levels=QUANTILE_LEVELS["0.1-0.9"]
) -> float:
    """VKDNW of ``model`` (already re-initialised) on ``x``: eval mode, empirical Fisher, spectrum entropy."""
    return quantile_entropy(fisher_spectrum(model, x, tensors=tensors, per_tensor=per_tensor), tuple(levels))


def shared_spectrum(ctx: ProxyContext) -> torch.Tensor:
    """λ of the context's network (module doc, steps 1-5), computed once per architecture and batch.

    Kept in ``ctx.memo`` under everything it depends on besides the architecture and the run: the re-init,
    the input source, the subset (``tensors``, ``per_tensor``), the batch's shape (the batch size names the
    batch) and the parameter sums of the network handed over (which tell a network a proxy changed first from
    a fresh one, what ``init=none`` would score). So vkdnw and vkdnw_single of one architecture with the same
    options share one Fisher; the quantile levels are applied afterwards. Kept only when the pass drew nothing
    from the global random generators (all its draws come from a generator seeded with ``ctx.seed``), so that
    the shared value is the one each proxy would compute by itself."""
    require_images(
        ctx,
        ctx.spec.name if ctx.spec else "vkdnw",
        "the reference re-initialises image networks and may feed Gaussian inputs",
    )
    model = ctx.model
    method, source = str(ctx.opt("init")), str(ctx.opt("input"))
    tensors, per_tensor = int(ctx.opt("tensors")), int(ctx.opt("per_tensor"))
    key = (*shared_pass_key("vkdnw_spectrum", ctx, model), method, source, tensors, per_tensor, tuple(ctx.inputs.shape))
    kept = ctx.memo.get(key)
    if kept is not None:
        return kept
    draws = RandomDraws(ctx.device)
    generator = torch.Generator().manual_seed(ctx.seed)
    az_reinit(model, method, generator)
    if source == "gaussian":
        x = torch.randn(tuple(ctx.inputs.shape), generator=generator).to(ctx.device, ctx.inputs.dtype)
    else:
        x = ctx.inputs
    lambdas = fisher_spectrum(model, x, tensors=tensors, per_tensor=per_tensor)
    if draws.none_drawn():
        ctx.memo[key] = lambdas
    return lambdas


def parameter_tensors(model: nn.Module) -> int:
    """ℵ: the number of parameter tensors of the whole network, the reference's
    ``vkdnw_dim = float(len(list(model.named_parameters())))`` (weights, biases, BN γ and β alike)."""
    return len(list(model.named_parameters()))


def single_score(aleph: int, entropy: float, levels: int) -> float:
    """(ℵ, entropy) as one number that orders exactly like the tuple: ℵ + entropy / (log(levels) + 1).

    Why exact: the entropy of n = ``levels`` ≥ 3 normalised quantiles lies in [−1e-10, log n] (t_i ≥ 0 and
    Σ t_i ≤ 1, so −Σ t log(t + 1e-10) ≤ −Σ t log t ≤ log n; each term is at least −t·log(1 + 1e-10)), so
    entropy / (log n + 1) lies in (−1e-10, log n / (log n + 1)], inside (−0.01, 0.99) for any n: the values
    of one ℵ fill (ℵ − 0.01, ℵ + 0.99), the intervals of different (integer) ℵ are disjoint and ordered as ℵ,
    and inside one ℵ the map is strictly increasing in the entropy. Float64 rounding is monotone, so it never
    reverses an order; it keeps apart any two distinct float32 entropies above 1e-5 while ℵ < 1024 (their
    spacing after the division, ≥ 2^-24·1e-5 / 3.4 for n ≤ 11, exceeds float64's 2^-43 there). Float32
    round-off of the entropy (~1e-7) stays far inside the margins. NaN stays NaN."""
    return float(aleph) + entropy / (math.log(levels) + 1.0)


VKDNW_OPTIONS = (
    ProxyOption(
        "tensors",
        int,
        128,
        "parameter tensors sampled: the first N of named_parameters() (reference params_grad_len)",
        minimum=1,
    ),
    ProxyOption(
        "per_tensor",
        int,
        1,
        "elements per tensor at linspace(0, numel-1, n) (reference p; 1 = element 0)",
        minimum=1,
    ),
    ProxyOption(
        "quantiles",
        str,
        "0.1-0.9",
        "spectrum quantile levels: 0.1-0.9 (NB201 code) or 0-1 (MobileNetV2 code, adds min and max)",
        choices=tuple(QUANTILE_LEVELS),
    ),
    ProxyOption("init", str, "kaiming_norm_fanin", "re-initialisation before scoring (as AZ-NAS)", choices=INITS),
    ProxyOption(
        "input",
        str,
        "gaussian",
        "gaussian: N(0, I) of the batch's shape (Table 1: the NB201 driver's trainloader=None); real: the run's batch",
        choices=("gaussian", "real"),
    ),
)
_VKDNW_FAMILY = dict(
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=True,
    needs_real_data=False,
    bn="reinit",
    cost="per-sample",
    default_batch_size=64,
    options=VKDNW_OPTIONS,
)


@proxy(
    "vkdnw",
    "VKDNW: entropy of the deciles of the empirical Fisher spectrum over 128 sampled weights (Tybl & Neumann 2025)",
    version="2",  # 2: Gaussian input by default (Table 1's); version 1 scored the run's real batch
    **_VKDNW_FAMILY,
)
def vkdnw(ctx: ProxyContext) -> float:
    return quantile_entropy(shared_spectrum(ctx), QUANTILE_LEVELS[str(ctx.opt("quantiles"))])


@proxy(
    "vkdnw_single",
    "VKDNW_single: parameter-tensor count, ties broken by VKDNW, as one number (Tybl & Neumann 2025, Table 1)",
    version="1",
    **_VKDNW_FAMILY,
)
def vkdnw_single(ctx: ProxyContext) -> float:
    levels = QUANTILE_LEVELS[str(ctx.opt("quantiles"))]
    aleph = parameter_tensors(ctx.model)
    return single_score(aleph, quantile_entropy(shared_spectrum(ctx), levels), len(levels))
