"""Number of linear regions (#LR) crossed by a set of inputs (TE-NAS; PROXY_SPEC §4.5).

Hooks the outputs of ``nn.ReLU`` calls with a 4-D input, binarises them per sample (a_i ∈ {0,1}^D)
and counts the distinct patterns among the samples: TE-NAS's Σ_i 1 / Σ_j M_ij with M_ij = 1 iff
a_i = a_j, which is exactly the number of unique rows (computed with ``torch.unique``; the
reference's half-precision matmul only decides R_ij > 0, which is exact for 0/1 codes).
One no_grad forward in train mode with the model's default init (TE-NAS's ``--init
kaiming_normal`` is not recognised by its own code, so no re-init happens, §4.7).

Choices (TE-NAS's own protocol needs a space-specific "thin" network — C = 1, one cell per stage,
no stem — and 3000 single-channel 3×3 crops, which a generic proxy cannot build):
- ``linear_regions.input`` = ``data`` (default): the run's fixed batch of real images on the real
  network; ``gaussian``: N(0, 1) inputs of the same shape from a generator seeded by ``ctx.seed``
  (the Zen-NAS "RN" variant).
- ``linear_regions.samples`` (default 0 = the whole fixed batch; otherwise the first n samples,
  continued from the seeded stream). The count is at most the number of samples and saturates
  for wide real networks; compare it across architectures at the same sample count.
Undefined for networks without an ``nn.ReLU`` on a 4-D input (MLPs, Tanh nets, language models).
"""

from __future__ import annotations

import torch

from nasprox.core import NasproxError, ProxyContext, ProxyOption, proxy
from nasprox.proxies._activations import count_unique_rows, relu_patterns_4d, require_images, take_samples
from nasprox.proxies._common import FORWARD_REAL_DATA


def count_linear_regions(model: torch.nn.Module, inputs: torch.Tensor) -> int:
    """Distinct ReLU activation patterns among the samples of ``inputs``."""
    return count_unique_rows(relu_patterns_4d(model, inputs))


REGION_OPTIONS = (
    ProxyOption(
        "samples",
        int,
        0,
        "count patterns among the first n samples (continued from the seeded stream); "
        "0 = the whole fixed batch (PROXY_SPEC §4.5)",
        minimum=0,
    ),
    ProxyOption(
        "input",
        str,
        "data",
        "data: the run's fixed batch on the real network; gaussian: N(0, 1) inputs of "
        "the same shape seeded by the run seed (the Zen-NAS 'RN' variant)",
        choices=("data", "gaussian"),
    ),
)


def region_inputs(ctx: ProxyContext) -> torch.Tensor:
    samples = int(ctx.opt("samples"))
    mode = str(ctx.opt("input"))
    if samples < 0:
        raise NasproxError(f"linear_regions.samples must be >= 0, got {samples}")
    inputs = take_samples(ctx, samples) if samples else ctx.inputs
    if mode == "data":
        return inputs
    if mode == "gaussian":
        require_images(ctx, "linear_regions", "Gaussian inputs cannot stand in for token ids")
        gen = torch.Generator().manual_seed(ctx.seed)
        return torch.randn(inputs.shape, generator=gen).to(ctx.device)
    raise NasproxError(f"linear_regions.input must be 'data' or 'gaussian', got '{mode}'")


@proxy(
    "linear_regions",
    "Number of distinct ReLU activation patterns (linear regions) among the batch samples (TE-NAS)",
    **FORWARD_REAL_DATA,
    aliases=("n_lr",),
    options=REGION_OPTIONS,
)
def linear_regions(ctx: ProxyContext) -> float:
    return float(count_linear_regions(ctx.model.train(), region_inputs(ctx)))
