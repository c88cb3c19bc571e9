"""Registry-wide space contract: every registered space (a new one is picked up automatically) builds
models whose forward gives the declared output shape, and its arch strings round-trip."""

import pytest

from nasprox.core import SPACES
from nasprox.engine.contract import SMALL_OPTIONS, space_problems
from nasprox.engine.runner import make_space

# options that keep a CPU test small (TransNAS feeds 256x256 Taskonomy images by default)
SMALL = SMALL_OPTIONS
PACKAGE_SPACES = [n for n in SPACES.names() if SPACES.get(n).__module__.startswith("nasprox.spaces.")]


def test_the_registry_holds_every_benchmark_family():
    assert {"nats-tss", "nats-sss", "nb101", "transnas-micro", "transnas-macro", "nb-nlp"} <= set(PACKAGE_SPACES)


@pytest.mark.parametrize("name", PACKAGE_SPACES)
def test_space_contract(name, one_thread):
    # the checks `nasprox check-plugin` runs on a plug-in's spaces (nasprox/engine/contract.py)
    assert space_problems(make_space(name, SMALL.get(name))) == []
