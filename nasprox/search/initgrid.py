"""Activation x initialisation selection with NEAR (NEAR paper §4.4, Tables 7-8) and other proxies.

For every (activation, initialisation) pair and repetition r, a fresh network is built under seed
(seed, activation, init, r), initialised with the scheme (``nasprox.search.mlp``) and scored once.
NEAR is one repetition of PROXY_SPEC §5.1 on that network (so the scheme is never replaced by
NEAR's own PyTorch-default re-init); the table reports mean and std over repetitions and ranks the
pairs by mean NEAR (higher = better). Other registered proxies run through their ``score(ctx)``
on the same network with a ``ProxyContext`` built here (labels from the data when present).

MLP inputs are fed one sample at a time (the paper's n×n matrices); CNN inputs in batches of 8
images (a C-row sub-block, §5.1 step 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from nasprox.core import PROXIES, InputSpec, NasproxError, ProxyContext, ProxyUndefined
from nasprox.search.mlp import ACTIVATIONS, INITS, apply_init, build_mlp, build_small_cnn

DEFAULT_ACTIVATIONS = ("relu", "silu", "tanh", "tanhshrink", "gelu", "stanh")
DEFAULT_INITS = ("kaiming_uniform", "xavier_uniform", "uniform", "stanh")


@dataclass
class GridSpec:
    model: str  # "mlp" | "cnn"
    input_shape: tuple[int, ...]  # per-sample shape: (F,) for the MLP, (C, H, W) for the CNN
    output_size: int
    hidden: tuple[int, ...] = (64, 64)  # MLP hidden sizes
    cnn_width: int = 16

    def build(self, act: str) -> nn.Module:
        if self.model == "mlp":
            return build_mlp(self.input_shape[0], list(self.hidden), self.output_size, act)
        if self.model == "cnn":
            return build_small_cnn(self.input_shape[0], self.output_size, act, self.cnn_width)
        raise NasproxError(f"unknown model kind '{self.model}' (mlp or cnn)")


def _seed(*parts) -> int:
    words = [p if isinstance(p, int) else int.from_bytes(str(p).encode()[:8].ljust(8, b"\0"), "little") for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def _batches(inputs: torch.Tensor, batch: int, seed: int):
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(inputs)))
    for i in range(0, len(order), batch):
        yield inputs[order[i : i + batch]]


def near_once(model: nn.Module, inputs: torch.Tensor, batch: int, seed: int) -> float:
    """One NEAR repetition on the model's current weights: Σ over hooked layers of erank."""
    layer_scores = PROXIES.get("near").exports["layer_scores"]  # NEAR's per-layer scores, via the registry
    scores = layer_scores(model, _batches(inputs, batch, seed), rng=np.random.default_rng([seed, 51]))
    return float(sum(s for s in scores if s is not None))


def _other_proxy(
    name: str,
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor | None,
    spec: GridSpec,
    seed: int,
    batch_size: int,
    build: Callable[[], nn.Module],
) -> float:
    proxy = PROXIES.get(name)
    if proxy.needs_labels and labels is None:
        raise ProxyUndefined("the data has no labels")
    rng = np.random.default_rng([seed, 7])
    targets = labels if labels is not None else torch.zeros(len(inputs), dtype=torch.long)

    def next_batch():
        idx = torch.from_numpy(rng.choice(len(inputs), size=min(batch_size, len(inputs)), replace=False))
        return inputs[idx], targets[idx] % spec.output_size

    x, y = next_batch()
    kind = "image" if spec.model == "cnn" else "features"
    ctx = ProxyContext(
        model=model,
        build_model=build,
        inputs=x,
        targets=y,
        input_spec=InputSpec(kind, tuple(spec.input_shape), spec.output_size, norm="none"),
        loss_fn=F.cross_entropy,
        next_batch=next_batch,
        device=torch.device("cpu"),
        seed=seed,
    )
    torch.manual_seed(seed)
    return float(proxy.fn(ctx))


def score_grid(
    spec: GridSpec,
    inputs: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    activations=DEFAULT_ACTIVATIONS,
    inits=DEFAULT_INITS,
    repetitions: int = 8,
    proxies: tuple[str, ...] = (),
    seed: int = 0,
    batch_size: int = 64,
) -> pd.DataFrame:
    """One row per (activation, init): mean/std of NEAR (and each extra proxy) over repetitions, ranked."""
    for act in activations:
        if act not in ACTIVATIONS:
            raise NasproxError(f"unknown activation '{act}' (choose from {', '.join(ACTIVATIONS)})")
    for init in inits:
        if init not in INITS:
            raise NasproxError(f"unknown initialisation '{init}' (choose from {', '.join(INITS)})")
    if repetitions < 1:
        raise NasproxError("--repetitions must be >= 1")
    proxies = tuple(PROXIES.canonical(p) for p in proxies if PROXIES.canonical(p) != "near")
    near_batch = 1 if spec.model == "mlp" else 8
    rows = []
    for act in activations:
        for init in inits:
            values: dict[str, list[float]] = {"near": [], **{p: [] for p in proxies}}
            errors: dict[str, str] = {}
            for rep in range(repetitions):
                rep_seed = _seed(seed, act, init, rep)

                def build(act=act, init=init, rep_seed=rep_seed):
                    torch.manual_seed(rep_seed)
                    return apply_init(spec.build(act), init)

                values["near"].append(near_once(build(), inputs, near_batch, rep_seed))
                for name in proxies:
                    try:
                        values[name].append(
                            _other_proxy(name, build(), inputs, labels, spec, rep_seed, batch_size, build)
                        )
                    except (ProxyUndefined, RuntimeError, ValueError) as exc:
                        errors[name] = f"{exc.__class__.__name__}: {exc}".splitlines()[0]
                        values[name].append(math.nan)
            row = {"activation": act, "init": init}
            for name, vals in values.items():
                arr = np.asarray(vals, dtype=float)
                finite = arr[np.isfinite(arr)]
                row[f"{name}_mean"] = float(finite.mean()) if finite.size else math.nan
                row[f"{name}_std"] = float(finite.std()) if finite.size else math.nan
            if errors:
                row["errors"] = "; ".join(f"{k}: {v}" for k, v in errors.items())
            rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(0, "rank", table["near_mean"].rank(ascending=False, method="min").astype(int))
    for name in proxies:
        sign = PROXIES.get(name).higher_is_better
        if sign is not None:
            table[f"{name}_rank"] = table[f"{name}_mean"].rank(ascending=not sign, method="min")
    if "errors" in table.columns:
        table["errors"] = table.pop("errors").fillna("")
    return table.sort_values(["rank", "activation", "init"], kind="stable").reset_index(drop=True)
