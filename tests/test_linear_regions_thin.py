"""linear_regions.network=thin: TE-NAS's #LR protocol (PROXY_SPEC §4.5; VITA-Group/TENAS ``prune_tenas.py``).

The thin network of an NB201 cell is the cell alone at one channel (C=1, depth=1: no stem, no reduction blocks),
then BN + ReLU, global pooling and the classifier. It counts the distinct ReLU patterns of 3000 single-channel
3x3 crops, forwarded in batches of 1000 in train mode.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from nasprox import score_model
from nasprox.core import PROXIES, SPACES, InputSpec, NasproxError, ProxyContext, ProxyUndefined
from nasprox.engine import RunConfig, Scorer
from nasprox.proxies.linear_regions import TENAS_BATCH, TENAS_CROPS, random_crops
from nasprox.spaces.nats._nb201_ops import InferCell, ResNetBasicblock

pytestmark = pytest.mark.usefixtures("one_thread")

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MIXED = "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|"
THIN = {"linear_regions": {"network": "thin"}}


def _tss():
    return SPACES.get("nats-tss")()


def _thin(key: str, dataset: str = "cifar100") -> nn.Module:
    space = _tss()
    return space.thin_network(space.parse(key), dataset)


def _ctx(network, inputs, *, seed=0, options=None, space="nats-tss") -> ProxyContext:
    """A context whose thin network is ``network`` (a fresh copy per call, as the engine builds one)."""
    return ProxyContext(
        model=nn.Sequential(nn.Conv2d(inputs.shape[1], 2, 1), nn.ReLU()),  # the real network: unused by thin
        build_model=lambda: nn.Identity(),
        inputs=inputs,
        targets=torch.zeros(inputs.shape[0], dtype=torch.long),
        input_spec=InputSpec("image", tuple(inputs.shape[1:]), 10),
        loss_fn=nn.functional.cross_entropy,
        next_batch=lambda: (inputs, torch.zeros(inputs.shape[0], dtype=torch.long)),
        device=torch.device("cpu"),
        seed=seed,
        space=space,
        options={"network": "thin", **(options or {})},
        thin_network=lambda: None if network is None else _copy(network),
    )


def _copy(network: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(network)


def _lr(ctx: ProxyContext) -> float:
    return PROXIES.get("linear_regions").fn(ctx)


# -- the thin network's structure ----------------------------------------------------------------------------
def test_thin_network_is_one_cell_at_one_channel_without_stem_or_reduction_blocks():
    net = _thin(ALL_CONV)
    assert not hasattr(net, "stem")
    assert len(net.cells) == 1 and isinstance(net.cells[0], InferCell)
    assert not any(isinstance(m, ResNetBasicblock) for m in net.modules())
    cell = net.cells[0]
    assert (cell.in_dim, cell.out_dim) == (1, 1)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and all(c.in_channels == c.out_channels == 1 for c in convs)
    assert net.training
    out = net(torch.randn(5, 1, 3, 3))
    assert out.shape == (5, 100)


@pytest.mark.parametrize(
    ("key", "dataset", "params"),
    [
        # 6 edges of ReLU-Conv3x3(1->1, no bias)-BN: 6 * (9 + 2) = 66; head: BN 2 + Linear(1, 100) 200
        (ALL_CONV, "cifar100", 66 + 2 + 200),
        (ALL_CONV, "cifar10", 66 + 2 + 20),  # Linear(1, 10): 10 weights + 10 biases
        # conv1x1 (1 + 2) + skip 0 + pool 0 + none 0 + conv3x3 (9 + 2) + conv1x1 (1 + 2) = 17
        (MIXED, "cifar10", 17 + 2 + 20),
        (ALL_SKIP, "ImageNet16-120", 0 + 2 + 240),
    ],
)
def test_thin_network_parameter_count_by_hand(key, dataset, params):
    assert sum(p.numel() for p in _thin(key, dataset).parameters()) == params


def test_nats_sss_has_no_thin_network_and_says_why():
    space = SPACES.get("nats-sss")()
    with pytest.raises(ProxyUndefined, match="differ only in channel widths"):
        space.thin_network(space.examples(1)[0], "cifar100")


@pytest.mark.parametrize("name", sorted(SPACES.names()))
def test_every_space_either_builds_a_working_thin_network_or_none(name):
    space = SPACES.get(name)()
    arch = space.examples(1)[0]
    dataset = space.datasets[0]
    try:
        net = space.thin_network(arch, dataset)
    except ProxyUndefined:
        return
    if net is None:
        return
    logits = net(torch.randn(4, 1, 3, 3))
    assert logits.shape == (4, space.input_spec(dataset).num_classes)


# -- crops ---------------------------------------------------------------------------------------------------
def test_random_crops_are_the_distinct_windows_of_the_images():
    images = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)  # every pixel a distinct value
    total = 2 * 3 * 2 * 3  # images x channels x 2 rows x 3 columns of 3x3 windows
    crops = random_crops(images, total, torch.Generator().manual_seed(0))
    assert crops.shape == (total, 1, 3, 3)
    windows = {
        tuple(images[b, c, t : t + 3, s : s + 3].flatten().tolist())
        for b in range(2)
        for c in range(3)
        for t in range(2)
        for s in range(3)
    }
    assert {tuple(x.flatten().tolist()) for x in crops} == windows  # all of them, each once
    again = random_crops(images, 7, torch.Generator().manual_seed(0))
    assert torch.equal(again, crops[:7])  # a seeded draw: the first n of the same permutation


def test_random_crops_refuse_too_few_windows_and_too_small_images():
    with pytest.raises(NasproxError, match="holds only 4"):
        random_crops(torch.zeros(1, 1, 4, 4), 5, torch.Generator())
    with pytest.raises(ProxyUndefined, match="at least 3x3"):
        random_crops(torch.zeros(1, 1, 2, 8), 1, torch.Generator())


# -- golden counts -------------------------------------------------------------------------------------------
def test_by_hand_two_crops_of_one_image():
    # all-skip cell: node1 = x, node2 = x + x, node3 = x + x + 2x = 4x; the only ReLU is the head's, after a
    # train-mode BN with weight 1, bias 0: its pattern is [4x > mean(4x)], i.e. x above the batch mean.
    # The 3x4 image has two 3x3 crops: zeros, and zeros with a right column of 9s. Mean 27/18 = 1.5, so the
    # patterns are 000000000 and 001001001: two regions.
    image = torch.tensor([[0.0, 0.0, 0.0, 9.0]] * 3).view(1, 1, 3, 4)
    assert _lr(_ctx(_thin(ALL_SKIP), image, options={"samples": 2})) == 2
    # a constant image: both crops equal, BN gives 0 everywhere, one (all-off) pattern
    assert _lr(_ctx(_thin(ALL_SKIP), torch.full((1, 1, 3, 4), 5.0), options={"samples": 2})) == 1


def test_a_cell_of_none_edges_has_one_region():
    # the cell outputs zeros whatever the input: one pattern
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))  # 4 x 3 x 14 x 14 = 2352 crops
    assert _lr(_ctx(_thin(ALL_NONE), x, options={"samples": 2000})) == 1


def test_all_skip_cell_counts_the_above_mean_patterns_per_batch_of_1000():
    # Gaussian crops, 2500 of them: batches of 1000, 1000, 500, each normalised by its own mean (the BN); the
    # count is the number of distinct 9-bit patterns [x > mean of its batch], computed here independently
    seed = 7
    gen = torch.Generator().manual_seed(seed)
    crops = torch.randn((2500, 1, 3, 3), generator=gen)
    bits = torch.cat([(c > c.mean()).reshape(len(c), -1) for c in torch.split(crops, TENAS_BATCH)])
    expected = len({tuple(row.tolist()) for row in bits})
    got = _lr(_ctx(_thin(ALL_SKIP), torch.zeros(1, 3, 8, 8), seed=seed, options={"samples": 2500, "input": "gaussian"}))
    assert got == expected


def test_default_is_3000_crops_and_at_most_3000_regions():
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    value = _lr(_ctx(_thin(ALL_CONV), x))
    assert TENAS_CROPS == 3000 and 1 < value <= 3000 and value == int(value)


def test_undefined_without_a_thin_network():
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ProxyUndefined, match="space nats-sss defines no TE-NAS thin network"):
        _lr(_ctx(None, x, space="nats-sss"))
    with pytest.raises(ProxyUndefined, match="bare nn.Module"):
        _lr(_ctx(None, x, space=""))
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    scores = score_model(net, x, proxies=["linear_regions"], proxy_options=THIN)
    assert math.isnan(scores["linear_regions"])
    assert score_model(net, x, proxies=["linear_regions"])["linear_regions"] >= 1  # the default: real network


# -- through the engine --------------------------------------------------------------------------------------
def _scorer(space="nats-tss", seed=0, options=THIN, **kw) -> Scorer:
    return Scorer(
        RunConfig(space=space, dataset="cifar100", proxies=["linear_regions"], seed=seed, proxy_options=options, **kw)
    )


def test_engine_thin_network_is_seeded_and_leaves_global_rngs_alone():
    scorer = _scorer(synthetic=True)
    arch = scorer.space.parse(MIXED)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = scorer.thin_network(arch), scorer.thin_network(arch)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    other = _scorer(seed=1, synthetic=True).thin_network(arch)
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), other.state_dict().values()))


def test_engine_scores_thin_deterministically_and_nats_sss_is_undefined():
    scorer = _scorer(synthetic=True)
    arch = scorer.space.parse(ALL_CONV)
    first = scorer.score_arch(arch)[0]
    assert first.status == "ok" and 1 <= first.score <= 3000
    torch.manual_seed(999)  # the global RNG must not matter
    assert _scorer(synthetic=True).score_arch(arch)[0].score == first.score
    default = _scorer(synthetic=True, options={}).score_arch(arch)[0]
    assert default.status == "ok" and default.score <= 64 and default.data_config != first.data_config

    sss = _scorer(space="nats-sss", synthetic=True)
    row = sss.score_arch(sss.space.examples(1)[0])[0]
    assert row.status == "undefined" and math.isnan(row.score)
    assert "differ only in channel widths" in row.error


def test_thin_does_not_saturate_on_20_nb201_cells(shared):
    """Measured on real CIFAR-100 images: the real-network count is 64 (the batch) on nearly every cell; the
    thin protocol spreads out (50 seeded cells at seed 0: 45 distinct values from 60 to 1226, Spearman 0.79
    with the 200-epoch test accuracy)."""
    scorer = _scorer(data_root=str(shared("inputs/cifar100_test_916.npz")))
    cells = random.Random(0).sample(range(len(scorer.space)), 20)
    rows = [scorer.score_arch(scorer.space.arch(i))[0] for i in cells]
    scores = [r.score for r in rows]
    assert all(r.status == "ok" for r in rows)
    assert max(scores) < TENAS_CROPS
    assert len(set(scores)) >= 15
