"""GPU-throughput issue: NEAR's batched repetitions and the exact launch cuts, checked on CPU.

Batched (``near.batched=on``) against one-by-one (the reference and the CPU default), per space:
- the parameters every repetition sees are bit-identical (the re-inits are replayed in order);
- the row offsets are the same (every kept matrix has the same shape, and its values agree);
- scores agree to relative 1e-6. Why not bitwise: under vmap a convolution over R weight sets is
  one grouped convolution and BatchNorm runs on R x C channels, which sum in another order than
  R separate kernels, so float32 activations differ by a few ulp (~1e-7 relative); the effective
  rank is a smooth function of the singular values, so scores move by the same order (measured:
  at most ~4e-9 relative on NATS-TSS and TransNAS cells, exactly equal on NATS-SSS). 1e-6 is
  ~10x float32 epsilon: round-off passes, a wrong offset (~1e-3, docs/performance.md) does not.

The launch cuts (BatchNorm re-init skip, row-buffer copies, NB201 node sums, no deep copy for
an architecture's last proxy) must be bit-identical and are compared with ``==``.

Small inputs, 2-3 repetitions: the file runs in about a minute on one core. CUDA checks are
marked ``cuda`` and skipped without a GPU (``scripts/gpu_check.sh`` runs them).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import json
import math
import random
import warnings
import weakref

import numpy as np
import pytest
import torch
from torch import nn

from nasprox.core import PROXIES, InputSpec, ProxyContext
from nasprox.engine import RunConfig, Scorer
from nasprox.engine.runner import make_space
from nasprox.proxies import _near_batched, near

pytestmark = pytest.mark.usefixtures("one_thread")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CIFAR = "inputs/cifar10_test_1000_from_jpg.npz"
REL = 1e-6


# -- helpers --------------------------------------------------------------------------------------
def _image_stream(shape, batch, seed=1, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    return lambda: (torch.randn(batch, *shape, generator=gen).to(device), None)


def _token_stream(vocab, batch, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return lambda: (torch.randint(0, vocab, (batch, steps), generator=gen), None)


def _near(model, next_batch, reps, mode, seed=3, device="cpu", **options):
    ctx = ProxyContext(
        model=model,
        build_model=None,
        inputs=next_batch()[0],
        targets=None,
        input_spec=InputSpec("image", (3, 8, 8), 10),
        loss_fn=None,
        next_batch=next_batch,
        device=torch.device(device),
        seed=seed,
        options={"repetitions": str(reps), "batched": mode, **{k: str(v) for k, v in options.items()}},
    )
    return PROXIES.get("near").fn(ctx)


def _traced(monkeypatch, model, stream_fn, reps, mode, **options):
    """Score plus, per repetition, the parameters its forward saw and its kept matrices."""
    params, mats = [], []
    names = [n for n, _ in model.named_parameters()]
    seq_fn, batch_fn = near.near_layer_matrices, _near_batched.batched_matrices

    def sequential(m, *args, **kwargs):
        params.append({n: p.detach().clone() for n, p in m.named_parameters()})
        out = seq_fn(m, *args, **kwargs)
        mats.append(out)
        return out

    def batched(m, cached, plan, starts, states):
        for r in range(starts.shape[0]):
            params.append({n: states[n][r].clone() for n in names})
        out = batch_fn(m, cached, plan, starts, states)
        mats.extend(out)
        return out

    monkeypatch.setattr(near, "near_layer_matrices", sequential)
    monkeypatch.setattr(_near_batched, "batched_matrices", batched)
    with warnings.catch_warnings():
        warnings.simplefilter("error", near.NearBatchingFallback)  # a silent fallback would pass trivially
        value = _near(model, stream_fn(), reps, mode, **options)
    monkeypatch.undo()
    return value, params, mats


def _compare(monkeypatch, build, stream_fn, reps=3, **options):
    torch.manual_seed(0)
    model = build()
    seq = _traced(monkeypatch, copy.deepcopy(model), stream_fn, reps, "off", **options)
    bat = _traced(monkeypatch, copy.deepcopy(model), stream_fn, reps, "on", **options)
    assert len(seq[1]) == len(bat[1]) == reps
    for rep, (a, b) in enumerate(zip(seq[1], bat[1])):  # weights: bit-identical
        assert a.keys() == b.keys()
        for n in a:
            assert torch.equal(a[n], b[n]), (rep, n)
    for rep, (a, b) in enumerate(zip(seq[2], bat[2])):  # offsets: same rows, values to round-off
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            assert (x is None) == (y is None), (rep, i)
            if x is not None:
                assert x.shape == y.shape, (rep, i)
                torch.testing.assert_close(y, x, rtol=1e-4, atol=1e-5 * max(1.0, float(x.abs().max())))
    assert math.isfinite(seq[0]) and seq[0] > 0
    assert bat[0] == pytest.approx(seq[0], rel=REL)
    return seq[0], bat[0]


def _space_model(space, dataset, arch, **space_opts):
    sp = make_space(space, space_opts)
    ref = sp.parse(arch) if not arch.isdigit() else sp.arch(int(arch))
    return lambda: sp.build(ref, dataset)


# -- batched vs one by one, per space ---------------------------------------------------------------
NATS_TSS = [
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
]


@pytest.mark.parametrize("arch", NATS_TSS)
def test_batched_equals_sequential_nats_tss(monkeypatch, arch):
    # batch 8: the classifier (10 columns) needs a second batch, so multi-batch rows are covered too
    _compare(monkeypatch, _space_model("nats-tss", "cifar10", arch), lambda: _image_stream((3, 32, 32), 8))


def test_batched_equals_sequential_nats_tss_channels_last(monkeypatch):
    build = _space_model("nats-tss", "cifar10", NATS_TSS[0])
    stream = lambda: (lambda s: lambda: (s()[0].contiguous(memory_format=torch.channels_last), None))(  # noqa: E731
        _image_stream((3, 32, 32), 8)
    )
    _compare(monkeypatch, lambda: build().to(memory_format=torch.channels_last), stream)


def test_batched_equals_sequential_nats_sss(monkeypatch):
    _compare(monkeypatch, _space_model("nats-sss", "cifar10", "8:16:24:32:64"), lambda: _image_stream((3, 32, 32), 8))


def test_batched_equals_sequential_nb101(monkeypatch):
    _compare(
        monkeypatch,
        _space_model("nb101", "cifar10", "0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m"),
        lambda: _image_stream((3, 32, 32), 4),
        reps=2,
    )


@pytest.mark.parametrize("space,task", [("transnas-micro", "class_object"), ("transnas-macro", "segmentsemantic")])
def test_batched_equals_sequential_transnas(monkeypatch, space, task):
    sp = make_space(space, {"resolution": 64})
    shape = sp.input_spec(task).shape
    _compare(monkeypatch, _space_model(space, task, "3", resolution=64), lambda: _image_stream(shape, 2), reps=2)


def test_batched_equals_sequential_nb_nlp(monkeypatch, shared):
    from nasprox.spaces.nlp._nlp_model import RecipeLanguageModel

    recipe = json.loads(shared("nasbench_nlp/recepies_example.json").read_text())[1]
    # the benchmark's 10,000-token decoder would need 10,000 rows; a 24-token vocabulary keeps the
    # same recurrent network and needs 3 batches of 2 x 5 tokens (a multi-batch, multi-call plan)
    _compare(monkeypatch, lambda: RecipeLanguageModel(recipe, 24).train(), lambda: _token_stream(24, 2, 5), reps=2)


class _Siamese(nn.Module):
    """Every hooked module called 3 times per forward (as the TransNAS jigsaw network calls its encoder
    once per tile; that network itself needs ~100 batches to fill its 2048-column layers, too slow here)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 12, 3, padding=1),
            nn.BatchNorm2d(12),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(12, 20),
            nn.Tanh(),
        )
        self.head = nn.Linear(60, 5)

    def forward(self, x):
        return self.head(torch.cat([self.encoder(x[:, :, :, i : i + 4]) for i in (0, 2, 4)], dim=1))


def test_batched_equals_sequential_module_called_several_times(monkeypatch):
    _compare(monkeypatch, _Siamese, lambda: _image_stream((3, 4, 8), 3), reps=4)


def test_rep_chunks_and_oom_halving_change_nothing(monkeypatch):
    build = _space_model("nats-tss", "cifar10", NATS_TSS[0])
    torch.manual_seed(0)
    model = build()
    whole = _near(copy.deepcopy(model), _image_stream((3, 32, 32), 8), 5, "on", rep_chunk=5)
    ones = _near(copy.deepcopy(model), _image_stream((3, 32, 32), 8), 5, "on", rep_chunk=1)
    assert ones == pytest.approx(whole, rel=REL)
    real = _near_batched.batched_matrices
    sizes = []

    def small_memory(m, cached, plan, starts, states):
        sizes.append(starts.shape[0])
        if starts.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(m, cached, plan, starts, states)

    monkeypatch.setattr(_near_batched, "batched_matrices", small_memory)
    halved = _near(copy.deepcopy(model), _image_stream((3, 32, 32), 8), 5, "on", rep_chunk=4)
    assert halved == ones  # down to chunks of one repetition: the same computation
    assert sizes[:3] == [4, 2, 1] and max(sizes[3:]) == 1


class _Noisy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.drop, self.fc = nn.Conv2d(3, 8, 3), nn.Dropout(0.5), nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.drop(self.conv(x)).mean((2, 3)))


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 8, 3), nn.Linear(8, 4)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:  # data-dependent Python control flow
            y = y.relu()
        return self.fc(y.mean((2, 3)))


@pytest.mark.parametrize("make", [_Noisy, _Branchy])
def test_unbatchable_models_fall_back_to_the_sequential_score(make):
    torch.manual_seed(0)
    model = make()
    torch.manual_seed(5)
    expected = _near(copy.deepcopy(model), _image_stream((3, 8, 8), 4), 3, "off")
    torch.manual_seed(5)
    with pytest.warns(near.NearBatchingFallback, match="one by one"):
        value = _near(copy.deepcopy(model), _image_stream((3, 8, 8), 4), 3, "on")
    assert value == expected  # model, offsets and global RNG restored before the fallback


def test_cpu_drawn_reinit_equals_the_cpu_run_whatever_the_layout():
    """near.init_rng=cpu: a CPU copy draws the re-inits and they are copied over, giving the weights
    of a CPU run (channels_last there, contiguous on CUDA: the values must not depend on layout)."""
    build = _space_model("nats-tss", "cifar10", NATS_TSS[0])
    torch.manual_seed(0)
    cpu_run = build().to(memory_format=torch.channels_last)
    device_run = copy.deepcopy(cpu_run).to(memory_format=torch.contiguous_format)
    reinit = near._CpuDrawnReinit(device_run, seed=3)
    for rep in range(3):
        near._reinit(cpu_run, 3, rep, torch.device("cpu"))
        reinit(device_run, rep)
        for (n, a), b in zip(cpu_run.named_parameters(), device_run.parameters()):
            assert torch.equal(a, b), (rep, n)


def test_batched_auto_is_off_on_cpu(monkeypatch):
    called = []
    monkeypatch.setattr(_near_batched, "run", lambda *a, **k: called.append(1))
    torch.manual_seed(0)
    _near(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), _image_stream((3, 8, 8), 4), 2, "auto")
    assert not called


# -- exact launch cuts --------------------------------------------------------------------------
def test_batchnorm_reinit_skip_is_bit_identical(monkeypatch):
    """Norm layers are reset only after the first repetition: scores equal full resets exactly."""
    build = _space_model("nats-tss", "cifar10", NATS_TSS[0])

    def full_reset(model, seed, rep, device):
        with near._seeded_torch(seed * 1_000_003 + rep, device):
            near.reset_parameters(model)

    for eval_bn in (False, True):
        torch.manual_seed(0)
        model = build()
        if eval_bn:  # eval-mode BN uses its running statistics: still exact (eval never updates them)
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d) and random.Random(id(m)).random() < 0.5:
                    m.eval()
        fast = _near(copy.deepcopy(model), _image_stream((3, 32, 32), 8), 4, "off")
        with monkeypatch.context() as mp:
            mp.setattr(near, "_reinit", full_reset)
            slow = _near(copy.deepcopy(model), _image_stream((3, 32, 32), 8), 4, "off")
        assert fast == slow


def test_row_buffer_equals_full_concat_then_slice():
    """Rows kept across calls and batches, with in-place ops after hooked modules, bit for bit."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 24, 3, padding=1),
        nn.BatchNorm2d(24),
        nn.ReLU(inplace=True),
        nn.Conv2d(24, 40, 1),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(40, 30),
        nn.ReLU(inplace=True),
        nn.Linear(30, 5),
    )
    batches = [torch.randn(3, 3, 2, 3) for _ in range(12)]
    got = near.near_layer_matrices(model, batches, rng=np.random.default_rng(7))
    layers = near.hooked_modules(model)
    events = []
    handles = [
        m.register_forward_hook(
            lambda m, i, o, k=k: events.append(
                (
                    k,
                    near._as_rows(m, o).view.reshape(-1, o.shape[1] if o.dim() > 2 else o.shape[-1]).clone(),
                    o.shape[-1],
                )
            )
        )
        for k, m in enumerate(layers)
    ]
    with torch.no_grad():
        for x in batches:
            model(x)
    for h in handles:
        h.remove()
    rng, rows, expected = np.random.default_rng(7), {}, {}
    for k, mat, w_last in events:  # first-call order = completion order here (one call per forward)
        if k in expected:
            continue
        rows.setdefault(k, []).append(mat)
        full = torch.cat(rows[k])
        if full.shape[0] >= mat.shape[1]:
            kk = full.shape[0] // w_last - 1
            start = w_last * int(rng.integers(0, kk)) if kk > 0 else 0
            expected[k] = full[start : start + mat.shape[1]]
    for k, m in enumerate(got):
        want = expected.get(k, torch.cat(rows[k]) if k in rows else None)
        assert torch.equal(m, want), k


def _old_cell_forward(self, inputs):  # xautodl's sum() from int 0
    nodes = [inputs]
    for node_layers, node_innods in zip(self.node_IX, self.node_IN):
        nodes.append(sum(self.layers[il](nodes[ii]) for il, ii in zip(node_layers, node_innods)))
    return nodes[-1]


def _bits(t):
    return t.detach().contiguous().view(torch.int32)


def test_nb201_node_sum_from_first_term_is_bit_identical(monkeypatch):
    """Forward and backward (all parameter and input gradients) equal xautodl's 0 + ... sums bit for bit."""
    from nasprox.spaces.nats import _nb201_ops

    sp = make_space("nats-tss")
    keys = NATS_TSS + [
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
    ]
    keys += [sp.key(i) for i in random.Random(0).sample(range(len(sp)), 14)]
    x = torch.randn(4, 3, 32, 32)
    new_forward = _nb201_ops.InferCell.forward
    for n, key in enumerate(keys):
        fmt = torch.channels_last if n % 2 else torch.contiguous_format
        torch.manual_seed(0)
        model = sp.build(sp.parse(key), "cifar10").to(memory_format=fmt)
        results = []
        for forward in (_old_cell_forward, new_forward):
            monkeypatch.setattr(_nb201_ops.InferCell, "forward", forward)
            xx = x.clone().contiguous(memory_format=fmt).requires_grad_(True)
            out = model(xx)
            out.square().sum().backward()
            results.append([out] + [p.grad.clone() for p in model.parameters()] + [xx.grad])
            model.zero_grad(set_to_none=True)
        for a, b in zip(*results):
            assert torch.equal(_bits(a), _bits(b)), key


def test_conv_avg_pool_matches_native():
    """The opt-in depthwise-conv avg_pool_3x3: equal to 1e-6 (bitwise on the development machine)."""
    from nasprox.spaces.nats._nb201_ops import ConvAvgPool2d

    native = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    fast = ConvAvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    for shape in [(4, 16, 32, 32), (3, 64, 8, 8), (2, 5, 7, 3)]:
        for fmt in (torch.channels_last, torch.contiguous_format):
            x = torch.randn(shape).contiguous(memory_format=fmt)
            torch.testing.assert_close(fast(x), native(x), rtol=1e-6, atol=1e-7)


# -- engine: last proxy without a deep copy, OOM back-off, resume keys ---------------------------------
def _scorer(shared, proxies, **kw):
    config = RunConfig(
        space="nats-tss",
        dataset="cifar10",
        proxies=proxies,
        batch_size=8,
        device="cpu",
        data_root=str(shared(CIFAR)),
        proxy_options={"near": {"repetitions": "2"}},
        **kw,
    )
    return Scorer(config)


def test_last_proxy_scores_on_base_without_deep_copy(shared, monkeypatch):
    from nasprox.engine import runner

    arch = make_space("nats-tss").parse(NATS_TSS[0])
    forward = {r.proxy: r.score for r in _scorer(shared, ["near", "naswot", "snip"]).score_arch(arch)}
    copies = []
    real_deepcopy = copy.deepcopy
    monkeypatch.setattr(
        runner.copy, "deepcopy", lambda obj, *a: copies.append(type(obj).__name__) or real_deepcopy(obj, *a)
    )
    backward = {r.proxy: r.score for r in _scorer(shared, ["snip", "naswot", "near"]).score_arch(arch)}
    assert forward == backward  # each proxy once last (on base) and once on a deep copy
    assert copies.count("TinyNetwork") == 2  # 3 proxies, 2 copies of the network
    scorer = _scorer(shared, ["near"])  # build_model for the owner of base rebuilds it from its seed
    base = scorer.build(arch)
    state = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    fresh = scorer._fresh(arch)
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.get_rng_state(), state[2])
    for (n, a), (_, b) in zip(base.state_dict().items(), fresh.state_dict().items()):
        assert torch.equal(a, b), n


def test_oom_backoff_frees_the_failed_attempt_first(shared):
    scorer = _scorer(shared, ["naswot", "near"])
    seen = []

    def fake(ctx):
        if seen:
            gc.collect()  # nothing but the failed attempt's own garbage may keep its model alive
            assert seen[-1][1]() is None, "the failed attempt's model was still alive at the retry"
        seen.append((ctx.inputs.shape[0], weakref.ref(ctx.model)))
        if ctx.inputs.shape[0] > 2:
            big = torch.ones(1000)  # noqa: F841 - held by the failing frame, as a real OOM would
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return 1.0

    for i in range(2):  # first proxy (deep copy) and last proxy (owns base)
        scorer.proxies[i] = dataclasses.replace(scorer.proxies[i], fn=fake)
        seen.clear()
        rec = scorer.score_arch(make_space("nats-tss").parse(NATS_TSS[0]))[i]
        assert rec.status == "ok" and rec.batch_size == 2 and [b for b, _ in seen] == [8, 4, 2]
        scorer.proxies[i] = PROXIES.get(scorer.config.proxies[i])


def test_resume_key_unchanged_on_cpu_and_device_kind_off_cpu(shared):
    scorer = _scorer(shared, ["near"])
    cfg = {
        "source": str(shared(CIFAR)),
        "batch": 8,
        "augment": False,
        "options": {"repetitions": "2"},
        "memory_format": "channels_last",
    }
    old = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]
    assert scorer.data_config("near") == old  # the formula before this change, on CPU
    assert _scorer(shared, ["near"], allow_tf32=True).data_config("near") == old  # TF32 means nothing on CPU
    assert "allow_tf32" not in scorer.config.to_dict()  # provenance config hashes of older runs too
    spec = PROXIES.get("near")
    keys = set()
    for tf32 in (False, True):
        s = _scorer(shared, ["near"], allow_tf32=tf32)
        s.device = torch.device("cuda")  # the key alone (no GPU needed to compute it)
        keys.add(s._data_config(spec))
    assert len(keys) == 2 and old not in keys


# -- CUDA (scripts/gpu_check.sh) ----------------------------------------------------------------
@pytest.mark.cuda
@CUDA
def test_cuda_tf32_off_by_default_and_on_when_allowed(shared):
    config = RunConfig(
        space="nats-tss", dataset="cifar10", proxies=["near"], device="cuda", batch_size=8, data_root=str(shared(CIFAR))
    )
    Scorer(config)
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    Scorer(dataclasses.replace(config, allow_tf32=True))
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    Scorer(config)
    assert not torch.backends.cudnn.allow_tf32


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("arch", NATS_TSS)
def test_cuda_batched_equals_sequential_and_cpu(arch):
    from nasprox.engine.device import set_tf32

    set_tf32(False)
    build = _space_model("nats-tss", "cifar10", arch)
    torch.manual_seed(0)
    model = build()
    cpu = _near(copy.deepcopy(model), _image_stream((3, 32, 32), 16), 4, "off")

    def cuda(mode, **o):
        return _near(
            copy.deepcopy(model).cuda(), _image_stream((3, 32, 32), 16, device="cuda"), 4, mode, device="cuda", **o
        )

    # re-inits drawn by the CPU generator: the CPU run's weights, so only kernels differ (IEEE float32, no TF32)
    assert cuda("off", init_rng="cpu") == pytest.approx(cpu, rel=1e-5)
    assert cuda("auto", init_rng="cpu") == pytest.approx(cpu, rel=1e-5)
    # the default CUDA generator: other weights than on CPU, but batched and one by one see the same ones
    assert cuda("auto") == pytest.approx(cuda("off"), rel=1e-5)
