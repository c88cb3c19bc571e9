"""SWAP and reg_swap: sample-wise activation patterns (Peng et al. 2024; PROXY_SPEC §4.3, §4.4).

Per repeat: Gaussian re-init (Conv2d/Linear weight N(0, 1), bias 0; BatchNorm2d/GroupNorm γ=1, β=0),
one no_grad forward of the first ``swap.samples`` (16) samples in the model's train mode, the
outputs of every ``nn.ReLU`` call with a 4-D input concatenated per sample and binarised with
sign(), and SWAP = the number of unique rows of the transposed D × B matrix. Final = mean over
``swap.repetitions`` (32) repetitions (old name ``repeats``). The re-init draws from a torch Generator seeded from ``ctx.seed``
(the reference's init is unseeded). Samples are the first ones of the run's fixed batch (the
reference takes the first 16 training images, unshuffled; the harness batch is a seeded draw).

reg_swap = SWAP × exp(−(P − μ)² / σ), P = parameters in thousands, names containing "auxiliary"
excluded; the literal /σ, not /(2σ²). [UNRESOLVED §10.2] μ and σ: options ``reg_swap.mu`` and
``reg_swap.sigma`` (thousands of parameters); without them the factor is 1, the official code's
default (``mu=sigma=None``: no regularisation), so reg_swap equals swap until they are given.

Undefined (ProxyUndefined) for networks without an ``nn.ReLU`` on a 4-D input, e.g. MLPs, Tanh
networks and language models.
"""

from __future__ import annotations

import math

import torch

from nasprox.core import NasproxError, ProxyContext, ProxyOption, proxy
from nasprox.proxies._activations import (
    MAX_CODE_SAMPLES,
    count_distinct_codes,
    count_unique_columns,
    gaussian_reinit,
    relu_column_codes_4d,
    relu_patterns_4d,
    take_samples,
)
from nasprox.proxies._common import FORWARD_REAL_DATA


def swap_value(model: torch.nn.Module, inputs: torch.Tensor) -> int:
    """Unique neuron patterns across the samples (one forward, current weights)."""
    n = inputs.shape[0]
    if n <= MAX_CODE_SAMPLES:  # the default 16: each unit's pattern as one integer, counted in a histogram
        return count_distinct_codes(relu_column_codes_4d(model, inputs), n)
    return count_unique_columns(relu_patterns_4d(model, inputs))


SWAP_OPTIONS = (
    ProxyOption(
        "samples",
        int,
        16,
        "number of samples: the first n of the fixed batch, continued from the seeded "
        "stream if the batch is smaller (PROXY_SPEC §4.3)",
        minimum=1,
    ),
    ProxyOption(
        "repetitions", int, 32, "Gaussian re-inits averaged (PROXY_SPEC §4.3)", minimum=1, aliases=("repeats",)
    ),
)


def swap_mean(ctx: ProxyContext) -> float:
    """SWAP averaged over the re-inits; computed once per architecture for swap and reg_swap together.

    The value depends on the network (re-initialised from the run seed), the samples (the first ``samples`` of
    the batch of this batch size) and the counts, so ``ctx.memo`` keys it by those: reg_swap run beside swap
    with the same options reuses swap's value instead of repeating its 32 forwards.
    """
    samples = int(ctx.opt("samples"))
    repeats = int(ctx.opt("repetitions"))
    if samples < 1 or repeats < 1:
        raise NasproxError("swap samples and repeats must be >= 1")
    key = ("swap_mean", samples, repeats, int(ctx.inputs.shape[0]))
    if key not in ctx.memo:
        inputs = take_samples(ctx, samples)
        model = ctx.model.train()
        generator = torch.Generator().manual_seed(ctx.seed)
        values = []
        for _ in range(repeats):
            gaussian_reinit(model, generator)
            values.append(swap_value(model, inputs))
        ctx.memo[key] = sum(values) / len(values)
    return ctx.memo[key]


def params_in_thousands(model: torch.nn.Module) -> float:
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name) / 1e3


def regular_factor(params_k: float, mu: float | None, sigma: float | None) -> float:
    """exp(−(P − μ)² / σ); 1 when μ or σ is not given (official default)."""
    if mu is None or sigma is None:
        return 1.0
    if sigma <= 0:
        raise NasproxError(f"reg_swap.sigma must be > 0, got {sigma}")
    return math.exp(-((params_k - mu) ** 2) / sigma)


# the first 16 real images (PROXY_SPEC §4.3) under a Gaussian re-init of every weight, BN included
_SWAP_FAMILY = {**FORWARD_REAL_DATA, "bn": "reinit", "default_batch_size": 16}


@proxy(
    "swap",
    "SWAP: unique sample-wise ReLU activation patterns over 16 samples, Gaussian re-init, mean of 32 repeats (Peng et al. 2024)",
    **_SWAP_FAMILY,
    options=SWAP_OPTIONS,
)
def swap(ctx: ProxyContext) -> float:
    return swap_mean(ctx)


@proxy(
    "reg_swap",
    "Regularised SWAP: SWAP x exp(-(P_k - mu)^2 / sigma) with P_k = parameters in thousands (options mu, sigma)",
    **_SWAP_FAMILY,
    options=(
        *SWAP_OPTIONS,
        ProxyOption(
            "mu",
            float,
            None,
            "centre of the parameter-count regulariser, in thousands of parameters; "
            "unset (with sigma): factor 1, reg_swap = swap (PROXY_SPEC §4.4, §10.2)",
        ),
        ProxyOption(
            "sigma",
            float,
            None,
            "width of the regulariser (literal /sigma, thousands of parameters), "
            "> 0; unset (with mu): factor 1 (PROXY_SPEC §4.4, §10.2)",
            above=0.0,
        ),
    ),
)
def reg_swap(ctx: ProxyContext) -> float:
    mu = ctx.opt("mu")
    sigma = ctx.opt("sigma")
    mu = None if mu is None else float(mu)
    sigma = None if sigma is None else float(sigma)
    factor = regular_factor(params_in_thousands(ctx.model), mu, sigma)
    return swap_mean(ctx) * factor
