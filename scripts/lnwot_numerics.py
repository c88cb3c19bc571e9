#!/usr/bin/env python
"""Lnwot's singular kernels: how much its correlation depends on the LAPACK behind slogdet (docs/reproduction.md item 11).

Lnwot sums, over the outputs of every Conv/Linear layer, log|det K| of the batch's binary-code kernel, with
0 for a singular K (PROXY_SPEC §4.2; the third-party reference calls ``np.linalg.slogdet`` on a float32 K
and tests ``sign == 0``). Exactly singular kernels are common at initialisation, the classifier's above all
(64 samples, 10-120 logits), and whether LU then meets an exact zero pivot (-> 0) or a round-off pivot
(-> a log of ~1e-13, hundreds below zero once summed) depends on the library and the precision. For the
cells of committed ``lnwot`` rows this rebuilds each network as the engine does, takes the same batch,
builds every layer's K exactly (float64 integer counts), and sums log|det K| five ways:

  numpy float64   what nasprox's lnwot computes (checked: equals the committed score)
  numpy float32   the reference code path (float32 K handed to numpy)
  torch float64 / torch float32   torch.linalg.slogdet
  exact rank      0 unless K has full rank (matrix_rank), the definition taken literally

and prints Kendall's tau against test accuracy for each, with and without the output layer, beside the
paper's value.

  python scripts/lnwot_numerics.py results/reproduction/nats-sss_*.csv --max-archs 200 \\
      --data-root cifar10=../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --data-root cifar100=../shared/data/inputs/cifar100_test_916.npz \\
      --data-root ImageNet16-120=../shared/data/inputs/imagenet16_120_val_1perclass.npz \\
      --ground-truth nats-sss=../shared/data/nats_sss/sss_test_acc_90ep.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasprox.core import PROXIES, NasproxError, parse_key_values
from nasprox.engine import RunConfig, Scorer
from nasprox.proxies._common import forward_hooks, logits_of
from nasprox.proxies.lnwot import KERNEL_LAYER_TYPES
from nasprox.report.published import load_published
from nasprox.stats import kendall_tau, target_values
from nasprox.stats.results import pivot_results, read_results

READINGS = ("numpy float64", "numpy float32", "torch float64", "torch float32", "exact rank")


def logdet_readings(kernel: np.ndarray) -> dict[str, float]:
    """log|det K| of one exact kernel, 0 where the reading finds it singular, in each of READINGS."""

    def zero_if_singular(sign, logabsdet) -> float:
        return 0.0 if float(sign) == 0 else float(logabsdet)

    single = kernel.astype(np.float32)
    out = {
        "numpy float64": zero_if_singular(*np.linalg.slogdet(kernel)),
        "numpy float32": zero_if_singular(*np.linalg.slogdet(single)),
        "torch float64": zero_if_singular(*torch.linalg.slogdet(torch.from_numpy(kernel))),
        "torch float32": zero_if_singular(*torch.linalg.slogdet(torch.from_numpy(single))),
    }
    out["exact rank"] = out["numpy float64"] if np.linalg.matrix_rank(kernel) == len(kernel) else 0.0
    return out


def layer_readings(model: nn.Module, inputs: torch.Tensor) -> list[tuple[bool, dict[str, float]]]:
    """(is the output layer, readings) for each hooked call, in the order lnwot hooks them (eval, no_grad)."""
    layers = [m for m in model.modules() if isinstance(m, KERNEL_LAYER_TYPES)]
    out: list[tuple[bool, dict[str, float]]] = []

    def on_forward(module, _inputs, output):
        codes = (logits_of(output).detach().reshape(len(inputs), -1) > 0).double().cpu().numpy()
        kernel = codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T
        out.append((module is layers[-1], logdet_readings(kernel)))

    model.eval()
    with forward_hooks(layers, on_forward), torch.no_grad():
        model(inputs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="result CSVs with committed lnwot rows")
    ap.add_argument("--data-root", action="append", default=[], help="DATASET=PATH")
    ap.add_argument("--ground-truth", action="append", default=[], help="SPACE=CSV")
    ap.add_argument("--max-archs", type=int, default=200, help="the lowest-indexed N scored cells per dataset")
    args = ap.parse_args()
    try:
        roots = parse_key_values(args.data_root, "--data-root", form="DATASET=PATH")
        truths = parse_key_values(args.ground_truth, "--ground-truth", form="SPACE=CSV")
    except NasproxError as err:
        ap.error(str(err))
    published = {(e.space, e.dataset): e.value for e in load_published() if e.paper == "t-cet" and e.proxy == "lnwot"}
    torch.set_num_threads(1)
    long = read_results(args.results)
    long = long[long["proxy"] == "lnwot"]
    for space, dataset, rows, _ in pivot_results(long).groups():
        rows = rows[rows["lnwot"].notna()].sort_values("arch_index").head(args.max_archs)
        config = RunConfig(
            space=space,
            dataset=dataset,
            proxies=["lnwot"],
            data_root=roots.get(dataset),
            synthetic=dataset not in roots,
            ground_truth=truths.get(space),
            # the batch the committed rows were scored at
            batch_size=int(long.loc[long["dataset"] == dataset, "batch_size"].mode().iloc[0]),
        )
        scorer = Scorer(config)
        batch = scorer.batch_size_for(PROXIES.get("lnwot"))
        sums = {f"{r}{part}": [] for r in READINGS for part in ("", " (no output layer)")}
        singular_output = 0
        for key, score in zip(rows["arch"], rows["lnwot"], strict=True):
            arch = scorer.space.parse(str(key))
            model = scorer.build_on_device(arch)
            inputs, _ = scorer.cached_stream(batch).next()  # every architecture's first batch, as the engine's
            layers = layer_readings(model, inputs)
            mine = sum(r["numpy float64"] for _, r in layers)
            if not np.isclose(mine, score, rtol=1e-9, atol=1e-6):
                raise SystemExit(f"{space}/{dataset} {key}: rebuilt lnwot {mine} != committed {score}")
            singular_output += any(last and r["exact rank"] == 0.0 for last, r in layers)
            for reading in READINGS:
                sums[reading].append(sum(r[reading] for _, r in layers))
                sums[f"{reading} (no output layer)"].append(sum(r[reading] for last, r in layers if not last))
        truth = target_values(rows, space, "test_acc")
        paper = published.get((space, dataset))
        print(
            f"\n{space} / {dataset}: {len(rows)} cells, batch {batch}; the output layer's K is singular in "
            f"{singular_output}; T-CET prints {paper if paper is not None else '-'}; rebuilt scores equal the committed"
        )
        print("| slogdet | Kendall tau (all layers) | tau without the output layer |")
        print("|---|---|---|")
        for reading in READINGS:
            taus = [
                kendall_tau(np.asarray(sums[k], dtype=float), truth) for k in (reading, f"{reading} (no output layer)")
            ]
            print(f"| {reading} | {taus[0]:.3f} | {taus[1]:.3f} |")


if __name__ == "__main__":
    main()
