"""NEAR's repetitions as batched forwards: the GPU path of the ``near`` proxy (option ``near.batched``).

The sequential path (``near.near``) runs one forward per repetition, re-initialising the weights
in between. Here repetition 0 runs exactly as there (recording the row plan on the way), then
``rep_chunk`` weight sets at a time run as ONE forward: ``torch.func.vmap`` over
``functional_call`` with the repetitions' parameters and buffers stacked along a new leading
dimension. Under vmap a convolution whose weight is batched over repetitions becomes one grouped
convolution, and train-mode BatchNorm normalises each repetition's channels with that
repetition's own batch statistics (its running statistics are stacked per repetition too).

Why it is the same computation as the sequential path (PROXY_SPEC §5.1):

1. Weights: the re-initialisations are replayed on the model in the sequential order, each under
   the same forked, seeded torch RNG (``near._reinit``), and each repetition's parameters and
   buffers are copied into its slot of the stacked tensors. Bit-identical to the weights each
   sequential repetition sees (tested).
2. Row offsets (§5.1 step 4): the row bookkeeping depends only on shapes. Repetition 0 runs one
   by one with extra hooks that record which layers are called, with how many rows per call, in
   which order they complete and with which k (its own offsets are drawn as always). The NumPy
   offsets of repetitions 1..R-1 are then drawn up front in exactly the sequential order
   (repetition-major, then completion order) from the same Generator.
3. Rows: each repetition's [start, start + C) rows are gathered by index from the same outputs,
   so they are copies of the same values. The forward values themselves differ from the
   sequential ones by float round-off only (a grouped convolution sums in another order than R
   single ones), so scores agree to round-off, not bitwise (tests state the tolerance).

Models whose repetitions cannot be batched (random numbers drawn in the forward, e.g. dropout;
data-dependent Python control flow; ops without a batching rule; buffers other than norm
statistics changed by the forward; one module called with different column counts) stop the
batched path with the reason; the model and the offset Generator are then exactly where the
sequential loop would be, and ``near`` goes on one repetition at a time (same scores as the
sequential path from there on).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn


class BatchingUnsupported(Exception):
    """This model cannot run NEAR's repetitions as one batched forward; ``str(exc)`` says why."""


# -- the plan: recorded while repetition 0 runs one by one ----------------------------------------
@dataclass
class _PlanCall:
    batch: int  # index of the input batch whose forward made this call
    rows: int  # rows of this call's matrix reading
    offset: int  # rows of this layer's earlier calls (the call's first row in the layer's buffer)
    lead: tuple[int, ...]  # leading shape of the (..., C) row view: rows in row-major order


@dataclass
class _PlanLayer:
    """One hooked module's calls up to the one that completed its matrix (``_LayerRows`` in shapes)."""

    called: bool = False
    done: bool = False
    calls: list[_PlanCall] = field(default_factory=list)
    rows: int = 0
    cols: int = 0
    k: int = 0  # offsets u ~ UniformInt{0..k-1} (no draw when k <= 0)
    w_last: int = 0


@dataclass
class Plan:
    layers: list[_PlanLayer]
    n_batches: int  # input batches the sequential loop feeds per repetition
    draw_order: list[int]  # indices of the layers that draw an offset, in completion order
    activation_bytes: int  # sum of the hooked outputs' sizes in one repetition (memory estimate)
    unsupported: str = ""  # why the repetitions cannot be batched ("" if they can)


def _plan_hook(near_mod, layers: list[_PlanLayer], i: int, state: dict):
    layer = layers[i]

    def hook(module, _inputs, output):
        # mirrors near._LayerRows.add on shapes; never raises (the sequential hook next to it does)
        if layer.done:
            return
        layer.called = True
        out = output[0] if isinstance(output, (tuple, list)) else output
        if not isinstance(out, torch.Tensor):
            return
        state["bytes"] += out.numel() * out.element_size()
        rows = near_mod._as_rows(module, out)
        if rows is None:
            return
        if layer.calls and rows.cols != layer.cols and not state["unsupported"]:
            state["unsupported"] = f"a {type(module).__name__} is called with {layer.cols} and {rows.cols} columns"
        layer.cols = rows.cols
        layer.calls.append(_PlanCall(state["batch"], rows.n_rows, layer.rows, tuple(rows.view.shape[:-1])))
        layer.rows += rows.n_rows
        if layer.rows < rows.cols:
            return
        layer.done = True
        layer.w_last = out.shape[-1]
        layer.k = layer.rows // layer.w_last - 1 if layer.w_last else 0
        if layer.k > 0:
            state["order"].append(i)

    return hook


def first_repetition(
    model: nn.Module, batches: Iterable, rng: np.random.Generator, max_columns: int | None
) -> tuple[list, Plan]:
    """Repetition 0 exactly as the sequential path computes it, recording the row plan on the way.

    The plan hooks only read shapes; the sequential row buffers (``near_layer_matrices``) draw the
    offsets of repetition 0 from ``rng`` as always, so ``rng`` is then where repetition 1 starts.
    """
    from nasprox.proxies import near as near_mod

    modules = near_mod.hooked_modules(model)
    layers = [_PlanLayer() for _ in modules]
    state: dict[str, Any] = {"batch": 0, "bytes": 0, "order": [], "unsupported": "", "pulled": 0}

    def counted():
        for i, batch in enumerate(batches):
            state["batch"], state["pulled"] = i, i + 1
            yield batch

    handles = [m.register_forward_hook(_plan_hook(near_mod, layers, i, state)) for i, m in enumerate(modules)]
    try:
        matrices = near_mod.near_layer_matrices(model, counted(), rng=rng, max_columns=max_columns)
    finally:
        for h in handles:
            h.remove()
    return matrices, Plan(layers, state["pulled"], state["order"], state["bytes"], state["unsupported"])


def _one_line(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}".strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


# -- offsets and gather indices ----------------------------------------------------------------
def draw_starts(plan: Plan, repetitions: int, rng: np.random.Generator) -> tuple[np.ndarray, list[Mapping[str, Any]]]:
    """(repetitions, layers) first kept row of every layer, drawn in the sequential order, and the
    Generator state before each repetition's draws (to hand a repetition back to the sequential path)."""
    starts = np.zeros((repetitions, len(plan.layers)), dtype=np.int64)
    states = []
    for rep in range(repetitions):
        states.append(rng.bit_generator.state)
        for i in plan.draw_order:
            layer = plan.layers[i]
            starts[rep, i] = layer.w_last * int(rng.integers(0, layer.k))  # = near._generator_draw
    return starts, states


@dataclass
class _Gather:
    """Where each repetition's rows of one layer come from: per relevant call, indices and a mask."""

    layer: int
    width: int  # rows gathered per repetition (C, or all rows of an unfinished layer)
    lengths: np.ndarray  # (reps,) rows each repetition keeps (stop - start)
    calls: list[tuple[int, list[np.ndarray], np.ndarray]]  # (call number, index arrays, valid mask)


def gather_plan(plan: Plan, starts: np.ndarray) -> list[_Gather]:
    """For a chunk of repetitions (rows of ``starts``): which rows of which call each keeps."""
    out = []
    for i, layer in enumerate(plan.layers):
        if not layer.calls:
            continue
        start = starts[:, i]
        if layer.done:
            width = layer.cols
            stop = np.minimum(start + layer.cols, layer.rows)
        else:  # never reached C rows: all its rows (the sequential final())
            width = layer.rows
            stop = np.full_like(start, layer.rows)
        lengths = stop - start
        pos = start[:, None] + np.arange(width)[None, :]  # (reps, width) row numbers in the layer buffer
        keep = pos < stop[:, None]
        calls = []
        for j, call in enumerate(layer.calls):
            local = pos - call.offset
            mask = keep & (local >= 0) & (local < call.rows)
            if call.rows == 0 or not mask.any():
                continue
            local = np.clip(local, 0, call.rows - 1)
            index = []
            for d in reversed(call.lead):
                index.append(local % d)
                local = local // d
            calls.append((j, index[::-1], mask))
        out.append(_Gather(i, width, lengths, calls))
    return out


# -- the batched forward -----------------------------------------------------------------------
def _norm_buffer_names(model: nn.Module) -> set[str]:
    out: set[str] = set()
    for prefix, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            out.update(f"{prefix}.{n}" if prefix else n for n, _ in module.named_buffers(recurse=False))
    return out


def batched_matrices(
    model: nn.Module, batches: list[torch.Tensor], plan: Plan, starts: np.ndarray, states: dict[str, torch.Tensor]
) -> list[list[torch.Tensor | None]]:
    """The NEAR matrices of a chunk of repetitions from one vmapped forward per input batch.

    ``states``: name -> (reps, ...) stacked parameters and buffers; ``starts``: (reps, layers).
    """
    from torch.func import functional_call, vmap

    from nasprox.proxies import near as near_mod

    reps = starts.shape[0]
    device = next(iter(states.values())).device
    gathers = gather_plan(plan, starts)
    # every index array and mask of this chunk to the device in one copy, then split into views
    arrays = [a for g in gathers for _, idx, mask in g.calls for a in (*idx, mask.astype(np.int64))]
    flat = torch.from_numpy(np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, np.int64)).to(device)
    pieces, offset = [], 0
    for a in arrays:
        pieces.append(flat[offset : offset + a.size].view(a.shape))
        offset += a.size
    pieces_it = iter(pieces)
    wanted: dict[tuple[int, int], tuple[int, list[torch.Tensor]]] = {}  # (layer, call) -> (batch, indices)
    masks: dict[tuple[int, int], torch.Tensor] = {}
    for g in gathers:
        for j, idx, _mask in g.calls:
            wanted[(g.layer, j)] = (plan.layers[g.layer].calls[j].batch, [next(pieces_it) for _ in idx])
            masks[(g.layer, j)] = next(pieces_it).bool()

    modules = near_mod.hooked_modules(model)
    counters = [0] * len(modules)
    current: dict = {}

    def make_hook(i: int):
        def hook(module, _inputs, output):
            j = counters[i]
            counters[i] += 1
            if (i, j) not in current:
                return
            out = output[0] if isinstance(output, (tuple, list)) else output
            rows = near_mod._as_rows(module, out.detach())
            current[(i, j)] = rows.view[tuple(current[(i, j)])]

        return hook

    names = list(states)
    norm_buffers = _norm_buffer_names(model)
    buffer_names = {n for n, _ in model.named_buffers()}
    watched = {n: states[n].clone() for n in names if n in buffer_names and n not in norm_buffers}

    def forward(state_list, index_list, x, keys):
        state = dict(zip(names, state_list))
        current.clear()
        current.update(zip(keys, index_list))
        functional_call(model, state, (x,))
        return [current[k] for k in keys]

    captured: dict[tuple[int, int], torch.Tensor] = {}
    handles = [m.register_forward_hook(make_hook(i)) for i, m in enumerate(modules)]
    try:
        with torch.no_grad():
            for b in range(plan.n_batches):
                keys = [k for k, (batch, _) in wanted.items() if batch == b]
                index_list = [wanted[k][1] for k in keys]
                try:
                    outs = vmap(forward, in_dims=(0, 0, None, None), randomness="error")(
                        [states[n] for n in names], index_list, near_mod._inputs_of(batches[b]), keys
                    )
                except Exception as exc:  # noqa: BLE001 - a real model error recurs one by one
                    if _is_oom(exc):
                        raise
                    raise BatchingUnsupported(f"the vmapped forward failed: {_one_line(exc)}") from None
                captured.update(zip(keys, outs))
    finally:
        for h in handles:
            h.remove()
        current.clear()
    for n, before in watched.items():
        if not torch.equal(before, states[n]):
            raise BatchingUnsupported(f"the forward changes buffer {n} (a later repetition would see it)")

    result: list[list[torch.Tensor | None]] = [[None] * len(plan.layers) for _ in range(reps)]
    for g in gathers:
        mats = None
        for j, _idx, _mask in reversed(g.calls):  # the first call that holds a row wins (they are disjoint)
            cap = captured[(g.layer, j)]
            mats = cap if mats is None else torch.where(masks[(g.layer, j)][..., None], cap, mats)
        if mats is None:  # rows only in empty calls: the sequential buffer is an empty (0, C) matrix
            mats = torch.empty((reps, 0, plan.layers[g.layer].cols), device=device)
        for r in range(reps):
            result[r][g.layer] = mats[r, : int(g.lengths[r])]
    return result


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc)


def auto_chunk(plan: Plan, model: nn.Module, repetitions: int, device: torch.device, measured: int = 0) -> int:
    """Repetitions per batched forward that fit in memory (an estimate; out of memory halves it at run time).

    Per repetition: ``measured`` (the CUDA allocator's growth during repetition 0) or, without it,
    every hooked output of one forward kept at once (an upper bound: under no_grad most are freed
    as the forward moves on), x 1.5, plus a copy of the weights. Budget: 60 % of the free memory
    (the driver's free plus the allocator's cached) on CUDA, 2 GiB on CPU.
    """
    weights = sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers()))
    per_rep = int(1.5 * (measured or plan.activation_bytes)) + weights
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        budget = int(0.6 * (free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)))
    else:
        budget = 2 * 2**30
    return max(1, min(repetitions, budget // max(per_rep, 1)))


@dataclass
class Result:
    per_rep: list  # each repetition's matrices, as the sequential loop's ``per_rep``
    done: int  # repetitions computed; < repetitions after a fallback: continue one by one from here
    reason: str = ""  # why it fell back


def run(
    model: nn.Module,
    batches,
    *,
    repetitions: int,
    rng: np.random.Generator,
    max_columns: int | None,
    reinit: Callable[[nn.Module, int], None],
    rep_chunk: int,
    device: torch.device,
) -> Result:
    """NEAR's matrices of every repetition: repetition 0 one by one (recording the plan), then the
    others ``rep_chunk`` at a time (0 = as many as fit) in batched forwards.

    ``reinit(model, rep)`` is the re-init after repetition ``rep``, as the sequential loop calls it.
    Invariant between chunks: the model holds the weights of the next repetition to compute and
    ``rng`` is where that repetition draws. If a model turns out not to be batchable, the result
    stops there (``done``, ``reason``) in exactly that state, so the caller can go on one by one.
    On out of memory a chunk is split in halves (after freeing the failed attempt) down to one
    repetition; then the error propagates.
    """
    cuda = device.type == "cuda"
    before = torch.cuda.memory_allocated(device) if cuda else 0
    first, plan = first_repetition(model, batches, rng, max_columns)
    measured = torch.cuda.max_memory_allocated(device) - before if cuda else 0
    result = Result([first], 1)
    if repetitions == 1:
        return result
    reinit(model, 0)
    if plan.unsupported:
        result.reason = plan.unsupported
        return result
    cached = list(itertools.islice(iter(batches), plan.n_batches))
    rng_states: list[Mapping[str, Any] | None] = [None]  # repetition 0 runs sequentially: no state to restore
    starts, states_before = draw_starts(plan, repetitions - 1, rng)
    rng_states += states_before
    starts = np.concatenate([np.zeros((1, starts.shape[1]), dtype=np.int64), starts])
    chunk = [rep_chunk if rep_chunk > 0 else auto_chunk(plan, model, repetitions - 1, device, measured)]
    tensors = dict(itertools.chain(model.named_parameters(), model.named_buffers()))
    names, sources = list(tensors), list(tensors.values())
    rep = 1
    while rep < repetitions:
        size = min(chunk[0], repetitions - rep)
        states = {n: torch.empty((size, *t.shape), dtype=t.dtype, device=t.device) for n, t in tensors.items()}
        slots = [[states[n][r] for n in names] for r in range(size)]
        with torch.no_grad():
            for r in range(size):  # replay: slot r holds the weights of repetition rep + r
                if r > 0:
                    reinit(model, rep + r - 1)
                torch._foreach_copy_(slots[r], sources)
        try:
            result.per_rep.extend(_run_states(model, cached, plan, starts[rep : rep + size], states, chunk))
        except BatchingUnsupported as exc:
            with torch.no_grad():
                torch._foreach_copy_(sources, slots[0])  # back to the weights of repetition rep
            state_before = rng_states[rep]
            assert state_before is not None  # rep >= 1 here
            rng.bit_generator.state = state_before
            result.done, result.reason = rep, str(exc)
            return result
        rep += size
        if rep < repetitions:
            reinit(model, rep - 1)
        result.done = rep
    return result


def _run_states(model, cached, plan, starts, states, chunk: list[int]):
    """``batched_matrices``; on out of memory, in pieces of half the size (down to one repetition)."""
    size = starts.shape[0]
    try:
        return batched_matrices(model, cached, plan, starts, states)
    except RuntimeError as exc:
        if not _is_oom(exc) or size == 1:
            raise
    # out of the except block: the failed attempt's frames are released; free its memory, then split
    import gc

    gc.collect()
    device = next(iter(states.values())).device
    if device.type == "cuda":
        torch.cuda.empty_cache()
    chunk[0] = min(chunk[0], size // 2)  # this and every later chunk: at most half of what failed
    out, lo = [], 0
    while lo < size:
        hi = min(size, lo + chunk[0])
        out.extend(_run_states(model, cached, plan, starts[lo:hi], {n: t[lo:hi] for n, t in states.items()}, chunk))
        lo = hi
    return out
