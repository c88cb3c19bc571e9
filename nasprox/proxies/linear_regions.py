"""Number of linear regions (#LR) crossed by a set of inputs (TE-NAS; PROXY_SPEC §4.5).

Hooks the outputs of ``nn.ReLU`` calls with a 4-D input, binarises them per sample (a_i ∈ {0,1}^D)
and counts the distinct patterns among the samples: TE-NAS's Σ_i 1 / Σ_j M_ij with M_ij = 1 iff
a_i = a_j, which is exactly the number of unique rows (computed with ``torch.unique``; the
reference's half-precision matmul only decides R_ij > 0, which is exact for 0/1 codes).
One no_grad forward in train mode with the model's default init (TE-NAS's ``--init
kaiming_normal`` is not recognised by its own code, so no re-init happens, §4.7).

Choices:
- ``linear_regions.network`` = ``real`` (default): the patterns of the run's inputs on the real network.
  The count is at most the number of samples and saturates for wide real networks (64 at batch 64
  on all 50 NB201 CIFAR-100 cells of ``--sample 50 --seed 0`` and on 30 of 30 NATS-SSS cells);
  compare it across architectures at the same sample count.
- ``network`` = ``thin``: TE-NAS's own protocol (VITA-Group/TENAS ``prune_tenas.py`` and
  ``lib/procedures/linear_region_counter.py``): the space's thin network (``ProxyContext.thin_network``;
  on NB201 the cell alone at one channel, no stem, no reduction blocks, default init; TE-NAS itself
  counts on pruned supernets, we on each architecture's own cell) counts the
  patterns of 3000 single-channel 3×3 crops (``samples`` sets another number), forwarded in train mode
  in batches of 1000 (TE-NAS's ``input_size (1000, 1, 3, 3)``, ``sample_batch 3``: BatchNorm uses each
  batch's statistics). TE-NAS crops one random channel of 3000 shuffled, normalised training images
  (``RandomCrop(3)``, ``RandChannel(1)``); we have the run's fixed batch only, so the crops are drawn
  from it: 3000 distinct (image, channel, position) triples, uniformly without replacement, with a
  generator seeded by ``ctx.seed`` (the same crops for every architecture of a run; a larger
  ``linear_regions.batch_size`` widens the pool of images). ``input=gaussian`` draws N(0, 1) crops instead.
  Undefined where the space defines no thin network (a bare ``nn.Module``; NATS-SSS, whose
  architectures differ only in widths, which the thin network sets to one channel).
- ``linear_regions.input`` = ``data`` (default): the run's fixed batch of real images on the real
  network; ``gaussian``: N(0, 1) inputs of the same shape from a generator seeded by ``ctx.seed``
  (the Zen-NAS "RN" variant).
- ``linear_regions.samples`` (default 0 = the whole fixed batch; otherwise the first n samples,
  continued from the seeded stream; with ``network=thin``, the number of crops, 0 = TE-NAS's 3000).
Undefined for networks without an ``nn.ReLU`` on a 4-D input (MLPs, Tanh nets, language models).
"""

from __future__ import annotations

import torch

from nasprox.core import NasproxError, ProxyContext, ProxyOption, ProxyUndefined, proxy
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


NETWORK_OPTION = ProxyOption(
    "network",
    str,
    "real",
    "real: the run's inputs on the real network; thin: TE-NAS's protocol, the space's one-channel thin "
    "network on single-channel 3x3 crops of the fixed batch (samples = number of crops, 0 = 3000), "
    "forwarded in batches of 1000 (PROXY_SPEC §4.5)",
    choices=("real", "thin"),
)
TENAS_CROPS = 3000  # TE-NAS: input_size (1000, 1, 3, 3) x sample_batch 3
TENAS_BATCH = 1000  # samples per forward (train-mode BatchNorm statistics are per batch)
CROP = 3  # TE-NAS RandomCrop(3)


def random_crops(images: torch.Tensor, n: int, generator: torch.Generator, size: int = CROP) -> torch.Tensor:
    """``n`` distinct single-channel ``size`` x ``size`` crops of ``images`` (B, C, H, W) as (n, 1, size, size):
    (image, channel, top, left) drawn uniformly without replacement from ``generator`` (on CPU), in draw order."""
    b, c, h, w = images.shape
    rows, cols = h - size + 1, w - size + 1
    if rows < 1 or cols < 1:
        raise ProxyUndefined(f"{size}x{size} crops need images of at least {size}x{size}, got {h}x{w}")
    total = b * c * rows * cols
    if n > total:
        raise NasproxError(
            f"linear_regions.network=thin draws {n} distinct {size}x{size} crops, but a batch of {b} image(s) "
            f"holds only {total}; raise linear_regions.batch_size or lower linear_regions.samples"
        )
    flat = torch.randperm(total, generator=generator)[:n]
    left, rest = flat % cols, flat // cols
    top, rest = rest % rows, rest // rows
    channel, image = rest % c, rest // c
    windows = images.unfold(2, size, 1).unfold(3, size, 1)  # (B, C, rows, cols, size, size), a view
    index = [t.to(images.device) for t in (image, channel, top, left)]
    return windows[index[0], index[1], index[2], index[3]].unsqueeze(1).contiguous()


def thin_regions(ctx: ProxyContext) -> int:
    """TE-NAS's #LR (``network=thin``): distinct patterns of the crops on the space's thin network."""
    require_images(ctx, "linear_regions", "crops of images feed the thin network")
    network = ctx.thin_network()
    if network is None:
        if not ctx.space:
            raise ProxyUndefined("network=thin needs a search space's thin network; a bare nn.Module has none")
        raise ProxyUndefined(f"space {ctx.space} defines no TE-NAS thin network")
    samples = int(ctx.opt("samples")) or TENAS_CROPS
    gen = torch.Generator().manual_seed(ctx.seed)
    mode = str(ctx.opt("input"))
    if mode == "gaussian":
        crops = torch.randn((samples, 1, CROP, CROP), generator=gen).to(ctx.device)
    elif mode == "data":
        crops = random_crops(ctx.inputs, samples, gen)
    else:
        raise NasproxError(f"linear_regions.input must be 'data' or 'gaussian', got '{mode}'")
    network.train()
    patterns = [relu_patterns_4d(network, chunk) for chunk in torch.split(crops, TENAS_BATCH)]
    return count_unique_rows(torch.cat(patterns))


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
    options=(*REGION_OPTIONS, NETWORK_OPTION),
)
def linear_regions(ctx: ProxyContext) -> float:
    if str(ctx.opt("network")) == "thin":
        return float(thin_regions(ctx))
    return float(count_linear_regions(ctx.model.train(), region_inputs(ctx)))
