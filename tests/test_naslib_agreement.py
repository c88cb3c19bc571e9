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

NB101 (``zc_nasbench101.json``, same batch and protocol): the 500 NASLib entries are unpruned specs of
292 distinct cells (module hash); the first entry of each is used. NASLib's model is nasbench_pytorch's
``Network`` built from the pruned spec (same skeleton, bias-free convs, BN in train mode, eps 1e-5), but
with its own init (conv N(0, 2/(k*k*C_out)), classifier N(0, 0.01)) where ours keeps PyTorch's default.
On one core a cell cost ~1.5 s + 4 s per GFLOP for the proxies scored here when each ran its own
backward (jacob_cov would add 1 s per GFLOP, grasp 5 s + 9 s per GFLOP), so the test takes NB101_CELLS = 32
cells, every k-th by hash among the 217 with NASLib flops <= 800 M (the smaller three quarters; the largest
cells reach 4.5 GFLOPs). As in the engine, fisher's backward now serves snip and grad_norm and the proxies of
a cell share one built network: 71 s for the 32 cells (was 170 s), 105 s for the 64 NB201 archs (was 246 s
with grasp), every score unchanged. Measured (development scripts, Spearman against
NASLib's first entry; "draws": init seed and/or batch changed; "self": ours against ours with init and
batch changed; "pool": 49 cells of all sizes, every 6th by hash; "repeats": NASLib against NASLib on
the 48 cells it stored more than once, see test_nb101_naslib_repeat_agreement):

    proxy      test cells (draws)    self       NASLib init  pool (draw 2)    repeats
    synflow    0.983 (0.983)         0.999      0.999        0.979 (0.980)    0.997
    snip       0.989 (0.987-0.989)   0.992      0.983        0.994 (0.993)    0.987
    grad_norm  0.966 (0.965-0.972)   0.990      0.955        0.965 (0.972)    0.964
    fisher     0.993 (0.990-0.992)   0.992      0.984        0.987 (0.989)    0.972
    flops      0.9997                1          1.000        1.000            0.9997
    l2_norm    0.920 (0.920-0.921)   0.995      0.997        0.870 (0.872)    0.993
    jacob_cov  0.32 (0.346-0.553)    0.25-0.29  0.385        0.535 (0.549)    0.483
    grasp      -                     -          -            0.534 (0.688)    0.488

Bounds: 0.95 for synflow, snip and fisher and 0.9 for grad_norm (each ~0.03 or more under its lowest
measurement, and under NASLib's own repeat agreement), 0.99 for flops (tensorwatch vs xautodl MAC counts
of the same convs), exact params. synflow's and l2_norm's residual gaps are the init convention (with
NASLib's init: 0.999 and 0.997); l2_norm is printed only. jacob_cov and grasp are not scored: NASLib does
not agree with itself on them (0.48 and 0.49 on its repeats), and neither do we (jacob_cov, whose values
all sit near -32.2 at batch 32: 0.25 with only the init draw changed, 0.29 with only the batch changed,
on the test cells; grasp: 0.78 on the pool). Batch 32, train-mode BN and CE loss already match NASLib, and
NASLib's init does not help (jacob_cov 0.385, grasp 0.62 on the pool), so no bound above ~0.5 could be
justified, and grasp alone would be two thirds of the runtime.
"""

from __future__ import annotations

import copy
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

pytestmark = pytest.mark.expensive  # collected first (tests/conftest.py)

NUM_ARCHS = 64  # some NASLib rows are -1e8 (NaN) for jacov; >= 60 finite remain
BATCH_SIZE = 32  # NASLib zero-cost configs (PROXY_SPEC §1.2)
# ours -> NASLib's key
ASSERTED = {
    "synflow": "synflow",
    "snip": "snip",
    "grad_norm": "grad_norm",
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


def score_against_naslib(space_name, space, entries, proxies, inputs, targets):
    """{proxy: (ours, theirs, seconds per arch)} for ``entries`` = [(arch, NASLib's values)]; arch i is built with
    seed i and scored on the one batch given. NASLib's key for ``proxies[name]`` is read from its values."""
    spec = space.input_spec("cifar10")
    loss_fn = space.loss_fn("cifar10")
    results = {name: ([], [], []) for name in proxies}
    # as the engine does: a proxy whose work serves the others' (fisher's backward: snip's and grad_norm's
    # gradients) runs first, and the proxies of one architecture share one memo and one seeded network
    order = sorted(proxies, key=lambda name: not PROXIES.get(name).scored_first)
    for i, (arch, values) in enumerate(entries):
        torch.manual_seed(i)
        network = space.build(arch, "cifar10")

        def build(network=network):
            return copy.deepcopy(network)

        memo: dict = {}
        for name in order:
            theirs_key = proxies[name]
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
                space=space_name,
                arch=arch,
                memo=memo,
            )
            start = time.process_time()
            try:
                ours = PROXIES.get(name).fn(ctx)
            except ProxyUndefined:
                ours = math.nan
            seconds = time.process_time() - start
            theirs = values[theirs_key]
            ours_list, theirs_list, times = results[name]
            times.append(seconds)
            if math.isfinite(ours) and theirs != NASLIB_NAN:  # NaNs are omitted from correlations (§1)
                ours_list.append(ours)
                theirs_list.append(theirs)
    return results


@pytest.fixture(scope="session")
def agreement():
    """{proxy: (ours, theirs, seconds per arch)} over a fixed subset of the NASLib sample."""
    suite = json.loads(shared_file("naslib_suite_zero/zc_nasbench201.json").read_text())["nasbench201"]["cifar10"]
    space = SPACES.get("nats-tss")()
    keys = sorted(suite)[:: max(1, len(suite) // NUM_ARCHS)][:NUM_ARCHS]
    inputs, targets = cifar_batch(BATCH_SIZE)
    # the space reads NASLib op tuples (edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4))
    entries = [(space.parse(key), suite[key]) for key in keys]
    return score_against_naslib("nats-tss", space, entries, {**ASSERTED, **REPORTED}, inputs, targets)


def test_enough_architectures(agreement):
    for name, (ours, _, _) in agreement.items():
        assert len(ours) >= 60, f"{name}: only {len(ours)} finite scores"


# Not scored here (scripts/grasp_sensitivity.py measures it, 64 archs, batch 32): grasp is at its own noise floor.
# Our grasp against itself with only the init draw changed: Spearman 0.47; only the batch changed: 0.53; against
# NASLib: 0.53 (0.77 with another init draw); snip under the same changes stays >= 0.98. NASLib stored one init draw
# and one batch per arch, so no implementation can reach 0.9 against it without NASLib's exact weights and images,
# and no bound above ~0.45 could be justified; at 1.7 s per arch it would be 60% of this comparison's time. The
# NB101 comparison below leaves it out for the same reason.
NOT_SCORED = {"grasp"}  # NASLib's keys


def test_every_naslib_proxy_is_compared_or_left_out_with_its_reason():
    """A proxy NASLib stored is asserted, reported, or named above with why not: none is skipped unnoticed."""
    suite = json.loads(shared_file("naslib_suite_zero/zc_nasbench201.json").read_text())["nasbench201"]["cifar10"]
    stored = set().union(*(values.keys() for values in suite.values())) - {"val_accuracy"}
    compared = set(ASSERTED.values()) | set(REPORTED.values())
    assert stored == compared | NOT_SCORED and not compared & NOT_SCORED


@pytest.mark.parametrize("name", sorted(ASSERTED))
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


def report(results, names):
    lines = []
    for name in sorted(names):
        ours, theirs, times = results[name]
        rho = spearmanr(ours, theirs).statistic if len(ours) > 2 else math.nan
        lines.append(f"{name:10s} spearman={rho:+.4f} n={len(ours)} cpu_s_per_arch={np.mean(times):.3f}")
    return "\n".join(lines)


def test_report_unasserted(agreement, capsys):
    with capsys.disabled():
        print("\nNASLib agreement (NB201 cifar10, batch 32):\n" + report(agreement, {**ASSERTED, **REPORTED}))
    for name in REPORTED:  # measured, not asserted; still each must give finite values for most archs
        assert len(agreement[name][0]) >= 60


# -- NAS-Bench-101 -------------------------------------------------------------------------------------------------

NB101_CELLS = 32
NB101_MAX_FLOPS = 800.0  # NASLib's MFLOPs: 217 of the 292 distinct cells (the largest cost up to 5x more)
# ours -> (NASLib's key, lowest accepted Spearman), from the measurements in the module docstring
NB101_ASSERTED = {
    "synflow": ("synflow", 0.95),
    "snip": ("snip", 0.95),
    "grad_norm": ("grad_norm", 0.9),
    "fisher": ("fisher", 0.95),
    "flops": ("flops", 0.99),
}
NB101_REPORTED = {"l2_norm": "l2_norm"}  # set by the init convention (see the module docstring): printed only
NB101_NOT_SCORED = {"jacov", "grasp"}  # NASLib's keys at the noise floor (see the module docstring)


def nb101_suite():
    return json.loads(shared_file("naslib_suite_zero/zc_nasbench101.json").read_text())["nasbench101"]["cifar10"]


def nb101_groups(suite):
    """{module hash: [(NASLib key, NASLib's values), ...]}: the unpruned NASLib specs of each pruned cell."""
    space = SPACES.get("nb101")()
    groups: dict = {}
    for key, values in suite.items():
        groups.setdefault(space.parse(key).key, []).append((key, values))
    return groups


@pytest.fixture(scope="session")
def agreement_nb101():
    """{proxy: (ours, theirs, seconds per cell)} over NB101_CELLS distinct cells of the smaller three quarters."""
    groups = nb101_groups(nb101_suite())
    assert len(groups) == 292
    small = sorted(h for h, group in groups.items() if group[0][1]["flops"] <= NB101_MAX_FLOPS)
    hashes = small[:: len(small) // NB101_CELLS][:NB101_CELLS]
    # the first entry of each cell, parsed alone: the space keeps the last spec parsed per module hash, and
    # isomorphic specs in another vertex order split the channels differently (3 Suite-Zero cells; params differ)
    space = SPACES.get("nb101")()
    entries = [(space.parse(key), values) for key, values in (groups[h][0] for h in hashes)]
    inputs, targets = cifar_batch(BATCH_SIZE)
    proxies = {name: key for name, (key, _) in NB101_ASSERTED.items()} | {"params": "params"} | NB101_REPORTED
    return score_against_naslib("nb101", space, entries, proxies, inputs, targets)


@pytest.mark.parametrize("name", sorted(NB101_ASSERTED))
def test_nb101_rank_agreement_with_naslib(agreement_nb101, name):
    ours, theirs, _ = agreement_nb101[name]
    assert len(ours) == NB101_CELLS, f"{name}: only {len(ours)} finite scores"
    rho = spearmanr(ours, theirs).statistic
    print(f"nb101 {name}: spearman {rho:.4f} on {len(ours)} cells")
    assert rho >= NB101_ASSERTED[name][1], f"nb101 {name}: Spearman {rho:.3f} against NASLib"


def test_nb101_params_equal_naslib(agreement_nb101):
    ours, theirs, _ = agreement_nb101["params"]
    assert len(ours) == NB101_CELLS
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=5e-7)  # NASLib stores millions to 6 decimals


def test_nb101_naslib_repeat_agreement(capsys):
    """NASLib against itself: the 48 cells stored more than once (first vs second entry; other init and batch).
    No bound of ours may exceed what NASLib's own repeats reach; data only, nothing is scored."""
    pairs = [(group[0][1], group[1][1]) for group in nb101_groups(nb101_suite()).values() if len(group) > 1]
    assert len(pairs) == 48
    lines, floor = [], {}
    for key in sorted({key for key, _ in NB101_ASSERTED.values()} | set(NB101_REPORTED.values()) | NB101_NOT_SCORED):
        kept = [(a[key], b[key]) for a, b in pairs if NASLIB_NAN not in (a[key], b[key])]
        floor[key] = spearmanr(*zip(*kept)).statistic
        lines.append(f"{key:10s} spearman={floor[key]:+.4f} n={len(kept)}")
    with capsys.disabled():
        print("\nNASLib vs NASLib, repeated NB101 cells:\n" + "\n".join(lines))
    for key, bound in NB101_ASSERTED.values():
        assert floor[key] >= bound, key


def test_nb101_report_unasserted(agreement_nb101, capsys):
    title = f"NB101 cifar10, batch {BATCH_SIZE}, {NB101_CELLS} cells <= {NB101_MAX_FLOPS:g} MFLOPs"
    lines = report(agreement_nb101, set(NB101_ASSERTED) | {"params"} | set(NB101_REPORTED))
    with capsys.disabled():
        print(f"\nNASLib agreement ({title}):\n{lines}")
    for name in NB101_REPORTED:  # measured, not asserted; still finite for every cell
        assert len(agreement_nb101[name][0]) == NB101_CELLS
