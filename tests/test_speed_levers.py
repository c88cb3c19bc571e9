"""The engine's speed levers change no score beyond their stated tolerance (docs/performance.md)."""

import math

import numpy as np
import pytest
import torch

from nasprox.core import NasproxError
from nasprox.engine import RunConfig, Scorer, select_archs
from nasprox.proxies.near import _as_rows


@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 3, 4, 5, 6), (4, 7, 5)])
def test_near_row_slice_equals_index_gather(shape):
    """NEAR copies only the samples its rows lie in; the rows equal a full unravel_index gather."""
    out = torch.randn(shape)
    rows = _as_rows(torch.nn.Conv2d(1, 1, 1), out)
    rng = np.random.default_rng(0)
    for _ in range(50):
        lo = int(rng.integers(0, rows.n_rows))
        hi = int(rng.integers(lo, rows.n_rows + 1))
        flat = torch.arange(lo, hi)
        expected = rows.view[torch.unravel_index(flat, tuple(rows.view.shape[:-1]))]
        assert torch.equal(rows.take(lo, hi), expected)


def _scores(images, memory_format):
    config = RunConfig(
        space="nats-tss",
        dataset="cifar10",
        proxies=["near", "synflow", "snip", "naswot"],
        batch_size=16,
        device="cpu",
        data_root=str(images),
        memory_format=memory_format,
        proxy_options={"near": {"repetitions": "2"}},
    )
    scorer = Scorer(config)
    archs = select_archs(scorer.space, sample=3, seed=0)
    return {(r.arch, r.proxy): r.score for recs in scorer.run(archs) for r in recs}, scorer


# measured max relative differences on NB201 (docs/performance.md): near, naswot ~2e-7; synflow
# (float64) ~1e-15; snip ~2e-4 (train-mode BN backward amplifies float32 round-off)
TOLERANCE = {"near": 1e-6, "naswot": 1e-6, "synflow": 1e-12, "snip": 1e-3}


def test_channels_last_scores_equal_contiguous_to_round_off(shared):
    images = shared("inputs/cifar10_test_1000_from_jpg.npz")
    fast, scorer = _scores(images, "auto")
    assert scorer.memory_format == torch.channels_last  # auto on CPU
    plain, scorer = _scores(images, "contiguous")
    assert scorer.memory_format == torch.contiguous_format
    assert fast.keys() == plain.keys()
    for key, value in plain.items():
        assert math.isfinite(value), key
        assert fast[key] == pytest.approx(value, rel=TOLERANCE[key[1]], abs=1e-9), key


def test_channels_last_is_part_of_the_resume_key(shared):
    images = shared("inputs/cifar10_test_1000_from_jpg.npz")

    def make(fmt):
        return Scorer(
            RunConfig(
                space="nats-tss",
                dataset="cifar10",
                proxies=["near"],
                device="cpu",
                data_root=str(images),
                memory_format=fmt,
            )
        )

    assert make("channels_last").data_config("near") != make("contiguous").data_config("near")


def test_unknown_memory_format_is_a_user_error():
    with pytest.raises(NasproxError, match="memory format"):
        Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=["params"], device="cpu", memory_format="nhwc"))
