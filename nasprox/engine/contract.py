"""The registry-wide contract of a proxy and of a space, as code: the package's tests and ``nasprox check-plugin``
run these same checks (tests/test_proxy_contract.py, tests/test_spaces_registry.py, tests/test_plugins.py).

Proxies, each through the engine's own scoring path (``Scorer.score_arch``) on a few small example networks:

- ``scores``: a finite score (or ``ProxyUndefined``) on every example network; a NaN/inf returned silently or an
  exception is a failure (a proxy not defined for a network raises ``ProxyUndefined("why")``);
- ``leaves_model_unchanged`` (only for proxies declaring it): a spy scored after it gets the very network it
  scored on and compares it with a fresh seeded build (parameters, buffers, train/eval modes, hooks, grads);
- ``follows_batch`` (proxies that need real data): at its batch and at half of it, every sample of the batch
  it is handed (``ctx.inputs``) must reach the network's top-level forward; a proxy drawing a batch of its own
  or scoring a fixed slice of the one handed fails (further stream batches and data-free inputs are allowed).

Spaces: ``space``: datasets and description declared, example arch strings round-trip, ``build`` gives a model
in train mode whose forward returns the declared logits shape, an unknown dataset is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from nasprox.core import PROXIES, ArchRef, NasproxError, ProxyContext, ProxySpec, SearchSpace
from nasprox.engine.runner import RunConfig, Scorer, make_space

SPY = "contract_spy"
# spaces that build without benchmark files, with options that keep a CPU check small
SMALL_OPTIONS: dict[str, dict[str, Any]] = {"transnas-micro": {"resolution": 64}, "transnas-macro": {"resolution": 64}}


@dataclass(frozen=True)
class Check:
    """One line of ``nasprox check-plugin``: which check, on what, and why it failed."""

    check: str
    subject: str  # proxy or space name
    ok: bool
    detail: str = ""

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.subject:<16} {self.check:<24} {self.detail}".rstrip()


def differences(seen: torch.nn.Module, fresh: torch.nn.Module) -> list[str]:
    """How ``seen`` differs from ``fresh`` (same architecture, same seed); empty when it does not."""
    out = []
    a, b = seen.state_dict(), fresh.state_dict()
    out += [f"tensor {k}" for k in a if k not in b or not torch.equal(a[k], b[k])]
    for (name, m), (_, f) in zip(seen.named_modules(), fresh.named_modules(), strict=True):
        if m.training != f.training:
            out.append(f"mode of '{name}'")
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks:
            out.append(f"hooks left on '{name}'")
    out += [f"grad of {n}" for n, p in seen.named_parameters() if p.grad is not None]
    return out


def _spy(ctx: ProxyContext) -> float:
    found = differences(ctx.model, ctx.build_model())
    if found:
        raise AssertionError("network changed: " + ", ".join(found[:5]))
    return 1.0


@contextlib.contextmanager
def spy_registered() -> Iterator[str]:
    """The spy proxy registered for the duration (scored after a proxy, it gets the network that proxy left)."""
    spec = ProxySpec(name=SPY, fn=_spy, description="contract spy", needs_real_data=False, cost="free")
    PROXIES.register(SPY, spec)
    try:
        yield SPY
    finally:
        PROXIES.unregister(SPY)


def arch_of(space: SearchSpace, key: str | int) -> ArchRef:
    """An index of the space, or (nb101 without its benchmark file) an arch spec."""
    if isinstance(key, int) or key.isdigit():
        return space.arch(int(key))
    return space.parse(key)


def _config(space: str, dataset: str, proxies: list[str], **kw: Any) -> RunConfig:
    return RunConfig(
        space=space, dataset=dataset, proxies=proxies, synthetic=True, space_options=SMALL_OPTIONS.get(space, {}), **kw
    )


def leaves_model_unchanged_problems(name: str, space: str, dataset: str, archs: list[ArchRef]) -> list[str]:
    """What a ``leaves_model_unchanged`` proxy changed in the network it scored on (empty: nothing)."""
    with spy_registered() as spy:
        scorer = Scorer(_config(space, dataset, [name, spy]))
        out = []
        for arch in archs:
            records = scorer.score_arch(arch)
            if records[1].status != "ok":
                out.append(f"{space} arch {arch.index}: {records[1].error}")
    return out


def score_problems(name: str, space: str, dataset: str, archs: list[ArchRef], batch: int | None) -> list[str]:
    """Rows of ``name`` on ``archs`` that are neither a finite score nor ``ProxyUndefined``."""
    scorer = Scorer(_config(space, dataset, [name], batch_size=batch))
    out = []
    for arch in archs:
        (record,) = scorer.score_arch(arch)
        if record.status == "nonfinite":
            out.append(
                f"{space} arch {arch.index}: returned {record.score} silently; a proxy undefined for a network "
                "must raise ProxyUndefined('why')"
            )
        elif record.status not in ("ok", "undefined"):
            out.append(f"{space} arch {arch.index}: {record.status}: {record.error}")
    return out


def _rows(batch: torch.Tensor) -> list[bytes]:
    """One key per sample of ``batch`` (its values, whatever the memory layout or grad flag)."""
    flat = batch.detach().to("cpu").contiguous().reshape(batch.shape[0], -1)
    return [row.numpy().tobytes() for row in flat]


class _RecordingSpace:
    """Wraps a space so every network it builds records the samples its top-level forward is fed."""

    def __init__(self, space: SearchSpace):
        self.fed: set[bytes] = set()
        self.count = 0
        build = space.build

        def recorded(arch: ArchRef, dataset: str) -> torch.nn.Module:
            model = build(arch, dataset)
            model.register_forward_pre_hook(self._record)
            return model

        space.build = recorded  # type: ignore[method-assign]
        self.space = space

    def _record(self, module: torch.nn.Module, args: tuple) -> None:
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if first is not None and first.dim() > 0:
            self.count += int(first.shape[0])
            self.fed.update(_rows(first))


def batch_problems(name: str, space: str, dataset: str, arch: ArchRef, batch: int) -> tuple[list[str], str]:
    """(problems, note) of the ``follows_batch`` check at ``batch`` and at half of it: every sample of the batch
    the proxy is handed (``ctx.inputs``) must reach the network's top-level forward. A proxy that feeds a batch
    of its own, or only a slice of the one it is handed, fails; one that also feeds further batches of the
    stream (``ctx.next_batch()``) or a data-free input beside it (synflow's ones) does not."""
    notes = []
    for size in dict.fromkeys((batch, max(1, batch // 2))):
        recording = _RecordingSpace(make_space(space, SMALL_OPTIONS.get(space, {})))
        scorer = Scorer(_config(space, dataset, [name], batch_size=size), space=recording.space)
        handed = _rows(scorer.cached_stream(size).next()[0])  # the first batch of the seeded stream: ctx.inputs
        (record,) = scorer.score_arch(arch)
        if record.status not in ("ok", "undefined", "nonfinite"):
            return [f"{space} arch {arch.index} at batch {size}: {record.status}: {record.error}"], ""
        if not recording.count:
            return [], "no forward of the network: nothing to check"
        used = sum(row in recording.fed for row in handed)
        if used < len(handed):
            return [
                f"at batch {size} only {used} of the {len(handed)} samples it was handed reach the network "
                f"({recording.count} samples fed); score ctx.inputs (and ctx.next_batch())"
            ], ""
        notes.append(f"all {size} handed samples fed at batch {size}")
    return [], "; ".join(notes)


def check_proxy(
    name: str, spaces: list[tuple[str, str]] | None = None, n_archs: int = 2, batch: int | None = None
) -> list[Check]:
    """Every proxy check for ``name`` on ``n_archs`` example networks of each (space, dataset)."""
    spec = PROXIES.get(name)
    spaces = spaces or [("nats-tss", "cifar10")]
    results = []
    examples = {(s, d): make_space(s, SMALL_OPTIONS.get(s, {})).examples(n_archs) for s, d in spaces}

    def run(check: str, fn) -> None:
        try:
            problems, note = fn()
        except NasproxError:
            raise
        except Exception as exc:  # noqa: BLE001 - a check that crashes is a failed check, on one line
            problems, note = [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"], ""
        results.append(Check(check, name, not problems, "; ".join(problems) or note))

    run(
        "scores",
        lambda: ([p for (s, d), archs in examples.items() for p in score_problems(name, s, d, archs, batch)], "finite"),
    )
    if spec.leaves_model_unchanged:
        run(
            "leaves_model_unchanged",
            lambda: (
                [p for (s, d), archs in examples.items() for p in leaves_model_unchanged_problems(name, s, d, archs)],
                "network as found",
            ),
        )
    if spec.needs_real_data:
        (s, d), archs = next(iter(examples.items()))
        size = batch or Scorer(_config(s, d, [name])).batch_size_for(spec)
        run("follows_batch", lambda: batch_problems(name, s, d, archs[0], size))
    else:
        results.append(Check("follows_batch", name, True, "skipped: declares needs_real_data=False"))
    return results


def space_problems(space: SearchSpace, n_archs: int = 2) -> list[str]:
    """What breaks the space contract (empty: nothing)."""
    out = []
    if not (space.datasets and space.description and space.default_target):
        out.append("declares no datasets, description or default_target")
        return out
    for arch in space.examples(n_archs):
        if space.parse(arch.spec or arch.key).key != arch.key:
            out.append(f"arch string {arch.key!r} does not round-trip through parse()")
        dataset = space.datasets[0]
        spec = space.input_spec(dataset)
        model = space.build(arch, dataset)
        if not model.training:
            out.append("build() must return a model in train mode")
        if spec.kind == "image":
            x = torch.randn(2, *spec.shape)
        else:
            x = torch.randint(0, spec.num_classes, (2, *spec.shape))
        with torch.no_grad():
            y = model(x)
        if not isinstance(y, torch.Tensor):
            out.append("forward must return one logits tensor")
        elif spec.task == "classification" and tuple(y.shape) != (2, spec.num_classes):
            out.append(f"forward gives shape {tuple(y.shape)}, declared (2, {spec.num_classes})")
        elif spec.task == "language_model" and (y.shape[0] != 2 or y.shape[-1] != spec.num_classes):
            out.append(f"forward gives shape {tuple(y.shape)}, declared (2, ..., {spec.num_classes})")
        elif y.shape[0] != 2 or y.numel() == 0:
            out.append(f"forward gives shape {tuple(y.shape)} for a batch of 2")
    try:
        space.check_dataset("no-such-dataset")
        out.append("check_dataset accepts an unknown dataset")
    except NasproxError:
        pass
    return out


def check_space(name: str, n_archs: int = 2) -> list[Check]:
    try:
        problems = space_problems(make_space(name, SMALL_OPTIONS.get(name, {})), n_archs)
    except Exception as exc:  # noqa: BLE001
        problems = [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]
    return [Check("space", name, not problems, "; ".join(problems) or "builds, forwards, round-trips")]
