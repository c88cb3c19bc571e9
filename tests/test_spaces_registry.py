"""Registry-wide space contract: every registered space (a new one is picked up automatically) builds
models whose forward gives the declared output shape, and its arch strings round-trip."""

import pytest
import torch

from nasprox.core import SPACES, NasproxError
from nasprox.engine.runner import make_space

# options that keep a CPU test small (TransNAS feeds 256x256 Taskonomy images by default)
SMALL = {"transnas-micro": {"resolution": 64}, "transnas-macro": {"resolution": 64}}
PACKAGE_SPACES = [n for n in SPACES.names() if SPACES.get(n).__module__.startswith("nasprox.spaces.")]


def test_the_registry_holds_every_benchmark_family():
    assert {"nats-tss", "nats-sss", "nb101", "transnas-micro", "transnas-macro", "nb-nlp"} <= set(PACKAGE_SPACES)


@pytest.mark.parametrize("name", PACKAGE_SPACES)
def test_space_contract(name, one_thread):
    space = make_space(name, SMALL.get(name))
    assert space.datasets and space.description and space.default_target
    for arch in space.examples(2):
        assert space.parse(arch.spec or arch.key).key == arch.key  # canonical string round-trips
        dataset = space.datasets[0]
        spec = space.input_spec(dataset)
        model = space.build(arch, dataset)
        assert model.training, "build() must return a model in train mode"
        if spec.kind == "image":
            x = torch.randn(2, *spec.shape)
        else:
            x = torch.randint(0, spec.num_classes, (2, *spec.shape))
        with torch.no_grad():
            out = model(x)
        assert isinstance(out, torch.Tensor), "forward must return one logits tensor"
        expected = spec.target_shape if spec.task not in ("classification",) and spec.target_shape else ()
        if spec.task == "classification":
            assert out.shape == (2, spec.num_classes)
        elif spec.task == "language_model":
            assert out.shape[0] == 2 and out.shape[-1] == spec.num_classes
        else:
            assert out.shape[0] == 2 and (not expected or out.numel() > 0)
    with pytest.raises(NasproxError):
        space.check_dataset("no-such-dataset")
