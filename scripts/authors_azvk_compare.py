"""AZ-NAS and VKDNW: nasprox's proxies against the authors' protocol on NATS-TSS cells.

The AUTHORS' PROTOCOL below is re-written in this script from reading their code (nothing is imported
from nasprox's proxy modules; no code copied):
  * AZ-NAS: ``cvlab-yonsei/AZ-NAS:NB201/ZeroShotProxy/compute_az_nas_score.py`` (``compute_nas_score``) as
    driven by ``NB201/tss_general.ipynb`` (random N(0, I) input, batch 64, kaiming_norm_fanin init, train
    mode, ``TinyNetwork.extract_cell_features``: stem output plus every cell output, ``retain_grad``).
  * VKDNW: ``ondratybl/VKDNW:NB201/ZeroShotProxy/compute_vkdnw_score.py`` (``get_fisher`` with
    ``use_logits=False``, ``get_jacobian_index`` by jacrev inside vmap over samples with
    ``functional_call``, the ``cholesky_covariance`` factor with its nan_to_num and back-test,
    ``torch.svd(...).S``, quantiles at ``arange(0.1, 1., 0.1)``, entropy with 1e-10), params_grad_len 128
    and p = 1 (element 0 of each tensor).
nasprox's side is scored through the public API (``nasprox.api.score_model``, registry names).

Both sides run on the same nasprox-built ``TinyNetwork`` and the same draws: one CPU Generator seeded with
``--seed`` feeds the Kaiming re-init (module order), then the Gaussian input, then the Rademacher vectors,
as nasprox does; the authors draw from the global RNG seeded once per run, so ``--rng global`` instead
seeds the global RNG per cell (seed + index) on the authors' side (independent draws: agreement then
includes the seed noise). VKDNW's input here is the real batch (the first ``--batch`` images of the npz,
normalised with the CIFAR-10 mean/std; ``vkdnw.input=real``, while Table 1 and nasprox's default feed N(0, I)).

Example (one thread):
  OMP_NUM_THREADS=1 python scripts/authors_azvk_compare.py --archs 0:50 \\
      --data-root ../shared/data/inputs/cifar10_test_1000_from_jpg.npz --out /tmp/azvk_compare.csv
Prints per-component Spearman (and Kendall) between ours and the authors' protocol.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.func import functional_call, jacrev, vmap

COMPONENTS = ("az_expressivity", "az_progressivity", "az_trainability", "vkdnw")


# ----------------------------------------------------------------- AUTHORS' PROTOCOL (re-written) ---------
def authors_init(model: nn.Module, generator: torch.Generator | None) -> None:
    """init_model(model, 'kaiming_norm_fanin'): Conv2d/Linear kaiming_normal_(fan_in, relu), bias 0; BN2d/GN 1, 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                w = torch.empty(m.weight.shape)
                nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu", generator=generator)
                m.weight.copy_(w)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def authors_extract_cell_features(model: nn.Module, inputs: torch.Tensor) -> list[torch.Tensor]:
    """TinyNetwork.extract_cell_features: stem output, then each cell's output, each with retain_grad."""
    feats = []
    feature = model.stem(inputs)
    feature.retain_grad()
    feats.append(feature)
    for cell in model.cells:
        feature = cell(feature)
        feature.retain_grad()
        feats.append(feature)
    return feats


def authors_az_nas(model: nn.Module, input_: torch.Tensor, generator: torch.Generator | None) -> dict[str, float]:
    model.train()
    layer_features = authors_extract_cell_features(model, input_)
    expressivity_scores = []
    for f in layer_features:
        feat = f.detach().clone()
        b, c, h, w = feat.size()
        feat = feat.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
        feat = feat - feat.mean(dim=0, keepdim=True)
        sigma = torch.mm(feat.transpose(1, 0), feat) / feat.size(0)
        s = torch.linalg.eigvalsh(sigma)
        prob_s = s / s.sum()
        expressivity_scores.append(((-prob_s) * torch.log(prob_s + 1e-8)).sum().item())
    e = np.array(expressivity_scores)
    progressivity = np.min(e[1:] - e[:-1])
    expressivity = np.sum(e)
    scores = []
    for i in reversed(range(1, len(layer_features))):
        f_out, f_in = layer_features[i], layer_features[i - 1]
        g_out = torch.ones_like(f_out) * 0.5
        if generator is None:
            g_out = (torch.bernoulli(g_out) - 0.5) * 2
        else:
            g_out = (torch.bernoulli(g_out, generator=generator) - 0.5) * 2
        g_in = torch.autograd.grad(outputs=f_out, inputs=f_in, grad_outputs=g_out, retain_graph=False)[0]
        if g_out.size() == g_in.size() and torch.all(g_in == g_out):
            scores.append(-np.inf)
            continue
        if g_out.size(2) != g_in.size(2) or g_out.size(3) != g_in.size(3):
            g_in = nn.PixelUnshuffle(int(g_in.size(2) / g_out.size(2)))(g_in)
        bo, co, ho, wo = g_out.size()
        bi, ci, hi, wi = g_in.size()
        g_out = g_out.permute(0, 2, 3, 1).contiguous().view(bo * ho * wo, co)
        g_in = g_in.permute(0, 2, 3, 1).contiguous().view(bi * hi * wi, ci)
        mat = torch.mm(g_in.transpose(1, 0), g_out) / (bo * ho * wo)
        if mat.size(0) < mat.size(1):
            mat = mat.transpose(0, 1)
        s = torch.linalg.svdvals(mat)
        scores.append(-s.max().item() - 1 / (s.max().item() + 1e-6) + 2)
    trainability = np.mean(scores)
    out = {"az_expressivity": expressivity, "az_progressivity": progressivity, "az_trainability": trainability}
    return {k: (float(v) if not np.isnan(v) else -np.inf) for k, v in out.items()}


def authors_cholesky_covariance(output: torch.Tensor) -> torch.Tensor:
    alpha = torch.tensor(0.05, dtype=torch.float16, device=output.device)
    prob = torch.nn.functional.softmax(output, dim=1) * (1 - alpha) + alpha / output.shape[1]
    q = torch.ones_like(prob) - torch.cumsum(prob, dim=1)
    q[:, -1] = torch.zeros_like(q[:, -1])
    q_shift = torch.roll(q, shifts=1, dims=1)
    q_shift[:, 0] = torch.ones_like(q_shift[:, 0])
    d = torch.sqrt(prob * q / q_shift)
    L = -torch.matmul(torch.unsqueeze(prob, dim=2), 1 / torch.transpose(torch.unsqueeze(q, dim=2), 1, 2))
    L = torch.nan_to_num(L, neginf=0.0)
    k = L.shape[1]
    eye = torch.eye(k, dtype=output.dtype).repeat(L.shape[0], 1, 1)
    L = L * (1 - eye) + eye
    L = L * (1 - torch.triu(torch.ones(k, k, dtype=output.dtype), diagonal=1).repeat(L.shape[0], 1, 1))
    return torch.matmul(L, torch.diag_embed(d)).detach()


def authors_jacobian(model: nn.Module, input_: torch.Tensor, p_count: int, params_grad_len: int) -> torch.Tensor:
    indices = [torch.linspace(0, v.numel() - 1, steps=p_count).long().tolist() for _, v in model.named_parameters()]
    params_grad = {k: v.flatten()[idx].detach() for idx, (k, v) in zip(indices, model.named_parameters())}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    params_grad = dict(list(params_grad.items())[:params_grad_len])

    def jacobian_sample(sample):
        def compute_prediction(params_grad_tmp):
            params = {k: v.detach() for k, v in model.named_parameters()}
            for idx, (k, v) in zip(indices, params_grad_tmp.items()):
                shape = params[k].shape
                # the reference writes ``param[idx] = v`` in place; torch >= 2.1 refuses that inside a
                # grad transform ("mutate a captured Tensor"), so the same values out of place:
                param = params[k].flatten().index_put((torch.tensor(idx),), v)
                params[k] = param.reshape(shape)
            return functional_call(model, (params, buffers), (sample.unsqueeze(0),)).squeeze(0)

        return jacrev(compute_prediction)(params_grad)

    jac = vmap(jacobian_sample)(input_)
    return torch.cat([torch.flatten(v, start_dim=2, end_dim=-1) for v in jac.values()], dim=2).detach()


def authors_vkdnw(model: nn.Module, input_: torch.Tensor) -> float:
    model.eval()  # get_fisher
    jacobian = authors_jacobian(model, input_, 1, 128)
    jacobian = torch.matmul(authors_cholesky_covariance(model(input_)), jacobian).detach()
    fisher = torch.mean(torch.matmul(torch.transpose(jacobian, 1, 2), jacobian), dim=0).detach()
    try:
        lambdas = torch.svd(fisher).S.detach()
    except RuntimeError:
        lambdas = torch.zeros((2,))
    quantiles = torch.quantile(lambdas, torch.arange(0.1, 1.0, 0.1))
    temp = quantiles / (torch.linalg.norm(quantiles, ord=1, keepdim=False).item() + 1e-10)
    return float(-(temp * torch.log(temp + 1e-10)).sum().item())


# ----------------------------------------------------------------- driver ---------------------------------
def parse_range(text: str) -> list[int]:
    lo, _, hi = text.partition(":")
    return list(range(int(lo), int(hi))) if hi else [int(lo)]


def real_batch(path: Path, n: int) -> torch.Tensor:
    data = np.load(path)
    x = torch.tensor(data["x"][:n], dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    return (x - mean) / std


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="0:50", help="NATS-TSS index range lo:hi")
    ap.add_argument("--data-root", type=Path, required=True, help="npz with x (N,H,W,C uint8) for VKDNW's batch")
    ap.add_argument("--batch", type=int, default=64, help="AZ-NAS batch (the notebook's 64)")
    ap.add_argument(
        "--vkdnw-batch", type=int, default=64, help="VKDNW batch (64 as the framework; smaller to save CPU time)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rng", choices=("shared", "global"), default="shared")
    ap.add_argument("--skip-vkdnw", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="per-cell CSV (ours and theirs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)

    from nasprox.api import score_model
    from nasprox.core import SPACES

    space = SPACES.get("nats-tss")()
    xb = real_batch(args.data_root, args.vkdnw_batch)
    names = COMPONENTS[:3] if args.skip_vkdnw else COMPONENTS
    rows = []
    for index in parse_range(args.archs):
        arch = space.arch(index)
        model = space.build(arch, "cifar10")
        t0 = time.perf_counter()
        ours = (
            score_model(
                model,
                xb,
                proxies=["vkdnw"],
                num_classes=10,
                seed=args.seed,
                device="cpu",
                proxy_options={"vkdnw": {"input": "real"}},  # vkdnw's default is Gaussian (Table 1)
            )
            if "vkdnw" in names
            else {}
        )  # VKDNW on the real batch
        x_az = torch.zeros(args.batch, 3, 32, 32)  # AZ-NAS draws its Gaussian input of this shape itself
        ours.update(score_model(model, x_az, proxies=list(names[:3]), num_classes=10, seed=args.seed, device="cpu"))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs_model = space.build(arch, "cifar10")
        gen = torch.Generator().manual_seed(args.seed) if args.rng == "shared" else None
        if gen is None:
            torch.manual_seed(args.seed + index)
        authors_init(theirs_model, gen)
        x = (
            torch.randn((args.batch, 3, 32, 32), generator=gen)
            if gen is not None
            else torch.randn(args.batch, 3, 32, 32)
        )
        theirs = authors_az_nas(theirs_model, x, gen)
        if not args.skip_vkdnw:
            vk_model = space.build(arch, "cifar10")
            gen = torch.Generator().manual_seed(args.seed) if args.rng == "shared" else None
            authors_init(vk_model, gen)
            theirs["vkdnw"] = authors_vkdnw(vk_model, xb)
        t_theirs = time.perf_counter() - t0
        row = {"index": index, "arch": arch.key, "s_ours": round(t_ours, 3), "s_theirs": round(t_theirs, 3)}
        for n in names:
            row[f"ours_{n}"], row[f"theirs_{n}"] = ours[n], theirs[n]
        rows.append(row)
        print(
            index,
            " ".join(f"{n}={ours[n]:.5g}/{theirs[n]:.5g}" for n in names),
            f"{t_ours:.1f}s/{t_theirs:.1f}s",
            flush=True,
        )
        if args.out:
            with open(args.out, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
    print(
        f"\n{len(rows)} NATS-TSS cells, AZ-NAS batch {args.batch}, VKDNW batch {args.vkdnw_batch}, rng {args.rng}; "
        "ours vs the authors' protocol"
    )
    print(f"{'component':18s} {'spearman':>9s} {'kendall':>8s} {'n_equal(rel 1e-4)':>18s} {'n':>4s}")
    for n in names:
        a = np.array([r[f"ours_{n}"] for r in rows], dtype=float)
        b = np.array([r[f"theirs_{n}"] for r in rows], dtype=float)
        # -inf (the reference's NaN) ranks lowest on both sides, as the authors' rankdata does
        lo = np.nanmin(np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)], [0.0]])) - 1.0
        ra, rb = np.where(np.isneginf(a), lo, a), np.where(np.isneginf(b), lo, b)
        rho = stats.spearmanr(ra, rb).statistic
        tau = stats.kendalltau(ra, rb).statistic
        close = np.isclose(a, b, rtol=1e-4, atol=1e-6) | (np.isneginf(a) & np.isneginf(b))
        print(f"{n:18s} {rho:9.4f} {tau:8.4f} {int(close.sum()):18d} {len(rows):4d}")
    print(
        f"seconds per cell: ours {np.mean([r['s_ours'] for r in rows]):.2f}, theirs {np.mean([r['s_theirs'] for r in rows]):.2f}"
    )
    return 0 if all(math.isfinite(r["s_ours"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
