"""Registry-wide: a proxy declaring ``leaves_model_unchanged`` really leaves the network as it found it.

The engine hands such a proxy the built network itself, without a deep copy, and the next proxy scores on
what it left. The checks are the package's own (``nasprox.engine.contract``, also run by ``nasprox check-plugin``): a spy
proxy placed after it receives that very network (the last proxy that needs a copy gets
the original) and compares it with a fresh seeded build: parameters, buffers, train/eval mode of every
module, forward hooks and gradients. Then scores with and without the sharing must be identical.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nasprox.core import PROXIES
from nasprox.engine import RunConfig, Scorer, contract
from nasprox.engine.contract import differences

pytestmark = pytest.mark.usefixtures("one_thread")
PROXIES.names()  # import every proxy module
SHARING = sorted(n for n in PROXIES.names() if PROXIES.get(n).leaves_model_unchanged)
# (space, dataset, architectures, space options): every space that builds without benchmark files
SPACES = [
    ("nats-tss", "cifar10", ["0", "1234"], {}),
    ("nats-sss", "cifar100", ["0", "32767"], {}),
    ("nb101", "cifar10", ["011.001.000:3"], {}),
    ("transnas-micro", "class_scene", ["1234"], {"resolution": 64}),
    ("transnas-macro", "room_layout", ["1000"], {"resolution": 64}),
]


def arch_of(scorer: Scorer, key: str):
    return contract.arch_of(scorer.space, key)


def test_the_cheap_baselines_share_the_network():
    assert {"params", "flops"} <= set(SHARING)


def test_the_spy_is_registered_only_while_it_is_used():
    with contract.spy_registered() as spy:
        assert spy in PROXIES
    assert spy not in PROXIES


def test_the_spy_sees_a_changed_mode_a_left_hook_a_grad_and_a_changed_weight():
    scorer = Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=["params"], synthetic=True))
    arch = scorer.space.arch(7)
    fresh = scorer.build(arch)
    assert differences(scorer.build(arch), fresh) == []
    changed = scorer.build(arch)
    first_conv = next(m for m in changed.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.eval()
    first_conv.register_forward_hook(lambda *_: None)
    first_conv.weight.grad = torch.zeros_like(first_conv.weight)
    with torch.no_grad():
        next(changed.parameters()).add_(1.0)
    found = " ".join(differences(changed, fresh))
    assert "mode of" in found and "hooks left" in found and "grad of" in found and "tensor" in found


@pytest.mark.parametrize("space,dataset,archs,options", SPACES, ids=[s[0] for s in SPACES])
@pytest.mark.parametrize("name", SHARING)
def test_a_sharing_proxy_leaves_the_network_unchanged(name, space, dataset, archs, options):
    assert options == contract.SMALL_OPTIONS.get(space, {})  # the contract builds the spaces the same way
    built = contract.make_space(space, options)
    problems = contract.leaves_model_unchanged_problems(
        name, space, dataset, [contract.arch_of(built, k) for k in archs]
    )
    assert problems == []


@pytest.mark.parametrize("space,dataset,archs,options", SPACES[:2], ids=[s[0] for s in SPACES[:2]])
def test_sharing_changes_no_score_and_keeps_the_row_order(space, dataset, archs, options, monkeypatch):
    proxies = ["synflow", "params", "grad_norm", "flops"]
    config = RunConfig(
        space=space, dataset=dataset, proxies=proxies, synthetic=True, batch_size=8, space_options=options
    )
    scorer = Scorer(config)
    shared = [r for key in archs for r in scorer.score_arch(arch_of(scorer, key))]
    for name in SHARING:
        monkeypatch.setitem(PROXIES._items, name, dataclasses.replace(PROXIES.get(name), leaves_model_unchanged=False))
    scorer = Scorer(config)  # its proxy list now says every proxy needs a copy
    copied = [r for key in archs for r in scorer.score_arch(arch_of(scorer, key))]
    assert [r.proxy for r in shared] == proxies * len(archs)
    assert [(r.proxy, r.score) for r in shared] == [(r.proxy, r.score) for r in copied]
