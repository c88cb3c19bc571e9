"""NEAR: Network Expressivity by Activation Rank (PROXY_SPEC §5.1, reference ReiherGroup/NEAR v1.0.0).

Hooked modules: every module of ``model.named_modules()`` that has an attribute ``weight`` (even
``None``, e.g. affine-free BN) or is an instance of a class of ``torch.nn.modules.activation``.
Each hooked module's outputs become a rows x C matrix (channels as columns; 4-D (N, C, H, W) is
read as (N, W, H, C) with rows n·W·H + w·H + h). Rows accumulate over calls and over batches until
R ≥ C; then k = ⌊R / W_last⌋ − 1, start = W_last · u, u ~ UniformInt{0..k−1} (start 0 if k ≤ 0),
and rows [start, start + C) are kept (W_last = the output's last dimension). The score is the sum
of the effective ranks (Roy & Vetterli) of these matrices, averaged over repetitions; after every
repetition all modules with ``reset_parameters`` are re-initialised with PyTorch defaults.

Choices (where the reference is silent or would crash):
- no_grad throughout (values are identical; the reference keeps autograd history).
- Output rank 3 (sequence models): the reference's ``transpose(1, 3)`` fails; we read (N, T, F) as
  rows n·T + t and F columns (Linear/Embedding/RNN/attention act on the last dim), except for
  channel-first modules (Conv1d, BatchNorm1d, InstanceNorm1d), read as (N, L, C). Rank ≥ 5 moves
  the channel dim last and reverses the spatial dims, generalising the 4-D rule. Outputs of rank
  < 2 carry no matrix and are ignored.
- A matrix with non-finite entries has effective rank 0 (like the reference's NaN → 0).
- A module output wider than ``near.max_columns`` (default 4096) makes the proxy undefined: e.g. a
  language model's vocabulary-sized decoder would need ≥ V rows and a V × V SVD. Raise the option
  to compute it anyway.
- Proxy path: every repetition starts with the fixed batch ``ctx.inputs`` and then continues the
  seeded stream (``ctx.next_batch``) while some layer is unfinished; batches drawn once are cached
  and reused by later repetitions, so all repetitions see the same samples and differ only by the
  weights (the reference re-shuffles its DataLoader per repetition). At most ``near.max_batches``
  (default 512) batches are fed; layers still short of C rows then use the rows they have, as the
  reference does when its loader runs out. Start offsets come from ``numpy.random.default_rng``
  seeded from ``ctx.seed``, and the re-init runs under a torch RNG forked and seeded from
  ``ctx.seed`` and the repetition number.
- Speed (the GPU path; scores as above): with ``near.batched`` (``auto`` = on for CUDA) repetitions
  1..R-1 run ``near.rep_chunk`` at a time as one vmapped forward over stacked weight sets, with
  the same re-inits and row offsets (``_near_batched``); forward values then differ by float
  round-off only. Off the CPU the re-inits draw from the device's generator unless
  ``near.init_rng=cpu``. Norm layers are re-initialised only after the first repetition (their
  reset draws nothing and later changes nothing a forward sees: bit-identical).
- [UNRESOLVED §10.3] the NAS-Bench protocol: model left in train mode, as the package does;
  ``near.repetitions`` defaults to 32 (paper's NAS setting).

Regression path: ``near_score(model, dataloader, repetitions)`` with ``rng=None`` draws start
offsets from NumPy's global RNG and re-iterates ``dataloader`` per repetition, reproducing the
reference's RNG consumption (PROXY_SPEC §8.3).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast

import numpy as np
import torch
from torch import nn

from nasprox.core import NasproxError, ProxyContext, ProxyUndefined, proxy

ACTIVATION_TYPES: tuple[type, ...] = tuple(getattr(nn, name) for name in nn.modules.activation.__all__)
CHANNEL_FIRST_3D = (nn.Conv1d, nn.BatchNorm1d, nn.InstanceNorm1d)


def hooked_modules(model: nn.Module) -> list[nn.Module]:
    """The NEAR layer list in ``named_modules`` order (the index space of ``layer_index``)."""
    return [m for _, m in model.named_modules() if hasattr(m, "weight") or isinstance(m, ACTIVATION_TYPES)]


def effective_rank(matrix: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values); 0 for an all-zero or non-finite matrix."""
    if matrix.numel() == 0 or not bool(torch.isfinite(matrix).all()):
        return 0.0
    singular = torch.linalg.svdvals(matrix.detach()).double()
    total = singular.sum()
    if not total > 0:
        return 0.0
    p = singular / total
    p = p[p > 0]
    entropy = float(-(p * p.log()).sum())
    erank = math.exp(entropy)
    return erank if math.isfinite(erank) else 0.0


class _Rows:
    """A lazy (rows, columns) reading of one output; rows are gathered on demand, never all copied."""

    __slots__ = ("view", "n_rows", "cols")

    def __init__(self, view: torch.Tensor):
        self.view = view  # (..., C): every leading index combination is one row, in row-major order
        self.cols = view.shape[-1]
        self.n_rows = math.prod(view.shape[:-1])

    def take(self, lo: int, hi: int) -> torch.Tensor:
        if self.view.dim() == 2:
            return self.view[lo:hi]
        # copy only the samples the rows lie in (usually one), then slice: same values as an index gather
        per_sample = self.n_rows // self.view.shape[0] if self.view.shape[0] else 0
        if per_sample == 0 or hi <= lo:
            return self.view.new_empty((0, self.cols))
        first, last = lo // per_sample, (hi - 1) // per_sample + 1
        if last - first == 1 and self.view.dim() > 3:  # within one sample: copy only the rows of the
            inner = per_sample // self.view.shape[1]  # second dim's slices they lie in (<= C + 2 H rows)
            lo, hi = lo - first * per_sample, hi - first * per_sample
            a, b = lo // inner, (hi - 1) // inner + 1
            return self.view[first, a:b].reshape(-1, self.cols)[lo - a * inner : hi - a * inner]
        block = self.view[first:last].reshape(-1, self.cols)
        return block[lo - first * per_sample : hi - first * per_sample]


def _private(piece: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``piece`` if it is already a copy, else a copy: later in-place ops on ``out`` must not reach it."""
    return piece if piece.untyped_storage().data_ptr() != out.untyped_storage().data_ptr() else piece.clone()


def _too_wide(module: nn.Module, cols: int, max_columns: int) -> ProxyUndefined:
    return ProxyUndefined(
        f"a {type(module).__name__} output has {cols} columns > near.max_columns="
        f"{max_columns} (its matrix would need as many rows and a full SVD)"
    )


def _as_rows(module: nn.Module, out: torch.Tensor) -> _Rows | None:
    """The matrix reading of one output (§5.1 step 2); ``None`` for outputs of rank < 2."""
    if out.dim() < 2:
        return None
    if out.dim() == 3 and isinstance(module, CHANNEL_FIRST_3D):
        return _Rows(out.transpose(1, 2))
    if out.dim() <= 3:
        return _Rows(out)
    return _Rows(out.permute(0, *reversed(range(2, out.dim())), 1))  # 4-D: (N, C, H, W) -> (N, W, H, C)


class _LayerRows:
    """Row buffer of one hooked module for one repetition (PROXY_SPEC §5.1 steps 1-4)."""

    __slots__ = ("parts", "rows", "matrix", "called", "max_columns")

    def __init__(self, max_columns: int | None = None) -> None:
        self.parts: list[torch.Tensor] = []
        self.rows = 0
        self.matrix: torch.Tensor | None = None
        self.called = False
        self.max_columns = max_columns

    def add(self, module: nn.Module, output, draw: Callable[[int], int]) -> None:
        if self.matrix is not None:
            return  # finished: the reference removed its hook
        self.called = True
        out = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(out, torch.Tensor):
            return
        rows = _as_rows(module, out.detach())
        if rows is None:
            return
        if self.max_columns is not None and rows.cols > self.max_columns:
            raise _too_wide(module, rows.cols, self.max_columns)
        w_last = out.shape[-1]
        total = self.rows + rows.n_rows
        if total < rows.cols:
            self.parts.append(_private(rows.take(0, rows.n_rows), out))  # a copy now: later in-place ops
            self.rows = total
            return
        k = total // w_last - 1 if w_last else 0
        start = w_last * draw(k) if k > 0 else 0
        stop = min(start + rows.cols, total)
        pieces = []
        offset = 0
        for part in self.parts:  # earlier calls' rows, then this call's
            lo, hi = max(start - offset, 0), min(stop - offset, part.shape[0])
            if lo < hi:
                pieces.append(part[lo:hi])
            offset += part.shape[0]
        lo, hi = max(start - offset, 0), stop - offset
        if lo < hi:
            pieces.append(rows.take(lo, hi))
        self.matrix = torch.cat(pieces) if len(pieces) > 1 else _private(pieces[0], out)
        self.parts, self.rows = [], total

    def final(self) -> torch.Tensor | None:
        if self.matrix is not None:
            return self.matrix
        return torch.cat(self.parts) if self.parts else None


def _numpy_global_draw(k: int) -> int:
    return int(np.random.randint(0, k))


def _generator_draw(rng: np.random.Generator) -> Callable[[int], int]:
    return lambda k: int(rng.integers(0, k))


def _inputs_of(batch):
    """A loader item ``(x, y)`` or ``[x, y]`` -> x; a bare tensor is the input itself."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def near_layer_matrices(
    model: nn.Module,
    batches: Iterable,
    *,
    layer_index: int | None = None,
    rng: np.random.Generator | None = None,
    max_columns: int | None = None,
) -> list[torch.Tensor | None]:
    """One NEAR repetition: the (rows x C) matrix of every hooked module (``None`` if never called).

    A module output with more than ``max_columns`` columns raises ProxyUndefined.
    ``batches`` is iterated (once, from its start) until every called module has its matrix;
    items are input tensors or ``(inputs, targets)`` pairs. ``rng=None`` draws start offsets from
    NumPy's global RNG (reference behaviour); pass a seeded Generator for reproducible scoring.
    """
    layers = hooked_modules(model)
    if layer_index is not None:
        try:
            layers = [layers[layer_index]]
        except IndexError:
            raise NasproxError(
                f"layer index {layer_index} out of range: the model has {len(layers)} hooked modules"
            ) from None
    draw = _numpy_global_draw if rng is None else _generator_draw(rng)
    buffers = [_LayerRows(max_columns) for _ in layers]

    def make_hook(buffer: _LayerRows):
        return lambda module, _inputs, output: buffer.add(module, output, draw)

    handles = [layer.register_forward_hook(make_hook(buf)) for layer, buf in zip(layers, buffers)]
    try:
        with torch.no_grad():
            for batch in batches:
                model(_inputs_of(batch))
                if all(buf.matrix is not None for buf in buffers if buf.called):
                    break
    finally:
        for handle in handles:
            handle.remove()
    return [buf.final() for buf in buffers]


def effective_ranks(matrices: Sequence[torch.Tensor | None]) -> list[float | None]:
    """``effective_rank`` of many matrices, with one batched SVD per distinct shape.

    Same values as calling ``effective_rank`` one by one (the batched CPU SVD runs the same LAPACK
    routine per matrix); far fewer calls, which is what dominates for small NAS layers.
    """
    out: list[float | None] = [None] * len(matrices)
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(matrices):
        if m is None:
            continue
        if m.numel() == 0:
            out[i] = 0.0
        else:
            groups.setdefault((tuple(m.shape), m.dtype, m.device), []).append(i)
    for idx in groups.values():
        stack = torch.stack([cast(torch.Tensor, matrices[i]) for i in idx])  # None entries were skipped above
        finite = torch.isfinite(stack).flatten(1).all(dim=1)
        singular = torch.linalg.svdvals(torch.where(finite[:, None, None], stack, 0)).double()
        total = singular.sum(dim=1, keepdim=True)
        p = singular / total
        entropy = -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum(dim=1)
        erank = entropy.exp()
        ok = finite & (total.squeeze(1) > 0) & torch.isfinite(erank)
        for j, value in zip(idx, torch.where(ok, erank, 0.0).tolist()):
            out[j] = value
    return out


def near_layer_scores(
    model: nn.Module,
    batches: Iterable,
    *,
    layer_index: int | None = None,
    rng: np.random.Generator | None = None,
    max_columns: int | None = None,
) -> list[float | None]:
    """One NEAR repetition: the effective rank of every hooked module (``None`` if never called)."""
    return effective_ranks(
        near_layer_matrices(model, batches, layer_index=layer_index, rng=rng, max_columns=max_columns)
    )


def reset_parameters(model: nn.Module) -> None:
    """PyTorch default re-init of every module that has ``reset_parameters`` (``model.apply`` order)."""
    model.apply(_reset_one)


def near_score(
    model: nn.Module,
    batches: Iterable,
    *,
    repetitions: int = 1,
    layer_index: int | None = None,
    rng: np.random.Generator | None = None,
    reinit: Callable[[nn.Module, int], None] | None = None,
) -> float:
    """Mean over repetitions of Σ_layers effective rank; re-init after each repetition (§5.1).

    ``batches`` must be re-iterable (a DataLoader, a list): each repetition iterates it afresh.
    ``reinit(model, repetition)`` replaces the default ``reset_parameters`` re-init (e.g. to seed it).
    """
    if repetitions < 1:
        raise NasproxError(f"repetitions must be >= 1, got {repetitions}")
    totals = []
    for rep in range(repetitions):
        layer_scores = near_layer_scores(model, batches, layer_index=layer_index, rng=rng)
        totals.append(sum(s for s in layer_scores if s is not None))
        if reinit is None:
            model.apply(_reset_one)
        else:
            reinit(model, rep)
    return float(np.mean(totals))


def _reset_one(module: nn.Module) -> None:
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()


def power_law(s, alpha, beta, gamma):
    """NEAR's layer-size model f(s) = α + β·s^γ (PROXY_SPEC §5.1)."""
    return alpha + beta * np.power(s, gamma)


def fit_layer_size(sizes: Sequence[float], relative: Sequence[float]) -> tuple[float, float, float]:
    """The one fit of NEAR's layer-size estimator (PROXY_SPEC §5.1): (α, β, γ) of α + β·s^γ fitted to
    (1, 1) ∪ {(s_j, r_j)}, r_j = NEAR score / size (scipy ``curve_fit``, p0 (1, 2, -1), maxfev 10000).
    The size is then s* = t^(1/(γ−1)) (``estimate_layer_size``; ``nasprox layersize``)."""
    from scipy.optimize import curve_fit

    xs = np.asarray([1.0, *map(float, sizes)])
    ys = np.asarray([1.0, *map(float, relative)])
    if not np.isfinite(ys).all():
        raise NasproxError("NEAR scores are not finite for every size; cannot fit the power law")
    try:
        (alpha, beta, gamma), _ = curve_fit(power_law, xs, ys, p0=(1.0, 2.0, -1.0), maxfev=10000)
    except RuntimeError as exc:
        raise NasproxError(f"the power-law fit did not converge ({exc}); try more or wider --sizes") from None
    return float(alpha), float(beta), float(gamma)


def estimate_layer_size(
    models: Sequence[nn.Module],
    sizes: Sequence[int],
    batches: Iterable,
    layer_index: int,
    threshold: float = 0.005,
    repetitions: int = 1,
    rng: np.random.Generator | None = None,
) -> float:
    """MLP layer-size estimate (§5.1): fit α + β s^γ to (1, 1) ∪ {(s_j, NEAR_j / s_j)}; s* = t^(1/(γ−1)).

    Real-valued; the caller rounds. ``layer_index`` indexes ``hooked_modules(model)``.
    """
    if len(models) != len(sizes) or len(sizes) < 2:
        raise NasproxError("estimate_layer_size needs one model per size and at least two sizes")
    if not 0 < threshold < 1:
        raise NasproxError(f"slope threshold must be in (0, 1), got {threshold}")
    relative = [
        near_score(m, batches, repetitions=repetitions, layer_index=layer_index, rng=rng) / s
        for m, s in zip(models, sizes)
    ]
    _, _, gamma = fit_layer_size(sizes, relative)
    return float(threshold ** (1.0 / (gamma - 1.0)))


# -- the proxy ----------------------------------------------------------------------------------
class _CachedStream:
    """Re-iterable batches: the fixed batch, then further stream batches, drawn once and cached."""

    def __init__(self, first: torch.Tensor, next_batch: Callable[[], tuple], limit: int):
        self._cache = [first]
        self._next_batch = next_batch
        self._limit = limit

    def __iter__(self) -> Iterator[torch.Tensor]:
        i = 0
        while i < self._limit:
            if i == len(self._cache):
                self._cache.append(_inputs_of(self._next_batch()))
            yield self._cache[i]
            i += 1


@contextlib.contextmanager
def _seeded_torch(seed: int, device: torch.device):
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _reset_one_but_norms(module: nn.Module) -> None:
    reset = getattr(module, "reset_parameters", None)
    if callable(reset) and getattr(type(module), "reset_parameters", None) is not _NORM_RESET:
        reset()


_NORM_RESET = nn.modules.batchnorm._NormBase.reset_parameters


def _reinit(model: nn.Module, seed: int, rep: int, device: torch.device) -> None:
    """The proxy's re-init after repetition ``rep``: every ``reset_parameters``, under a seeded torch RNG.

    BatchNorm / InstanceNorm modules (``_NormBase.reset_parameters``, not overridden) are reset
    only after the first repetition. Their reset draws no random numbers (so skipping it shifts
    no other module's init) and afterwards changes nothing a forward can see: weight 1 and bias 0
    are never changed by the no_grad forward, and the running statistics are unused in train mode
    and unchanged in eval mode. Scores are bit-identical; 4-5 kernel launches per norm layer per
    repetition are saved.
    """
    with _seeded_torch(seed * 1_000_003 + rep, device):
        model.apply(_reset_one if rep == 0 else _reset_one_but_norms)


class _CpuDrawnReinit:
    """``near.init_rng=cpu`` off the CPU: the re-inits are drawn on a CPU copy of the model from the
    CPU generator (exactly as on a CPU run) and copied to the device, so every repetition's weights
    equal the CPU run's bit for bit (a CUDA generator draws other numbers: same distribution, other
    weights, so CPU and CUDA scores then agree only statistically). Costs CPU time per repetition.
    """

    def __init__(self, model: nn.Module, seed: int):
        self.seed, self.shadow = seed, copy.deepcopy(model).cpu()

    def __call__(self, model: nn.Module, rep: int) -> None:
        _reinit(self.shadow, self.seed, rep, torch.device("cpu"))
        with torch.no_grad():
            targets = list(itertools.chain(model.parameters(), model.buffers()))
            torch._foreach_copy_(targets, list(itertools.chain(self.shadow.parameters(), self.shadow.buffers())))


def _batched_matrices(
    ctx: ProxyContext,
    model: nn.Module,
    batches,
    repetitions: int,
    rng: np.random.Generator,
    max_columns: int,
    reinit: Callable[[nn.Module, int], None],
) -> tuple[list, int]:
    """Matrices of repetitions 0..done-1 from batched forwards (``_near_batched.run``) and ``done``.

    ``done < repetitions`` when the model cannot be batched (warned); the model and ``rng`` are then
    where the sequential loop would be before repetition ``done``.
    """
    from nasprox.proxies import _near_batched

    result = _near_batched.run(
        model,
        batches,
        repetitions=repetitions,
        rng=rng,
        max_columns=max_columns,
        reinit=reinit,
        rep_chunk=ctx.opt("rep_chunk"),
        device=ctx.device,
    )
    if result.done < repetitions:
        warnings.warn(
            f"near: repetitions {result.done}..{repetitions - 1} run one by one for this model ({result.reason})",
            NearBatchingFallback,
            stacklevel=2,
        )
    return result.per_rep, result.done


class NearBatchingFallback(UserWarning):
    """``near.batched`` is on but a model's repetitions cannot run as batched forwards (they run one by one)."""


@proxy(
    "near",
    "NEAR: sum over layers of the effective rank of pre- and post-activation matrices (Husistein et al. 2024)",
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=True,
    bn="kept",
    cost="forward",
    # for tools (search/layersize.py, search/initgrid.py): one NEAR repetition per layer, the hooked
    # layer list, and the layer-size power law and its fit (PROXY_SPEC §5.1)
    exports=dict(
        layer_scores=near_layer_scores,
        hooked_modules=hooked_modules,
        fit_layer_size=fit_layer_size,
        power_law=power_law,
    ),
    options=(  # ProxyOption fields as mappings (see ProxySpec.options)
        dict(
            name="repetitions",
            type=int,
            default=32,
            minimum=1,
            help="scores averaged; every module with reset_parameters is re-initialised after each "
            "(32 = the paper's NAS setting, PROXY_SPEC §5.1, §10.3)",
        ),
        dict(
            name="max_batches",
            type=int,
            default=512,
            minimum=1,
            help="at most this many batches fed per repetition; layers still short of C rows use the rows they have",
        ),
        dict(
            name="max_columns",
            type=int,
            default=4096,
            minimum=1,
            help="a module output wider than this makes the proxy undefined (e.g. a vocabulary-sized decoder); "
            "raise it to compute anyway",
        ),
        dict(
            name="batched",
            type=str,
            default="auto",
            choices=("auto", "on", "off"),
            help="run the repetitions as batched forwards (torch.func.vmap; weights and row offsets identical "
            "to one-by-one, forward values equal to float round-off); auto = on for CUDA, off on CPU "
            "(where one by one is the bit-exact reference and measured faster; docs/performance.md)",
        ),
        dict(
            name="init_rng",
            type=str,
            default="device",
            choices=("device", "cpu"),
            help="generator of the re-inits off the CPU: device (fast) or cpu (a CPU copy of the model draws "
            "them as a CPU run does: weights bit-identical to CPU, scores equal to round-off; slower)",
        ),
        dict(
            name="rep_chunk",
            type=int,
            default=0,
            minimum=0,
            help="repetitions per batched forward; 0 = as many as fit (60 percent of the free GPU memory, 2 GiB on "
            "CPU); halved on out of memory",
        ),
    ),
)
def near(ctx: ProxyContext) -> float:
    repetitions = ctx.opt("repetitions")
    max_batches = ctx.opt("max_batches")
    max_columns = ctx.opt("max_columns")
    if repetitions < 1 or max_batches < 1:
        raise NasproxError("near.repetitions and near.max_batches must be >= 1")
    model = ctx.model
    if not hooked_modules(model):
        raise ProxyUndefined("the network has no module with weights and no activation module")
    rng = np.random.default_rng([ctx.seed, 5_1])
    batches = _CachedStream(ctx.inputs, ctx.next_batch, max_batches)
    reinit: Callable[[nn.Module, int], None]
    if ctx.opt("init_rng") == "cpu" and ctx.device.type != "cpu":
        reinit = _CpuDrawnReinit(model, ctx.seed)
    else:

        def reinit(m: nn.Module, rep: int) -> None:
            _reinit(m, ctx.seed, rep, ctx.device)

    batched = ctx.opt("batched")
    per_rep: list[list[torch.Tensor | None]] = []
    done = 0
    if repetitions > 1 and (batched == "on" or (batched == "auto" and ctx.device.type != "cpu")):
        per_rep, done = _batched_matrices(ctx, model, batches, repetitions, rng, max_columns, reinit)
    for rep in range(done, repetitions):  # one repetition at a time: the reference (and the CPU default)
        per_rep.append(near_layer_matrices(model, batches, rng=rng, max_columns=max_columns))
        if rep + 1 < repetitions:  # the re-init after the last repetition is unobservable
            reinit(model, rep)
    # one batched SVD pass over every layer of every repetition (same values, far fewer calls)
    ranks = effective_ranks([m for rep in per_rep for m in rep])
    width = len(per_rep[0])
    totals = [sum(r for r in ranks[i * width : (i + 1) * width] if r is not None) for i in range(repetitions)]
    return float(np.mean(totals))
