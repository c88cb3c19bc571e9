"""NEAR's MLP layer-size estimation, greedy layer by layer (PROXY_SPEC §5.1 "MLP layer-size
estimation"; NEAR paper §4.3 and Fig. A.4).

For hidden layer l (earlier layers fixed at their chosen sizes, later layers absent), build one MLP
per candidate size s_j, compute the NEAR score of only that layer's hooked module (the
post-activation by default, as in the package example; ``module="pre"`` scores the Linear output),
averaged over repetitions, and divide by the size: r_j = score_j / s_j. Fit f(s) = α + β·s^γ to
(1, 1) ∪ {(s_j, r_j)} with initial guess (1, 2, -1) and maxfev 10000; the estimate is
s* = t^(1/(γ-1)) with t = 0.005 (0.5 % of the slope at size 1), rounded to the nearest integer.

Choices: each repetition feeds the samples one at a time (batch 1, so an n×n matrix is the first n
samples of that repetition) in a fresh permutation seeded by (seed, repetition) and shared by all
candidate sizes (the reference re-shuffles its DataLoader per repetition); repetition r builds the
model from seed (seed, layer, size, r), i.e. PyTorch's default init under a fixed seed. Start offsets (unused at batch 1, where k = 0) come from a seeded
Generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from nasprox.core import PROXIES, NasproxError
from nasprox.search.mlp import ACTIVATIONS, build_mlp

DEFAULT_THRESHOLD = 0.005


def _near(name: str):
    """A function NEAR exports to tools (``@proxy(..., exports=...)`` in ``nasprox.proxies.near``)."""
    return PROXIES.get("near").exports[name]


def power_law(s, alpha, beta, gamma):
    """NEAR's layer-size model α + β·s^γ (NEAR's export ``power_law``)."""
    return _near("power_law")(s, alpha, beta, gamma)


def fit_power_law(sizes, relative) -> tuple[float, float, float]:
    """(α, β, γ) of α + β s^γ fitted to (1, 1) ∪ {(s_j, r_j)}: NEAR's one fit (export ``fit_layer_size``)."""
    return _near("fit_layer_size")(sizes, relative)


def size_from_fit(gamma: float, threshold: float = DEFAULT_THRESHOLD) -> float:
    """s* where f'(s)/f'(1) = s^(γ-1) equals ``threshold``: s* = t^(1/(γ-1)) (real-valued)."""
    if not 0 < threshold < 1:
        raise NasproxError(f"threshold must be in (0, 1), got {threshold}")
    if not gamma < 1:
        raise NasproxError(
            f"fitted exponent γ = {gamma:.3g} >= 1: the relative score does not flatten; use larger candidate sizes"
        )
    return float(threshold ** (1.0 / (gamma - 1.0)))


@dataclass
class LayerFit:
    layer: int  # 0-based hidden layer
    sizes: list[int]
    scores: list[float]  # mean NEAR score of the layer's module per size
    relative: list[float]  # score / size
    alpha: float
    beta: float
    gamma: float
    estimate: float  # real-valued s*
    chosen: int  # rounded s*, at least 1
    score_std: list[float] = field(default_factory=list)


def sample_order(seed: int, rep: int, n: int) -> np.ndarray:
    """The order in which repetition ``rep`` feeds the samples (the same for every candidate size,
    so the sizes are compared on the same samples)."""
    return np.random.default_rng([seed, rep]).permutation(n)


def layer_near_score(
    model: torch.nn.Module, inputs: torch.Tensor, hooked_index: int, repetitions: int, seed: int, rebuild
) -> tuple[float, float]:
    """Mean and std over repetitions of the NEAR score of one hooked module (batch-1 feeding)."""
    values = []
    rng = np.random.default_rng([seed, 51])
    for rep in range(repetitions):
        if rep:
            model = rebuild(rep)
        samples = (inputs[i : i + 1] for i in torch.from_numpy(sample_order(seed, rep, len(inputs))))
        (score,) = _near("layer_scores")(model, samples, layer_index=hooked_index, rng=rng)
        values.append(0.0 if score is None else float(score))
    return float(np.mean(values)), float(np.std(values))


def estimate_mlp_sizes(
    inputs: torch.Tensor,
    output_size: int,
    hidden_layers: int,
    sizes: list[int],
    *,
    activation: str = "relu",
    repetitions: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    module: str = "post",
    seed: int = 0,
    fixed: list[int] | None = None,
) -> list[LayerFit]:
    """Greedy layer-size estimation for an MLP fed ``inputs`` (N, F); one LayerFit per hidden layer."""
    sizes = sorted(set(int(s) for s in sizes))
    if activation.lower() not in ACTIVATIONS:
        raise NasproxError(f"unknown activation '{activation}' (choose from {', '.join(ACTIVATIONS)})")
    if len(sizes) < 2:
        raise NasproxError("give at least two distinct candidate --sizes")
    if sizes[0] < 1:
        raise NasproxError("candidate sizes must be >= 1")
    if hidden_layers < 1:
        raise NasproxError("--hidden-layers must be >= 1")
    if repetitions < 1:
        raise NasproxError("--repetitions must be >= 1")
    if module not in ("pre", "post"):
        raise NasproxError(f"module must be 'pre' or 'post', not '{module}'")
    if len(inputs) < sizes[-1]:
        raise NasproxError(
            f"the largest size {sizes[-1]} needs at least {sizes[-1]} samples, the data has {len(inputs)}"
        )
    input_size = inputs.shape[1]
    chosen: list[int] = list(fixed or [])
    fits: list[LayerFit] = []
    for layer in range(len(chosen), hidden_layers):
        hooked_index = 2 * layer + (1 if module == "post" else 0)
        means, stds = [], []
        for size in sizes:

            def rebuild(rep: int, size=size, layer=layer):
                torch.manual_seed(model_seed(seed, layer, size, rep))
                return build_mlp(input_size, chosen + [size], output_size, activation)

            model = rebuild(0)
            if hooked_index >= len(_near("hooked_modules")(model)):  # cannot happen for build_mlp; guards edits
                raise NasproxError(f"hooked index {hooked_index} out of range")
            mean, std = layer_near_score(model, inputs, hooked_index, repetitions, seed, rebuild)
            means.append(mean)
            stds.append(std)
        relative = [m / s for m, s in zip(means, sizes)]
        alpha, beta, gamma = fit_power_law(sizes, relative)
        estimate = size_from_fit(gamma, threshold)
        pick = max(1, int(round(estimate)))
        fits.append(LayerFit(layer, sizes, means, relative, alpha, beta, gamma, estimate, pick, stds))
        chosen.append(pick)
    return fits


def model_seed(seed: int, layer: int, size: int, rep: int) -> int:
    return int(np.random.SeedSequence([seed, layer, size, rep + 1]).generate_state(1)[0])


def plot_fits(fits: list[LayerFit], path, title: str = "") -> None:
    """NEAR Fig. A.4: relative score vs size per layer, the fitted power law and the chosen size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(fits)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, fit in zip(axes[0], fits):
        grid = np.geomspace(1, max(fit.sizes) * 1.5, 300)
        ax.plot(
            grid,
            power_law(grid, fit.alpha, fit.beta, fit.gamma),
            "-",
            color="tab:blue",
            label=f"fit {fit.alpha:.3g} + {fit.beta:.3g}·s^{fit.gamma:.3g}",
        )
        ax.plot(fit.sizes, fit.relative, "o", color="tab:orange", label="NEAR score / size")
        ax.plot([1], [1], "s", color="grey", label="anchor (1, 1)")
        ax.axvline(fit.estimate, color="tab:red", ls="--", label=f"chosen size {fit.chosen}")
        ax.set_xscale("log")
        ax.set_xlabel("layer size s")
        ax.set_ylabel("relative score")
        ax.set_title(f"hidden layer {fit.layer + 1}", fontsize=9)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def param_count(input_size: int, hidden: list[int], output_size: int) -> int:
    widths = [input_size, *hidden, output_size]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


__all__ = [
    "LayerFit",
    "estimate_mlp_sizes",
    "fit_power_law",
    "size_from_fit",
    "power_law",
    "plot_fits",
    "param_count",
    "layer_near_score",
    "sample_order",
    "model_seed",
    "DEFAULT_THRESHOLD",
]
