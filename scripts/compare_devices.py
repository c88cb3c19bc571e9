#!/usr/bin/env python
"""Scores of the same architectures on two devices (default: CPU vs CUDA): do they agree?

Both sides use the engine (``Scorer``) with one config except the device (and optional extra
proxy options for side b, e.g. ``near.batched=on`` for a CPU-only dry run). CUDA runs with TF32
off (the default), so the two sides differ by float32 round-off of other kernels only. Prints,
per proxy, the largest relative difference and the Spearman correlation, and exits 1 when a
proxy exceeds its tolerance (NEAR: 1e-4 relative; others: Spearman >= 0.999, since gradient
proxies through train-mode BatchNorm amplify round-off, docs/performance.md).

  python scripts/compare_devices.py --archs 20 --b cuda --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from scipy import stats

from nasprox.core import PROXIES
from nasprox.engine import RunConfig, Scorer, parse_proxy_options, select_archs

NEAR_REL = 1e-4


def run_side(args, device: str, extra: list[str], archs=None):
    proxies = PROXIES.select(args.proxies)
    options = parse_proxy_options([f"near.repetitions={args.near_repetitions}", *extra], proxies)
    config = RunConfig(
        space=args.space,
        dataset=args.dataset,
        proxies=proxies,
        seed=args.seed,
        batch_size=args.batch_size,
        device=device,
        data_root=args.data_root,
        synthetic=args.synthetic,
        proxy_options=options,
    )
    scorer = Scorer(config)
    if archs is None:
        archs = select_archs(scorer.space, sample=args.archs, seed=args.seed)
    if scorer.device.type == "cpu":
        torch.set_num_threads(args.cpu_threads)
    t0 = time.perf_counter()
    scores = {}
    for recs in scorer.run(archs):
        for r in recs:
            scores[(r.arch, r.proxy)] = (r.score, r.status, r.seconds)
    return archs, proxies, scores, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nats-tss")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--proxies", default="near,synflow,snip,naswot,params,flops")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--near-repetitions", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--a", default="cpu", help="device of side a")
    ap.add_argument("--b", default="cuda", help="device of side b")
    ap.add_argument("--b-proxy-opt", action="append", default=[], help="extra proxy option for side b (repeatable)")
    ap.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--synthetic", action="store_true", help="Gaussian inputs instead of --data-root")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    archs, proxies, a, ta = run_side(args, args.a, [])
    _, _, b, tb = run_side(args, args.b, args.b_proxy_opt, archs)
    print(
        f"{len(archs)} {args.space} archs, {args.dataset}, batch {args.batch_size}, NEAR {args.near_repetitions} reps: "
        f"a = {args.a} ({ta:.1f} s), b = {args.b} {' '.join(args.b_proxy_opt)} ({tb:.1f} s)"
    )
    print(f"\n{'proxy':<10} {'max rel diff':>13} {'spearman':>9}  verdict")
    failed, report = False, {}
    for p in proxies:
        x = np.array([a[(k.key, p)][0] for k in archs], float)
        y = np.array([b[(k.key, p)][0] for k in archs], float)
        bad_status = [k.key for k in archs if a[(k.key, p)][1] != "ok" or b[(k.key, p)][1] != "ok"]
        finite = np.isfinite(x) & np.isfinite(y)
        rel = (
            float(np.max(np.abs(x[finite] - y[finite]) / np.maximum(np.abs(x[finite]), 1e-30)))
            if finite.any()
            else float("nan")
        )
        rho = float(stats.spearmanr(x[finite], y[finite]).statistic) if finite.sum() > 2 else float("nan")
        ok = (rel <= NEAR_REL) if p == "near" else (np.array_equal(x, y, equal_nan=True) or rho >= 0.999)
        ok = ok and not bad_status
        failed |= not ok
        verdict = "ok" if ok else "FAIL" + (f" (status not ok for {len(bad_status)} archs)" if bad_status else "")
        report[p] = {"max_rel_diff": rel, "spearman": rho, "ok": bool(ok)}
        print(f"{p:<10} {rel:>13.2e} {rho:>9.6f}  {verdict}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"archs": len(archs), "a": args.a, "b": args.b, "seconds": {"a": ta, "b": tb}, "proxies": report},
                fh,
                indent=1,
            )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
