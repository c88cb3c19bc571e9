"""Shared activation-pattern machinery for naswot, swap, linear_regions (PROXY_SPEC §4) and the
Gaussian re-init used by swap and zen (§4.3, §6.1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nasprox.core import ProxyContext, ProxyUndefined
from nasprox.proxies._common import forward_hooks


def relu_name_modules(model: nn.Module) -> list[nn.Module]:
    """Modules whose *type name* contains "ReLU" (BayesWatch NASWOT rule, §4.1): ReLU, ReLU6,
    LeakyReLU, and composite ops such as NB201's ``ReLUConvBN`` — the latter on top of its inner ReLU."""
    return [m for m in model.modules() if "ReLU" in type(m).__name__]


def relu_modules(model: nn.Module) -> list[nn.Module]:
    """Exactly ``isinstance(nn.ReLU)`` modules (SWAP / TE-NAS rule, §4.3, §4.5)."""
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


def relu_outputs_4d(
    model: nn.Module, inputs: torch.Tensor, per_call: Callable[[torch.Tensor], torch.Tensor]
) -> list[torch.Tensor]:
    """``per_call(output)`` for every ``nn.ReLU`` call with a 4-D input, in call order (§4.3/§4.5), from one
    no_grad forward in the model's mode.

    Raises ProxyUndefined when the network has no such ReLU call.
    """
    if not relu_modules(model):
        raise ProxyUndefined("the network has no nn.ReLU module")
    values: list[torch.Tensor] = []

    def on_forward(_module, module_inputs, output):
        if isinstance(module_inputs, tuple) and module_inputs and module_inputs[0].dim() == 4:
            values.append(per_call(output.detach()))

    with forward_hooks(relu_modules(model), on_forward), torch.no_grad():
        model(inputs)
    if not values:
        raise ProxyUndefined("no nn.ReLU of the network receives a 4-D (image feature map) input")
    return values


def relu_patterns_4d(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """B × D binary matrix (float, 0/1) of the outputs of every ``nn.ReLU`` call with a 4-D input,
    concatenated per sample in call order (§4.3/§4.5). One no_grad forward in the model's mode.

    Raises ProxyUndefined when the network has no such ReLU call.
    """
    codes = relu_outputs_4d(model, inputs, lambda out: torch.sign(out).reshape(out.shape[0], -1))
    return torch.cat(codes, dim=1)


BITS_PER_WORD = 62  # binary columns packed per int64 word (kept below the sign bit)
# samples whose on/off bits are summed as powers of two in float32: exact while every code is below 2^24
MAX_CODE_SAMPLES = 24
# up to 2^20 possible codes a count of each is cheaper than a sort (a 1M-entry histogram, 8 MB)
MAX_BINCOUNT_SAMPLES = 20


def relu_column_codes_4d(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The columns of ``relu_patterns_4d(model, inputs)`` as integers: one int64 per ReLU output unit, bit i
    set when sample i activates it. Built per ReLU call, so the B x D matrix is never materialised.

    Needs B <= MAX_CODE_SAMPLES; raises ProxyUndefined as relu_patterns_4d does.
    """
    n = inputs.shape[0]
    if n > MAX_CODE_SAMPLES:
        raise ValueError(f"column codes need at most {MAX_CODE_SAMPLES} samples, got {n}")
    powers = torch.pow(2.0, torch.arange(n, dtype=torch.float32, device=inputs.device))

    def unit_codes(out: torch.Tensor) -> torch.Tensor:
        active = (out.reshape(out.shape[0], -1) > 0).to(torch.float32)
        # sum_i 2^i [sample i active]: exact below 2^24, also under TF32 (0/1 and powers of two lose no bits)
        return powers @ active

    return torch.cat(relu_outputs_4d(model, inputs, unit_codes)).to(torch.int64)


def count_distinct_codes(codes: torch.Tensor, n_bits: int) -> int:
    """Distinct values among integer codes below 2^n_bits: a histogram when that is small, else a sort."""
    if n_bits <= MAX_BINCOUNT_SAMPLES:
        return int(torch.count_nonzero(torch.bincount(codes, minlength=1 << n_bits)))
    return int(torch.unique(codes).numel())


def count_unique_rows(matrix: torch.Tensor) -> int:
    """Number of distinct rows of a 0/1 (or sign-valued, > 0 read as 1) matrix.

    Equals ``torch.unique(matrix, dim=0).shape[0]`` for binary rows, but packs each row's bits into
    int64 words first, so D × 16 SWAP matrices are deduplicated as D integers (much faster).
    """
    bits = (matrix > 0).to(torch.int64)
    n_rows, n_cols = bits.shape
    n_words = max(1, -(-n_cols // BITS_PER_WORD))
    width = -(-n_cols // n_words) if n_cols else 1  # spread columns evenly: no padding for <= 62 columns
    pad = n_words * width - n_cols
    if pad:
        bits = torch.cat([bits, bits.new_zeros(n_rows, pad)], dim=1)
    weights = torch.ones(width, dtype=torch.int64, device=bits.device) << torch.arange(width, device=bits.device)
    words = (bits.view(n_rows, n_words, width) * weights).sum(dim=2)
    if words.shape[1] == 1:
        return int(torch.unique(words[:, 0]).numel())
    return int(torch.unique(words, dim=0).shape[0])


def count_unique_columns(matrix: torch.Tensor) -> int:
    """Distinct columns of a B × D binary matrix (SWAP's unique rows of the transpose)."""
    n_rows = matrix.shape[0]
    if n_rows > BITS_PER_WORD:
        return count_unique_rows(matrix.T)
    shifts = torch.arange(n_rows, device=matrix.device).unsqueeze(1)
    codes = ((matrix > 0).to(torch.int64) << shifts).sum(dim=0)  # one integer per column
    return int(torch.unique(codes).numel())


def gaussian_reinit(model: nn.Module, generator: torch.Generator) -> None:
    """SWAP/Zen-NAS re-init (§4.3, §6.1): Conv2d/Linear weight ~ N(0, 1), bias 0; BatchNorm2d/GroupNorm
    weight 1, bias 0 (skipped when affine-free). Draws on CPU from ``generator``, so the values do not
    depend on the device."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()


def take_samples(ctx: ProxyContext, n: int) -> torch.Tensor:
    """The first ``n`` samples of the fixed batch, continued from the seeded stream when it is shorter."""
    if n < 1:
        raise ValueError("need at least one sample")
    parts, have = [ctx.inputs[:n]], min(n, ctx.inputs.shape[0])
    while have < n:
        more, _ = ctx.next_batch()
        parts.append(more[: n - have])
        have += parts[-1].shape[0]
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def require_images(ctx: ProxyContext, proxy_name: str, why: str) -> None:
    if ctx.input_spec.kind != "image":
        raise ProxyUndefined(f"{proxy_name} is undefined for {ctx.input_spec.kind} inputs: {why}")
