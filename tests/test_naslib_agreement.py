"""Our gradient proxies against NASLib's own stored NB201/CIFAR-10 values (NAS-Bench-Suite-Zero).

NASLib scored each architecture with its own NB201 model, its own init and one batch of 32 of its
own augmented training images (PROXY_SPEC §1.2); we use the nats-tss space, PyTorch default init and
32 real CIFAR-10 images, augmented like NASLib's training batch (crop + flip, PROXY_SPEC §1.3).
Per-architecture values therefore differ, but the *ranking* across architectures must agree:
Spearman >= 0.9 on a fixed subset. params must equal NASLib's. NASLib's flops are tensorwatch
counts (pooling, BN, ... included; §8.2 "do not mix conventions"), so flops is checked by rank
against NASLib and *exactly* against the real NATS-Bench records (xautodl convention) of archs
0, 11 and 284. epe_nas and plain are measured and printed, not asserted.

jacob_cov sits at the noise floor of this comparison: our own score on two different batches
ranks the same 63 archs with Spearman 0.97 only, and against NASLib we measured 0.900 (plain batch,
seed 0), 0.909 (seed 1) and 0.915 (augmented, as NASLib) on a development NB201 model.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch
from conftest import shared_file
from scipy.stats import spearmanr

from nasprox.core import PROXIES, SPACES, ProxyContext, ProxyUndefined
from nasprox.data import image_batches

NUM_ARCHS = 64  # some NASLib rows are -1e8 (NaN) for jacov; >= 60 finite remain
BATCH_SIZE = 32  # NASLib zero-cost configs (PROXY_SPEC §1.2)
# ours -> NASLib's key
ASSERTED = {
    "synflow": "synflow",
    "snip": "snip",
    "grad_norm": "grad_norm",
    "grasp": "grasp",
    "fisher": "fisher",
    "jacob_cov": "jacov",
    "l2_norm": "l2_norm",
    "params": "params",
    "flops": "flops",
}
REPORTED = {"epe_nas": "epe_nas", "plain": "plain"}
NASLIB_NAN = -1e8  # NASLib's replacement for NaN/inf scores (§1.10)


def cifar_batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented batch of real CIFAR-10 images from the package's data layer (no fallback: a broken
    loader must fail this test, not be replaced by a loader of the test's own)."""
    npz = shared_file("inputs/cifar10_test_1000_from_jpg.npz")
    inputs, targets = image_batches("cifar10", size, 0, data_root=npz, augment=True).next()
    assert inputs.shape == (size, 3, 32, 32) and targets.shape == (size,)
    return inputs, targets


@pytest.fixture(scope="session")
def agreement():
    """{proxy: (ours, theirs, seconds per arch)} over a fixed subset of the NASLib sample."""
    suite = json.loads(shared_file("naslib_suite_zero/zc_nasbench201.json").read_text())["nasbench201"]["cifar10"]
    space = SPACES.get("nats-tss")()
    keys = sorted(suite)[:: max(1, len(suite) // NUM_ARCHS)][:NUM_ARCHS]
    inputs, targets = cifar_batch(BATCH_SIZE)
    spec = space.input_spec("cifar10")
    loss_fn = space.loss_fn("cifar10")
    results = {name: ([], [], []) for name in {**ASSERTED, **REPORTED}}
    for i, key in enumerate(keys):
        arch = space.parse(key)  # the space reads NASLib op tuples (edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4))

        def build(seed=i, arch=arch):
            torch.manual_seed(seed)
            return space.build(arch, "cifar10")

        for name, theirs_key in {**ASSERTED, **REPORTED}.items():
            ctx = ProxyContext(
                model=build(),
                build_model=build,
                inputs=inputs,
                targets=targets,
                input_spec=spec,
                loss_fn=loss_fn,
                next_batch=lambda: (inputs, targets),
                device=torch.device("cpu"),
                seed=i,
                space="nats-tss",
                arch=arch,
            )
            start = time.process_time()
            try:
                ours = PROXIES.get(name).fn(ctx)
            except ProxyUndefined:
                ours = math.nan
            seconds = time.process_time() - start
            theirs = suite[key][theirs_key]
            ours_list, theirs_list, times = results[name]
            times.append(seconds)
            if math.isfinite(ours) and theirs != NASLIB_NAN:  # NaNs are omitted from correlations (§1)
                ours_list.append(ours)
                theirs_list.append(theirs)
    return results


def test_enough_architectures(agreement):
    for name, (ours, _, _) in agreement.items():
        assert len(ours) >= 60, f"{name}: only {len(ours)} finite scores"


KNOWN_GAP = {
    # Found (scripts/grasp_sensitivity.py, 64 archs, batch 32): grasp is at its own noise floor here.
    # Our grasp against itself with only the init draw changed: Spearman 0.47; only the batch
    # changed: 0.53; against NASLib: 0.53 (0.77 with another init draw). snip under the same
    # changes stays >= 0.98. NASLib stored one init draw and one batch per arch, so no
    # implementation can reach 0.9 against it without NASLib's exact weights and images.
    "grasp": "grasp's init-to-init self-agreement is 0.47 on NB201 at batch 32 (noise floor, see issue note)",
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_GAP[n], strict=False)) if n in KNOWN_GAP else n
        for n in sorted(ASSERTED)
    ],
)
def test_rank_agreement_with_naslib(agreement, name):
    ours, theirs, _ = agreement[name]
    rho = spearmanr(ours, theirs).statistic
    print(f"{name}: spearman {rho:.4f} on {len(ours)} archs")
    assert rho >= 0.9, f"{name}: Spearman {rho:.3f} against NASLib"


def test_params_equal_naslib(agreement):
    ours, theirs, _ = agreement["params"]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-7)  # NASLib stores 6 decimals


def test_flops_params_equal_nats_records():
    """Real NATS-Bench v1.0 records (cifar10, hp 200) of archs 0, 11, 284: xautodl params/flop."""
    import bz2
    import pickle

    folder = shared_file("nats_format_samples/NATS-tss-v1_0-3ffb9-simple")
    space = SPACES.get("nats-tss")()
    x, y = torch.rand(2, 3, 32, 32), torch.zeros(2, dtype=torch.long)
    for index in (0, 11, 284):
        with bz2.open(folder / f"{index:06d}.pickle.pbz2") as fh:
            record = pickle.load(fh)["200"]
        info = next(v for k, v in record["all_results"].items() if k[0] == "cifar10")
        arch = space.parse(record["arch_str"])
        for name, expected in (("params", info["params"]), ("flops", info["flop"])):
            ctx = ProxyContext(
                model=space.build(arch, "cifar10"),
                build_model=lambda arch=arch: space.build(arch, "cifar10"),
                inputs=x,
                targets=y,
                input_spec=space.input_spec("cifar10"),
                loss_fn=None,
                next_batch=None,
                device=torch.device("cpu"),
                seed=0,
            )
            assert PROXIES.get(name).fn(ctx) == pytest.approx(float(expected), abs=5e-6), (index, name)


def test_report_unasserted(agreement, capsys):
    lines = []
    for name in sorted({**ASSERTED, **REPORTED}):
        ours, theirs, times = agreement[name]
        rho = spearmanr(ours, theirs).statistic if len(ours) > 2 else math.nan
        lines.append(f"{name:10s} spearman={rho:+.4f} n={len(ours)} cpu_s_per_arch={np.mean(times):.3f}")
    with capsys.disabled():
        print("\nNASLib agreement (NB201 cifar10, batch 32):\n" + "\n".join(lines))
    for name in REPORTED:  # measured, not asserted; still each must give finite values for most archs
        assert len(agreement[name][0]) >= 60
