#!/usr/bin/env python
"""NEAR one repetition at a time vs batched repetitions (``near.batched``), same archs, same process.

Three variants of the engine's NEAR, interleaved arch by arch so a loaded machine slows them alike:
  legacy      one by one, without this change's exact cuts (every BatchNorm re-initialised every
              repetition, NB201 node sums from 0 + x, row-buffer clones): the code before
  sequential  one by one, the CPU default (bit-identical scores to legacy)
  batched     ``near.batched=on``: all repetitions (``--rep-chunk``) in one vmapped forward
Prints archs/s of each, ratios against legacy and sequential, and the largest relative score
difference against sequential (0 for legacy: bit-identical).

``--profile`` instead counts, with torch.profiler, the aten ops of one NEAR score on one cell per
variant: all aten calls, and the "compute" ones (leaf ops that are not views/metadata: on a GPU
each is about one kernel launch); on CUDA also the CUDA kernels actually launched.

  python scripts/bench_near_batched.py --archs 6 --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz
  python scripts/bench_near_batched.py --profile --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math

import numpy as np
import torch

from nasprox.engine import RunConfig, Scorer, select_archs
from nasprox.proxies import _near_batched
from nasprox.proxies import near as near_mod
from nasprox.spaces.nats import _nb201_ops

VIEW_OPS = {
    "aten::" + n
    for n in (
        "view",
        "as_strided",
        "permute",
        "reshape",
        "_reshape_alias",
        "expand",
        "select",
        "slice",
        "unsqueeze",
        "squeeze",
        "transpose",
        "t",
        "alias",
        "detach",
        "detach_",
        "empty",
        "empty_strided",
        "resize_",
        "lift_fresh",
        "unbind",
        "split",
        "narrow",
        "movedim",
        "flatten",
        "unflatten",
        "_unsafe_view",
        "empty_like",
        "contiguous",
        "set_",
        "split_with_sizes",
        "chunk",
        "view_as",
        "expand_as",
        "_has_compatible_shallow_copy_type",
        "result_type",
        "is_nonzero",
        "item",
        "_local_scalar_dense",
        "to",
        "_to_copy",
        "numpy_T",
        "matrix_H",
        "conj",
        "resolve_conj",
        "resolve_neg",
        "_batch_norm_impl_index",
        "batch_norm",
        "_convolution",
        "convolution",
        "conv2d",
        "linear",
        "dropout",
        "lift_fresh_copy",
        "unfold",
        "diagonal",
        "real",
        "imag",
        "_conj",
        "squeeze_",
        "unsqueeze_",
        "_foreach_copy_",
        "is_same_size",
        "size",
        "stride",
        "dim",
        "_nested_tensor_from_mask_left_aligned",
    )
}


@contextlib.contextmanager
def legacy():
    """The code before this change: full re-init every repetition, 0 + x node sums, row clones."""

    def full_reset(model, seed, rep, device):
        with near_mod._seeded_torch(seed * 1_000_003 + rep, device):
            near_mod.reset_parameters(model)

    def old_cell_forward(self, inputs):
        nodes = [inputs]
        for node_layers, node_innods in zip(self.node_IX, self.node_IN):
            nodes.append(sum(self.layers[il](nodes[ii]) for il, ii in zip(node_layers, node_innods)))
        return nodes[-1]

    def old_take(self, lo, hi):
        if self.view.dim() == 2:
            return self.view[lo:hi]
        per_sample = self.n_rows // self.view.shape[0] if self.view.shape[0] else 0
        if per_sample == 0 or hi <= lo:
            return self.view.new_empty((0, self.cols))
        first, last = lo // per_sample, (hi - 1) // per_sample + 1
        block = self.view[first:last].reshape(-1, self.cols)
        return block[lo - first * per_sample : hi - first * per_sample]

    saved = (near_mod._reinit, _nb201_ops.InferCell.forward, near_mod._Rows.take, near_mod._private)
    near_mod._reinit, _nb201_ops.InferCell.forward, near_mod._Rows.take = full_reset, old_cell_forward, old_take
    near_mod._private = lambda piece, out: piece.clone()
    try:
        yield
    finally:
        near_mod._reinit, _nb201_ops.InferCell.forward, near_mod._Rows.take, near_mod._private = saved


VARIANTS = ("legacy", "sequential", "batched")


def make_scorers(args) -> dict[str, Scorer]:
    def config(batched: str) -> RunConfig:
        options = {"repetitions": str(args.reps), "batched": batched}
        if args.rep_chunk:
            options["rep_chunk"] = str(args.rep_chunk)
        return RunConfig(
            space=args.space,
            dataset=args.dataset,
            proxies=["near"],
            seed=args.seed,
            batch_size=args.batch_size,
            device=args.device,
            data_root=args.data_root,
            synthetic=args.synthetic,
            proxy_options={"near": options},
        )

    return {"legacy": Scorer(config("off")), "sequential": Scorer(config("off")), "batched": Scorer(config("on"))}


def score(scorer: Scorer, variant: str, arch):
    with legacy() if variant == "legacy" else contextlib.nullcontext():
        record = scorer.score_arch(arch)[0]
    if record.status != "ok":
        raise SystemExit(f"{variant} failed on {arch.key}: {record.status} {record.error}")
    return record


def timing(args) -> None:
    scorers = make_scorers(args)
    archs = select_archs(scorers["sequential"].space, sample=args.archs, seed=args.seed)
    print(
        f"{len(archs)} {args.space} archs, {args.dataset}, batch {args.batch_size}, NEAR {args.reps} repetitions, "
        f"device {args.device}, torch threads {torch.get_num_threads()}, rep_chunk {args.rep_chunk or 'auto'}, "
        f"memory format {str(scorers['sequential'].memory_format).removeprefix('torch.')}"
    )
    for v in VARIANTS:  # warm-up: allocator, oneDNN/cuDNN plans, lazy imports
        score(scorers[v], v, archs[0])
    seconds = {v: 0.0 for v in VARIANTS}
    scores = {v: [] for v in VARIANTS}
    peak = {v: 0.0 for v in VARIANTS}
    for i, arch in enumerate(archs):
        order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]  # interleaved, alternating order
        for v in order:
            record = score(scorers[v], v, arch)
            seconds[v] += record.seconds
            scores[v].append(record.score)
            peak[v] = max(peak[v], record.peak_mem_mb)
    ref = np.asarray(scores["sequential"])
    print(
        f"\n{'variant':<11} {'archs/s':>9} {'s/arch':>8} {'vs legacy':>10} {'vs sequential':>14}  "
        f"{'max rel diff vs sequential':>27}  peak MiB"
    )
    for v in VARIANTS:
        rate = len(archs) / seconds[v]
        diff = np.max(np.abs(np.asarray(scores[v]) - ref) / np.abs(ref))
        print(
            f"{v:<11} {rate:>9.3f} {seconds[v] / len(archs):>8.2f} {seconds['legacy'] / seconds[v]:>9.2f}x "
            f"{seconds['sequential'] / seconds[v]:>13.2f}x  {diff:>27.2e}  {peak[v]:.0f}"
        )


SECTIONS = (
    (near_mod, "near_layer_matrices", "forward (one by one)"),
    (_near_batched, "batched_matrices", "forward (batched)"),
    (near_mod, "_reinit", "re-init"),
    (near_mod, "effective_ranks", "SVD + entropy"),
)


@contextlib.contextmanager
def sections():
    """Label the proxy's phases (record_function) so ops can be attributed to them."""
    from torch.autograd.profiler import record_function

    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in SECTIONS]

    def labelled(fn, label):
        def run(*a, **k):
            with record_function("phase: " + label):
                return fn(*a, **k)

        return run

    for (mod, name, label), (_, _, fn) in zip(SECTIONS, saved):
        setattr(mod, name, labelled(fn, label))
    try:
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


def _phase(event) -> str:
    while event is not None:
        if event.name.startswith("phase: "):
            return event.name.removeprefix("phase: ")
        event = event.cpu_parent
    return "other (replay copies, data, rows)"


def count_ops(args) -> None:
    """Ops of one NEAR proxy call (model build excluded), per variant and per phase."""
    from torch.profiler import ProfilerActivity, profile

    from nasprox.core import ProxyContext

    scorers = make_scorers(args)
    scorer = scorers["sequential"]
    arch = scorer.space.parse(args.arch)
    base = scorer.build_on_device(arch)
    cuda = scorer.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])

    def context(v):
        sc = scorers[v]
        stream = sc.cached_stream(sc.batch_size_for(sc.proxies[0]))
        x, y = stream.next()
        return ProxyContext(
            model=copy.deepcopy(base),
            build_model=None,
            inputs=x,
            targets=y,
            input_spec=sc.input_spec,
            loss_fn=sc.loss_fn,
            next_batch=stream.next,
            device=sc.device,
            seed=sc.config.seed,
            space=sc.space.name,
            arch=arch,
            options=sc.config.proxy_options["near"],
        )

    def call(v, ctx, profiled=False):
        with (
            legacy() if v == "legacy" else contextlib.nullcontext(),
            sections() if profiled else contextlib.nullcontext(),
            profile(activities=activities) if profiled else contextlib.nullcontext() as prof,
        ):
            value = scorers[v].proxies[0].fn(ctx)
            if cuda:
                torch.cuda.synchronize()
        return value, prof

    print(
        f"one NEAR proxy call ({args.reps} repetitions, batch {args.batch_size}, device {args.device}, "
        f"memory format {str(scorer.memory_format).removeprefix('torch.')}) on {arch.key}"
    )
    print(
        "aten calls: every aten op dispatched; compute ops: leaf aten ops that are not views/metadata "
        "(on a GPU each is about one kernel launch)" + ("; CUDA kernels: kernels the GPU ran" if cuda else "")
    )
    print(
        f"\n{'variant':<11} {'aten calls':>11} {'compute ops':>12} {'per rep':>8}"
        + (f" {'CUDA kernels':>13}" if cuda else "")
        + "   compute ops by phase"
    )
    counts = {}
    for v in VARIANTS:
        call(v, context(v))  # warm-up
        value, prof = call(v, context(v), profiled=True)
        events = [e for e in prof.events() if e.name.startswith("aten::")]
        compute = [
            e
            for e in events
            if e.name not in VIEW_OPS
            and not any(c.name.startswith("aten::") and c.name not in VIEW_OPS for c in e.cpu_children)
        ]
        kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA) if cuda else None
        phases = {}
        for e in compute:
            phases[_phase(e)] = phases.get(_phase(e), 0) + 1
        counts[v] = (len(events), len(compute), kernels)
        print(
            f"{v:<11} {len(events):>11} {len(compute):>12} {len(compute) / args.reps:>8.0f}"
            + (f" {kernels:>13}" if cuda else "")
            + "   "
            + ", ".join(f"{k} {n}" for k, n in sorted(phases.items()))
            + f"   (score {value:.6f})"
        )
    for v in ("sequential", "batched"):
        print(
            f"{v} / legacy: compute ops {counts[v][1] / counts['legacy'][1]:.3f}"
            + (f", CUDA kernels {counts[v][2] / counts['legacy'][2]:.3f}" if cuda and counts["legacy"][2] else "")
        )
    if args.top:
        _, prof = call("batched", context("batched"), profiled=True)
        print(prof.key_averages().table(sort_by="count", row_limit=args.top))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nats-tss")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--archs", type=int, default=6, help="seeded sample of this many architectures (timing)")
    ap.add_argument(
        "--arch",
        default="|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
        help="the cell profiled with --profile",
    )
    ap.add_argument("--reps", type=int, default=32)
    ap.add_argument("--rep-chunk", type=int, default=0, help="near.rep_chunk for the batched variant (0 = auto)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--synthetic", action="store_true", help="Gaussian inputs instead of --data-root")
    ap.add_argument("--profile", action="store_true", help="count ops per NEAR score instead of timing")
    ap.add_argument("--top", type=int, default=0, help="with --profile: also the N most called ops of batched")
    args = ap.parse_args()
    if math.isfinite(args.reps) and args.reps < 2:
        raise SystemExit("--reps must be >= 2 (one repetition is never batched)")
    count_ops(args) if args.profile else timing(args)


if __name__ == "__main__":
    main()
