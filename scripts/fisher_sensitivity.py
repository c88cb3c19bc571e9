#!/usr/bin/env python
"""Why does Abdelfattah et al. 2021 report fisher rho 0.36 on NB201 CIFAR-10 when we measure ~0.56?

The epsilon paper's Table 1 copies fisher (Spearman 0.36) from Abdelfattah et al. 2021
(SamsungLabs/zero-cost-nas, notebooks/nasbench201_correlations.ipynb, Table 1 cell). Their other NB201
proxies (grad_norm, snip, grasp, synflow, jacob_cov) agree with ours and with NASLib's stored values;
fisher alone is ~0.2 lower. This script rescores the first N fisher cells of a committed NATS-TSS result
CSV under one reference difference at a time and prints Spearman/Kendall against gt_test_acc and the
ratio to our own fisher on the same cells. What the reference does, read from its code:

  SamsungLabs/zero-cost-nas:foresight/pruners/measures/fisher.py
      registered with bn=True, mode='channel'; net.train(); each Conv2d/Linear forward is replaced by
      F.conv2d/F.linear followed by an nn.Identity ``dummy`` whose old-style register_backward_hook sits
      on the conv/linear output's grad_fn, so grad_output[0] is dL/dz and layer.act is z itself (not a
      copy); per channel 0.5 * mean_n (sum_spatial z * dL/dz)^2, abs, broadcast to weight.shape[1:]
      (i.e. times fan-in), unreached layers are zeros.
  SamsungLabs/zero-cost-nas:foresight/pruners/{predictive.py,p_utils.py}
      every Conv2d/Linear in net.modules() (classifier included), sum_arr sums all elements; the batch is
      the first batch of a fresh iterator over the *shuffled, augmented* training loader, per call.
  SamsungLabs/zero-cost-nas:nasbench2_pred.py
      batch 64, torch seed 42 once, then one find_measures call per architecture, so every architecture
      gets a different random augmented batch (foresight/dataset.py: RandomCrop(32, 4) + flip); target:
      NB201 v1.0 get_more_info('cifar10-valid', hp='200')['test-accuracy'].
  SamsungLabs/zero-cost-nas:foresight/models/nasbench2{,_ops}.py
      NAS201Model: the cells are built with affine=False, track_running_stats=False, and ReLUConvBN uses
      Conv2d(bias=not affine), so every cell conv (nor_conv_3x3/1x1) has a bias; xautodl's TinyNetwork
      (ours) and NASLib (automl/NASLib:naslib/search_spaces/nasbench201/graph.py, ReLUConvBN bias=False)
      have none. Stem, reduction blocks and head are as in xautodl.

Variants (one model/batch/mode pass each; those marked * are derived from the baseline pass):
  base         our fisher re-done here (checked against the CSV scores and the registered proxy)
  no_clone*    z kept as the live output tensor (the reference's layer.act), not a copy
  no_cls*      classifier Linear left out of the sum
  no_fanin*    per-channel values summed without the fan-in weight
  param_mean*  network sum divided by the number of weights (averaging instead of summing)
  eval         BatchNorm in eval mode (running statistics)
  nobn         BatchNorm removed (identity)
  bias         the reference NB201 model: a PyTorch-default-initialised bias on every cell conv
  arch_batch   a different augmented batch per architecture (the reference's data pipeline)
  samsung      bias + arch_batch: the reference's model and data together
  aug          one fixed augmented batch for all architectures
  b32, b128    fixed batch of 32 / 128
  init         another weight-init draw (run seed 1): the init noise floor

Found (first 300 cells of results/reproduction/nats-tss_cifar10.csv, batch 64, vs gt_test_acc): base
rho 0.563 / tau 0.417; bias 0.383 / 0.289; samsung 0.373 / 0.278 (0.344 / 0.255 vs NASLib val), i.e.
the paper's 0.36 / 0.26. Batch, augmentation, batch size, init draw, z copy vs live and the classifier
move rho by < 0.015. The cause is the cell-conv bias: train-mode BN makes dL/dz zero-mean per channel
over the batch but not per sample, so sum_spatial z * dL/dz gains b * sum_spatial dL/dz, a term set by
the random bias b that BN removes from the network's function. eval / nobn give rho -0.399 (the
reference's notebook reports |rho|, but fisher runs in train mode with BN, so this is not its number).

  OMP_NUM_THREADS=1 python scripts/fisher_sensitivity.py --archs 300   # ~30 min CPU, one core
  OMP_NUM_THREADS=1 python scripts/fisher_sensitivity.py --dataset cifar100 --archs 500 --passes base,samsung \
      --bootstrap 1000 --scores-out fisher_c100.csv   # the other datasets, with CIs (docs item 4)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau, spearmanr
from torch import nn

from nasprox.core import PROXIES, SPACES, ProxyContext
from nasprox.data import image_batches
from nasprox.engine.seeding import derive_seed, seed_everything
from nasprox.proxies._common import remove_bn, weight_layers
from nasprox.spaces.nats._nb201_codec import naslib_to_arch_string
from nasprox.spaces.nats._nb201_ops import InferCell, ReLUConvBN
from nasprox.stats import kendall_tau, spearman_rho
from nasprox.stats.bootstrap import bootstrap_ci
from nasprox.stats.ranking import top_overlap

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NASPROX_SHARED_DATA", ROOT.parent / "shared" / "data"))
INPUTS = {
    "cifar10": SHARED / "inputs" / "cifar10_test_1000_from_jpg.npz",
    "cifar100": SHARED / "inputs" / "cifar100_test_916.npz",
    "ImageNet16-120": SHARED / "inputs" / "imagenet16_120_val_1perclass.npz",
}
PASSES = ["base", "bias", "arch_batch", "samsung", "init", "eval", "nobn", "aug", "b32", "b128"]


def naslib_val_accuracy(dataset: str) -> dict[str, float]:
    """NB201 arch string -> NASLib's val_accuracy on `dataset` (for cifar10 the 'cifar10-valid' split, as
    in scripts/target_sensitivity.py); empty when the archive is absent."""
    path = SHARED / "nb201" / "nb201_valacc_zen_naslib.zip"
    out: dict[str, float] = {}
    if not path.is_file():
        return out
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if f"--{dataset}--" in name and name.endswith(".json"):
                for item in json.loads(z.read(name) or b"[]"):
                    arch = tuple(int(v) for v in str(item["arch"]).strip("()").split(","))
                    out[naslib_to_arch_string(arch)] = float(item["val_accuracy"])
    return out


def batch(dataset: str, spec, size: int, seed: int, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The engine's batch (Scorer.stream) for the network's input ``spec``: its shape (16x16 for
    ImageNet16-120), norm and classes."""
    return image_batches(
        dataset,
        size,
        seed,
        shape=spec.shape,
        data_root=INPUTS[dataset],
        augment=augment,
        num_classes=spec.num_classes,
        norm=spec.norm,
    ).next()


def add_cell_conv_bias(model: nn.Module, seed: int) -> nn.Module:
    """Give every cell ReLUConvBN conv a bias (PyTorch default init) and a non-affine, stat-free BN,
    as the reference's NAS201Model cells (affine=False -> Conv2d(bias=True)). Weights are kept."""
    gen = torch.Generator().manual_seed(seed)
    for cell in model.modules():
        if not isinstance(cell, InferCell):
            continue
        for op in cell.layers:
            if not isinstance(op, ReLUConvBN):
                continue
            conv = op.op[1]
            new = nn.Conv2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation
            )
            with torch.no_grad():
                new.weight.copy_(conv.weight)
                bound = 1.0 / math.sqrt(conv.weight[0].numel())
                new.bias.uniform_(-bound, bound, generator=gen)
            op.op[1] = new
            op.op[2] = nn.BatchNorm2d(conv.out_channels, affine=False, track_running_stats=False)
    return model


def channel_products(layer: nn.Module, act: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    prod = act * grad
    if isinstance(layer, nn.Linear):
        prod = prod.movedim(-1, 1)
    return prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod


def layer_fishers(model: nn.Module, x, y, loss_fn, train: bool = True) -> list[dict]:
    """Per Conv2d/Linear: summed per-channel fisher (z copied, and z live), fan-in, #weights, kind."""
    model.train(train)
    layers = weight_layers(model)
    acc: dict[nn.Module, list[torch.Tensor]] = {}
    live: dict[nn.Module, torch.Tensor] = {}  # the output tensors themselves, dropped after backward

    def on_forward(layer, _inputs, out):
        if not out.requires_grad:
            return
        copy = out.detach().clone()
        live[layer] = out  # a closure holding `out` itself would make an uncollectable tensor-hook cycle

        def on_grad(grad, layer=layer, copy=copy):
            acts = (copy, live[layer].detach())
            vals = [channel_products(layer, a, grad.detach()).pow(2).mean(0).mul(0.5) for a in acts]
            acc[layer] = [p + v for p, v in zip(acc[layer], vals)] if layer in acc else vals

        out.register_hook(on_grad)

    handles = [m.register_forward_hook(on_forward) for m in layers]
    try:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
    finally:
        for h in handles:
            h.remove()
        live.clear()
    names = {m: n for n, m in model.named_modules()}
    out = []
    for layer in layers:
        vals = acc.get(layer)
        name = names[layer]
        kind = "cls" if isinstance(layer, nn.Linear) else "stem" if name.startswith("stem") else "conv"
        out.append(
            {
                "fisher": 0.0 if vals is None else float(vals[0].abs().double().sum()),
                "fisher_live": 0.0 if vals is None else float(vals[1].abs().double().sum()),
                "fan_in": layer.weight[0].numel(),
                "numel": layer.weight.numel(),
                "kind": kind,
            }
        )
    return out


def total(rows: list[dict], key="fisher", fan_in=True, classifier=True) -> float:
    return sum(r[key] * (r["fan_in"] if fan_in else 1) for r in rows if classifier or r["kind"] != "cls")


def foresight_style(model: nn.Module, x, y, loss_fn) -> float:
    """The reference's mechanism (forward replaced, Identity 'dummy' with an old-style backward hook,
    z not copied), written anew, for a mechanism check on our model."""
    model.train()
    store: dict[nn.Module, torch.Tensor] = {}
    fisher: dict[nn.Module, torch.Tensor] = {}
    layers = weight_layers(model)
    for layer in layers:
        dummy = nn.Identity()

        def fwd(inp, layer=layer, dummy=dummy):
            if isinstance(layer, nn.Conv2d):
                z = F.conv2d(inp, layer.weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
            else:
                z = F.linear(inp, layer.weight, layer.bias)
            store[layer] = dummy(z)
            return store[layer]

        def hook(_module, _grad_in, grad_out, layer=layer):
            prod = store[layer].detach() * grad_out[0].detach()
            g = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            fisher[layer] = fisher.get(layer, 0) + g.pow(2).mean(0).mul(0.5)

        layer.forward = fwd
        dummy.register_backward_hook(hook)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.zero_grad()
        loss_fn(model(x), y).backward()
    return sum(float(fisher[m].abs().double().sum()) * m.weight[0].numel() for m in layers if m in fisher)


def correlations(scores, target) -> tuple[float, float]:
    s, t = np.asarray(scores, float), np.asarray(target, float)
    ok = np.isfinite(s) & np.isfinite(t)
    return float(spearmanr(s[ok], t[ok]).statistic), float(kendalltau(s[ok], t[ok]).statistic)


def top10_top10(scores, target) -> float:
    """epsilon Table 1's top-10%/top-10% column, as the report computes it."""
    return top_overlap(np.asarray(scores, float), np.asarray(target, float), 0.10)


STATISTICS = {"rho": spearman_rho, "tau": kendall_tau, "top10": top10_top10}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=300, help="first N fisher rows of the CSV (default 300)")
    ap.add_argument("--dataset", choices=sorted(INPUTS), default="cifar10", help="NATS-TSS dataset (default cifar10)")
    ap.add_argument("--csv", type=Path, help="result CSV (default results/reproduction/nats-tss_<dataset>.csv)")
    ap.add_argument("--passes", default=",".join(PASSES), help=f"comma list of {PASSES}")
    ap.add_argument("--check", type=int, default=5, help="archs checked against the proxy and the reference mechanism")
    ap.add_argument("--bootstrap", type=int, default=0, help="resamples of 95%% CIs of rho/tau/top10 (0: none)")
    ap.add_argument("--scores-out", type=Path, help="write every variant's score per arch to this CSV")
    args = ap.parse_args()
    dataset = args.dataset
    csv = args.csv or ROOT / "results" / "reproduction" / f"nats-tss_{dataset}.csv"
    passes = args.passes.split(",")
    if unknown := set(passes) - set(PASSES):
        ap.error(f"unknown passes {sorted(unknown)}")
    rows = pd.read_csv(csv, low_memory=False)
    rows = rows[(rows["proxy"] == "fisher") & (rows["status"] == "ok")].head(args.archs)
    batch_size = int(rows["batch_size"].iloc[0])
    run_seed = int(rows["seed"].iloc[0])
    space = SPACES.get("nats-tss")()
    loss_fn = space.loss_fn(dataset)
    spec = space.input_spec(dataset)
    fixed = {bs: batch(dataset, spec, bs, run_seed, False) for bs in {batch_size, 32, 128}}
    fixed_aug = batch(dataset, spec, batch_size, run_seed, True)

    def build(arch, seed=run_seed):
        seed_everything(derive_seed(seed, space.name, arch.key))  # the engine's per-arch seeding
        return space.build(arch, dataset)

    def setting(name, i, arch):
        """(model, x, y, train) for one pass on architecture i."""
        model = build(arch, run_seed + 1 if name == "init" else run_seed)
        x, y = fixed[batch_size]
        if name in ("bias", "samsung"):
            add_cell_conv_bias(model, derive_seed("bias", arch.key))
        if name in ("arch_batch", "samsung"):
            x, y = batch(dataset, spec, batch_size, 1000 + i, True)
        x, y = {"aug": fixed_aug, "b32": fixed[32], "b128": fixed[128]}.get(name, (x, y))
        if name == "nobn":
            remove_bn(model)
        return model, x, y, name != "eval"

    archs = [space.parse(a) for a in rows["arch"]]
    target = rows["gt_test_acc"].to_numpy(float)
    val_acc = naslib_val_accuracy(dataset)
    valid = np.array([val_acc.get(a, np.nan) for a in rows["arch"]])

    # mechanism check: our re-implementation == CSV score == registered proxy == reference mechanism
    worst = {"csv": 0.0, "proxy": 0.0, "reference mechanism": 0.0}
    for arch, stored in zip(archs[: args.check], rows["score"][: args.check]):
        x, y = fixed[batch_size]
        ours = total(layer_fishers(build(arch), x, y, loss_fn))
        ctx = ProxyContext(
            model=build(arch),
            build_model=None,
            inputs=x,
            targets=y,
            input_spec=spec,
            loss_fn=loss_fn,
            next_batch=None,
            device=torch.device("cpu"),
            seed=run_seed,
            space=space.name,
            arch=arch,
        )
        for key, other in (
            ("csv", float(stored)),
            ("proxy", float(PROXIES.get("fisher").fn(ctx))),
            ("reference mechanism", foresight_style(build(arch), x, y, loss_fn)),
        ):
            worst[key] = max(worst[key], abs(ours - other) / abs(other))
    if args.check:
        print(
            f"check on {args.check} archs, max relative difference of base to: "
            + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
        )

    results: dict[str, list[float]] = {}
    shares = np.zeros(3)
    for name in passes:
        start = time.process_time()
        scores = []
        for i, arch in enumerate(archs):
            model, x, y, train = setting(name, i, arch)
            per_layer = layer_fishers(model, x, y, loss_fn, train)
            scores.append(total(per_layer))
            if name == "base":
                derived = {
                    "no_clone": total(per_layer, key="fisher_live"),
                    "no_cls": total(per_layer, classifier=False),
                    "no_fanin": total(per_layer, fan_in=False),
                    "param_mean": total(per_layer) / sum(r["numel"] for r in per_layer),
                }
                for k, v in derived.items():
                    results.setdefault(k, []).append(v)
                parts = [
                    sum(r["fisher"] * r["fan_in"] for r in per_layer if r["kind"] == k) for k in ("stem", "conv", "cls")
                ]
                shares += np.asarray(parts) / max(sum(parts), 1e-300)
        results[name] = scores
        print(f"# {name}: {time.process_time() - start:.0f} s CPU for {len(archs)} archs", flush=True)
    if "base" in results:
        share = shares / len(archs)
        print(
            f"# base: mean share of the sum: stem {share[0]:.3f}, other convs {share[1]:.3f}, classifier {share[2]:.3f}"
        )

    base_rho = correlations(results["base"], target)[0] if "base" in results else math.nan
    print(f"\nfisher variants on the first {len(archs)} NATS-TSS {dataset} cells of {csv.name}, vs gt_test_acc")
    print(f"rho/base: ratio to our fisher; rho vs base: rank agreement with it; val: NASLib {dataset} val_accuracy;")
    print("top10: top-10%/top-10% (epsilon Table 1)")
    print(
        f"{'variant':<11} {'rho':>6} {'tau':>6} {'top10':>6} {'rho/base':>8} {'rho vs base':>11} "
        f"{'rho val':>7} {'tau val':>7} {'top10 val':>9}"
    )
    for name, scores in results.items():
        rho, tau = correlations(scores, target)
        agree = correlations(scores, results["base"])[0] if "base" in results else math.nan
        has_val = np.isfinite(valid).sum() > 2
        rho_v, tau_v = correlations(scores, valid) if has_val else (math.nan, math.nan)
        top_v = top10_top10(scores, valid) if has_val else math.nan
        print(
            f"{name:<11} {rho:>6.3f} {tau:>6.3f} {top10_top10(scores, target):>6.3f} {rho / base_rho:>8.3f} "
            f"{agree:>11.3f} {rho_v:>7.3f} {tau_v:>7.3f} {top_v:>9.3f}"
        )
    if args.scores_out:
        pd.DataFrame(
            {"arch": rows["arch"].to_numpy(), "gt_test_acc": target, "naslib_val_acc": valid, **results}
        ).to_csv(args.scores_out, index=False)
        print(f"wrote {args.scores_out}")
    if args.bootstrap:
        print(f"\n95% bootstrap CIs ({args.bootstrap} resamples, seed 0) against gt_test_acc / NASLib val_accuracy")
        for name, scores in results.items():
            cells = []
            for label, truth in (("test", target), ("val", valid)):
                if np.isfinite(truth).sum() <= 2:
                    continue
                for metric, fn in STATISTICS.items():
                    lo, hi = bootstrap_ci(fn, np.asarray(scores, float), truth, n_resamples=args.bootstrap)
                    cells.append(f"{metric} {label} [{lo:.3f}, {hi:.3f}]")
            print(f"{name:<11} " + ", ".join(cells))


if __name__ == "__main__":
    main()
