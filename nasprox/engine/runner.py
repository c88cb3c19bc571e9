"""The scoring loop: architectures x proxies -> ScoreRecords. It yields records; it never writes."""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nasprox.core import (
    PROXIES,
    SPACES,
    ArchRef,
    CellTopology,
    InputSpec,
    NasproxError,
    ProxyContext,
    ProxySpec,
    ProxyUndefined,
    ResultKey,
    ScoreRecord,
    SearchSpace,
    load_yaml,
)
from nasprox.core.plugins import load_files, loaded_files
from nasprox.engine.device import MemoryMeter, empty_cache, is_oom, resolve_device, set_tf32
from nasprox.engine.seeding import derive_seed, seed_everything

if TYPE_CHECKING:
    from nasprox.data.images import ImageSource


@dataclass
class RunConfig:
    """Everything that determines the scores of a run (and so the resume key), JSON-serialisable."""

    space: str
    dataset: str
    proxies: list[str]
    seed: int = 0
    batch_size: int | None = None  # None: each proxy's reference batch size, else DEFAULT_BATCH_SIZE
    device: str = "auto"
    data_root: str | None = None
    synthetic: bool = False
    augment: bool = False
    proxy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    benchmark: str | None = None
    ground_truth: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)  # constructor kwargs, e.g. resolution=64
    # auto: channels_last for image models on CPU (NEAR measured 1.6-2.2x faster; scores equal to round-off,
    # see docs/performance.md), contiguous elsewhere (not measured on CUDA)
    memory_format: str = "auto"
    # intra-op CPU threads of every scoring process: reductions split differently across threads, so the
    # same count everywhere makes CPU scores identical whatever --workers or --shard (1 by default)
    threads: int = 1
    # CUDA only: let matmuls and cuDNN convolutions use TF32 (10-bit mantissa products; faster, scores
    # drift ~1e-3 relative). Off by default; part of the resume key on non-CPU devices
    allow_tf32: bool = False
    # plug-in files (``--plugin``) loaded in this process: every process scoring this config loads them too
    # (spawned workers, Ray); their content is in their proxies' versions (nasprox.core.plugins)
    plugins: list[str] = field(default_factory=loaded_files)
    # what the data_config hashes as the data source instead of ``data_root``'s text: ``score --like`` reads
    # the recorded file from another path (same sha256) and keeps the recorded rows' data_config
    data_label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not out["allow_tf32"]:  # absent at its default: provenance config hashes of older runs stay valid
            del out["allow_tf32"]
        for name in ("plugins", "data_label"):  # likewise
            if not out[name]:
                del out[name]
        return out


def parse_proxy_options(
    items: Iterable[str], proxies: list[str], warn: Callable[[str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """``near.repetitions=8`` -> {"near": {"repetitions": 8}}, validated against each proxy's declared options.

    Values are typed and keyed by canonical names (an old alias is mapped, with a one-line
    ``nasprox: warning: ...`` on stderr, or ``warn(message)``). An unprefixed ``name=value`` (e.g.
    ``batch_size=32``) applies to every selected proxy that declares ``name``; a later item overrides
    an earlier one for the same proxy and option. A malformed item, an
    unknown proxy or option, or an ill-typed value raises a one-line NasproxError (CLI exit 2) here, at
    flag-parse time, before any file is opened or written.

    Resume keys: ``Scorer._data_config`` hashes this dict per proxy. Without ``--proxy-opt`` it is
    empty as before, so the keys of runs without options are byte-identical; with options the hash
    now covers the validated values (``{"repetitions": 8}``, formerly the text ``{"repetitions": "8"}``),
    so such a run gets new keys once. The result stays JSON-serialisable (int, float, bool, str).
    """
    import difflib
    import sys

    from nasprox.core import validate_proxy_options

    if warn is None:

        def warn(message: str) -> None:
            print(f"nasprox: warning: {message}", file=sys.stderr, flush=True)

    def accepted(proxy: str) -> set[str]:  # names and old aliases a proxy accepts
        return {k for o in PROXIES.get(proxy).all_options.values() for k in (o.name, *o.aliases)}

    selected = [PROXIES.canonical(p) for p in proxies]
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, eq, value = item.partition("=")
        target, dot, opt = name.strip().rpartition(".")
        if not eq or not opt.strip() or (dot and not target.strip()):
            raise NasproxError(f"--proxy-opt '{item}' must look like proxy.option=value")
        opt = opt.strip()
        if dot:
            targets = [PROXIES.canonical(target)]
        else:
            targets = [p for p in selected if opt in accepted(p)]
            if not targets:
                known = sorted(set().union(*(accepted(p) for p in selected)))
                close = difflib.get_close_matches(opt, known, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise NasproxError(
                    f"--proxy-opt '{item}': no selected proxy has an option '{opt}'{hint} "
                    f"(see `nasprox proxies --details NAME`)"
                )
        for t in targets:  # one item at a time, so a later item overrides an earlier one (also via an alias)
            out.setdefault(t, {}).update(validate_proxy_options(PROXIES.get(t), {opt: value.strip()}, warn=warn))
    return out


MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
DEFAULT_BATCH_SIZE = 64  # the foresight NB201 batch (PROXY_SPEC §1.2) for proxies that declare none


def meaningful_options(proxy: ProxySpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that change a score: without ``batch_size`` (hashed as the batch itself) and without
    options set to their declared default, so ``near.repetitions=32`` and no option give one resume key."""
    defaults = {o.name: o.default for o in getattr(proxy, "options", ())}
    return {
        k: v
        for k, v in options.items()
        if k != "batch_size" and not (k in defaults and str(v).lower() == str(defaults[k]).lower())
    }


class _BatchCache:
    """Batches of one seeded stream, drawn on first use and kept (a proxy rarely needs more than a few)."""

    def __init__(self, stream, memory_format: torch.memory_format = torch.contiguous_format):
        self._stream, self._format = stream, memory_format
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def get(self, i: int):
        while len(self.batches) <= i:
            inputs, labels = self._stream.next()
            if inputs.dim() == 4:
                inputs = inputs.contiguous(memory_format=self._format)
            self.batches.append((inputs, labels))
        return self.batches[i]


class _Replay:
    """A per-(arch, proxy) cursor over a _BatchCache with the stream's ``next()`` interface."""

    def __init__(self, cache: _BatchCache):
        self._cache, self._i = cache, 0

    def next(self):
        inputs, labels = self._cache.get(self._i)
        self._i += 1
        return inputs.clone(), labels.clone()  # proxies may set requires_grad or write in place


def parse_space_options(items: Iterable[str]) -> dict[str, Any]:
    """``resolution=64`` -> {"resolution": 64} (values parsed as YAML scalars: ints, floats, bools)."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise NasproxError(f"--space-opt '{item}' must look like name=value")
        out[name.strip()] = load_yaml(value)
    return out


def make_space(name: str, options: Mapping[str, Any] | None = None) -> SearchSpace:
    """The space's instance; option names are checked against its constructor, values against their defaults' types."""
    import inspect

    factory = SPACES.get(name)
    options = dict(options or {})
    params = {
        p.name: p
        for p in list(inspect.signature(factory).parameters.values())
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    unknown = sorted(set(options) - set(params))
    if unknown:
        takes = ", ".join(f"{p.name} (default {p.default!r})" for p in params.values()) or "no options"
        raise NasproxError(f"space {name} does not take the option(s) {', '.join(unknown)}; it takes: {takes}")
    for key, value in options.items():
        default = params[key].default
        expected = type(default) if default is not inspect.Parameter.empty and default is not None else None
        if expected is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            options[key] = value = str(value)  # hp=200 is read as a number
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            options[key] = value = float(value)
        if expected is not None and not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise NasproxError(
                f"space {name} option {key}={value!r} is not a valid {expected.__name__} (default {default!r})"
            )
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        raise NasproxError(f"space {name} rejects the options {options}: {exc}") from None


@contextlib.contextmanager
def _global_rngs_kept(device: torch.device) -> Iterator[None]:
    """Python's, NumPy's and torch's global RNG states (the CUDA device's too) are restored on exit."""
    import random

    import numpy as np

    states = (random.getstate(), np.random.get_state())
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])


class Scorer:
    """Scores architectures of one (space, dataset) with a list of proxies."""

    def __init__(self, config: RunConfig, space: SearchSpace | None = None):
        self.config = config
        load_files(config.plugins)  # no-op where already loaded (the CLI's --plugin); a worker process loads them
        self.space = space or make_space(config.space, config.space_options)
        self.space.check_dataset(config.dataset)
        if config.benchmark or config.ground_truth:
            self.space.configure(
                benchmark=Path(config.benchmark) if config.benchmark else None,
                ground_truth=Path(config.ground_truth) if config.ground_truth else None,
            )
        self.proxies: list[ProxySpec] = [PROXIES.get(p) for p in config.proxies]
        self.device = resolve_device(config.device)
        if self.device.type == "cuda":
            set_tf32(config.allow_tf32)
        self.input_spec: InputSpec = self.space.input_spec(config.dataset)
        self.memory_format = self._memory_format()
        self.loss_fn = self.space.loss_fn(config.dataset)
        self._source: ImageSource | None = None  # loaded lazily, once, shared by every stream
        self._batch_cache: dict[int, _BatchCache] = {}
        self._data_configs = {p.name: self._data_config(p) for p in self.proxies}
        self._check_batches_fit()

    def _memory_format(self) -> torch.memory_format:
        choice = self.config.memory_format
        if choice not in MEMORY_FORMATS:
            raise NasproxError(f"memory format must be one of {', '.join(MEMORY_FORMATS)}, not '{choice}'")
        images = self.input_spec.kind == "image" and len(self.input_spec.shape) == 3
        if choice == "auto":
            choice = "channels_last" if images and self.device.type == "cpu" else "contiguous"
        return torch.channels_last if choice == "channels_last" and images else torch.contiguous_format

    # -- inputs -----------------------------------------------------------------------------------
    def batch_size_for(self, proxy: ProxySpec) -> int:
        """The proxy's own option, else the run's --batch-size, else the proxy's reference batch, else 64."""
        opts = self.config.proxy_options.get(proxy.name, {})
        if "batch_size" in opts:
            return int(opts["batch_size"])
        return self.config.batch_size or proxy.default_batch_size or DEFAULT_BATCH_SIZE

    def _data_config(self, proxy: ProxySpec) -> str:
        cfg = {
            "source": "synthetic" if self.config.synthetic else str(self.config.data_label or self.config.data_root),
            "batch": self.batch_size_for(proxy),
            "augment": self.config.augment,
            "options": meaningful_options(proxy, self.config.proxy_options.get(proxy.name, {})),
        }
        if self.memory_format == torch.channels_last:  # round-off differs, so resume keys differ too
            cfg["memory_format"] = "channels_last"
        if self.device.type == "cpu" and self.config.threads != 1:  # likewise (absent at 1: older keys stay valid)
            cfg["threads"] = self.config.threads
        if self.device.type != "cpu":  # other kernels and precision: never mixed with CPU rows (absent on CPU)
            cfg["device"], cfg["tf32"] = self.device.type, self.config.allow_tf32
        return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]

    def _check_batches_fit(self) -> None:
        """A batch larger than the image set would repeat images (a singular NASWOT kernel): refuse up front."""
        if self.config.synthetic or self.config.data_root is None:
            return
        if self.input_spec.kind == "tokens":  # reading the corpus now reports a bad --data-root before any output
            self.stream(1).next()
            return
        if self.input_spec.kind != "image":
            return
        from nasprox.data.images import load_image_source

        self._source = load_image_source(self.config.dataset, self.config.data_root, self.input_spec.shape[-2])
        if self.input_spec.task == "classification":
            self._source.check_labels(self.input_spec.num_classes, self.config.dataset)
        n_images = len(self._source.x)
        for proxy in self.proxies:
            if proxy.needs_real_data and self.batch_size_for(proxy) > n_images:
                raise NasproxError(
                    f"{proxy.name} needs a batch of {self.batch_size_for(proxy)} but {self.config.data_root} holds "
                    f"{n_images} images; give --proxy-opt {proxy.name}.batch_size=N (N <= {n_images}) or more images"
                )

    @property
    def data_notes(self) -> tuple[str, ...]:
        """What was converted when the input images were read (layout, value range), one line each."""
        return self._source.notes if self._source is not None else ()

    def data_config(self, proxy_name: str) -> str:
        return self._data_configs[proxy_name]

    def stream(self, batch_size: int):
        """A fresh seeded batch stream: every architecture sees the same batches in the same order."""
        spec = self.input_spec
        if spec.kind == "tokens":
            from nasprox.data.text import token_batches  # PTB/WikiText token batches

            return token_batches(
                self.config.dataset,
                batch_size,
                self.config.seed,
                seq_len=spec.shape[0],
                data_root=self.config.data_root,
                synthetic=self.config.synthetic,
                vocab_size=spec.num_classes,
                device=self.device,
            )
        from nasprox.data.images import ImageStream, load_image_source

        gaussian = self.config.synthetic or self._data_free()
        if self._source is None and not gaussian:
            if self.config.data_root is None:
                raise NasproxError("no input data: give --data-root DIR (or an .npz with x/y), or --synthetic")
            self._source = load_image_source(self.config.dataset, self.config.data_root, spec.shape[-2])
        from nasprox.data.images import DATASET_NORM

        return ImageStream(
            None if gaussian else self._source,
            batch_size,
            self.config.seed,
            shape=spec.shape,
            norm=spec.norm or DATASET_NORM.get(self.config.dataset, "cifar10"),
            augment=self.config.augment,
            num_classes=spec.num_classes if spec.task == "classification" else None,
            device=self.device,
        )

    def _data_free(self) -> bool:
        """No data root, and no proxy of the run reads real inputs (params, flops, synflow, zen): their
        placeholder batch may be Gaussian without changing any score."""
        return self.config.data_root is None and not any(p.needs_real_data for p in self.proxies)

    def cached_stream(self, batch_size: int) -> _Replay:
        """The seeded stream for this batch size, replayed from a cache shared by all architectures.

        Every architecture sees the same batches in the same order, so batches are decoded,
        normalised and moved to the device once per run instead of once per (arch, proxy).
        """
        cache = self._batch_cache.get(batch_size)
        if cache is None:
            cache = self._batch_cache[batch_size] = _BatchCache(self.stream(batch_size), self.memory_format)
        return _Replay(cache)

    def _targets(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        make = getattr(self.space, "make_targets", None)
        if make is None or self.input_spec.task in ("classification", "language_model"):
            return labels
        gen = torch.Generator().manual_seed(self.config.seed)
        return make(self.config.dataset, inputs, labels, gen)

    # -- scoring ----------------------------------------------------------------------------------
    def build(self, arch: ArchRef) -> torch.nn.Module:
        if arch.index < 0 and arch.spec:  # not in the index: re-parse so this process's space knows it
            arch = self.space.parse(arch.spec)
        seed_everything(derive_seed(self.config.seed, self.space.name, arch.key))
        return self.space.build(arch, self.config.dataset)

    def topology(self, arch: ArchRef) -> tuple[CellTopology, ...] | None:
        """The architecture's cells as the space counts them (``SearchSpace.topology``), for topology proxies."""
        if arch.index < 0 and arch.spec:  # as in build: this process's space may not know the arch yet
            arch = self.space.parse(arch.spec)
        return self.space.topology(arch)

    def thin_network(self, arch: ArchRef) -> torch.nn.Module | None:
        """The architecture's TE-NAS thin network (``SearchSpace.thin_network``), seeded from the run seed and the
        arch (apart from the real network's seed), in train mode on the run's device; None where the space has none.
        Global RNG states are left as they were, so a proxy's own draws do not depend on whether it built one."""
        if arch.index < 0 and arch.spec:  # as in build: this process's space may not know the arch yet
            arch = self.space.parse(arch.spec)
        with _global_rngs_kept(self.device):
            seed_everything(derive_seed(self.config.seed, self.space.name, arch.key, "thin_network"))
            model = self.space.thin_network(arch, self.config.dataset)
        return None if model is None else model.to(self.device).train()

    def build_on_device(self, arch: ArchRef) -> torch.nn.Module:
        """The seeded network as proxies receive it: on the run's device, in its memory format."""
        return self.build(arch).to(self.device, memory_format=self.memory_format)  # type: ignore[call-overload]  # stubs lack memory_format

    def score_arch(self, arch: ArchRef, skip: Callable[[str], bool] = lambda name: False) -> list[ScoreRecord]:
        """All (not skipped) proxies on one architecture; failures become rows, never exceptions."""
        todo = [p for p in self.proxies if not skip(p.name)]
        if not todo:
            return []
        gt = dict(self.space.ground_truth(arch, self.config.dataset))
        try:
            base = self.build_on_device(arch)
        except Exception as exc:
            return [
                self._record(
                    arch,
                    p,
                    math.nan,
                    "error",
                    f"build failed: {exc.__class__.__name__}: {exc}",
                    0.0,
                    0.0,
                    self.batch_size_for(p),
                    gt,
                )
                for p in todo
            ]
        # proxies that leave the network unchanged score on ``base`` itself, first; of the others, each gets a deep
        # copy but the last, which gets ``base`` (nothing scores on it afterwards) and holds its only reference, so
        # an OOM back-off can free it. Within each, a proxy whose work serves the others' (ProxySpec.scored_first)
        # goes first. Rows keep the run's proxy order.
        ordered = sorted(todo, key=lambda p: not p.scored_first)
        sharing = [p for p in ordered if p.leaves_model_unchanged]
        copying = [p for p in ordered if not p.leaves_model_unchanged]
        memo: dict = {}  # ProxyContext.memo: one per architecture, shared by its proxies (SWAP, loss gradients)
        by_name = {p.name: self._score_one(arch, p, base, gt, memo) for p in sharing}
        holder = [base]
        del base
        for proxy in copying[:-1]:
            by_name[proxy.name] = self._score_one(arch, proxy, holder[0], gt, memo)
        if copying:
            by_name[copying[-1].name] = self._score_one(arch, copying[-1], holder.pop(), gt, memo, owns_base=True)
        return [by_name[p.name] for p in todo]

    def _fresh(self, arch: ArchRef) -> torch.nn.Module:
        """A model equal to a fresh ``base`` (seeded build), leaving every global RNG as it was."""
        with _global_rngs_kept(self.device):
            return self.build_on_device(arch)

    def _score_one(
        self,
        arch: ArchRef,
        proxy: ProxySpec,
        base: torch.nn.Module,
        gt: Mapping[str, float],
        memo: dict,
        owns_base: bool = False,
    ) -> ScoreRecord:
        batch = self.batch_size_for(proxy)
        while True:
            try:
                return self._attempt(arch, proxy, base, gt, batch, owns_base, memo)
            except ProxyUndefined as exc:
                return self._record(arch, proxy, math.nan, "undefined", str(exc), 0.0, 0.0, batch, gt)
            except NasproxError:
                raise  # user error (e.g. missing data): stop the run with a clear message
            except Exception as exc:  # noqa: BLE001 - a failing proxy becomes a row
                if not is_oom(exc):
                    msg = f"{exc.__class__.__name__}: {exc}".splitlines()[0] if str(exc) else exc.__class__.__name__
                    return self._record(arch, proxy, math.nan, "error", msg, 0.0, 0.0, batch, gt)
            # out of memory. The failed attempt's frames (context, model copy, batch) ended with ``_attempt`` and,
            # out of the except block, with its traceback; collect them and empty the cache before retrying
            if owns_base:  # the failed attempt may have changed base: rebuild it once the memory is free
                del base
            gc.collect()
            empty_cache(self.device)
            if owns_base:
                base = self._fresh(arch)
            if batch > 1:
                batch = max(1, batch // 2)  # OOM back-off: retry with half the batch (recorded in the row)
                continue
            return self._record(arch, proxy, math.nan, "oom", "out of memory at batch 1", 0.0, 0.0, batch, gt)

    def _attempt(
        self,
        arch: ArchRef,
        proxy: ProxySpec,
        base: torch.nn.Module,
        gt: Mapping[str, float],
        batch: int,
        owns_base: bool,
        memo: dict,
    ) -> ScoreRecord:
        """One try of ``proxy`` at ``batch``; raises what the proxy raises."""
        meter = MemoryMeter(self.device)
        stream = self.cached_stream(batch)
        inputs, labels = stream.next()
        build_model: Callable[[], torch.nn.Module]
        if owns_base:  # the proxy may change ``base``; build_model then rebuilds it from its seed
            model, build_model = base, (lambda: self._fresh(arch))
        elif proxy.leaves_model_unchanged:  # it scores on ``base`` itself (ProxySpec.leaves_model_unchanged)
            model, build_model = base, (lambda: copy.deepcopy(base))
        else:
            model, build_model = copy.deepcopy(base), (lambda: copy.deepcopy(base))
        ctx = ProxyContext(
            model=model,
            build_model=build_model,
            inputs=inputs,
            targets=self._targets(inputs, labels),
            input_spec=self.input_spec,
            loss_fn=self.loss_fn,
            next_batch=stream.next,
            device=self.device,
            seed=self.config.seed,
            space=self.space.name,
            arch=arch,
            options=self.config.proxy_options.get(proxy.name, {}),
            memo=memo,
            topology=lambda: self.topology(arch),
            thin_network=lambda: self.thin_network(arch),
        )
        seed_everything(derive_seed(self.config.seed, arch.key, proxy.name))
        meter.start()
        t0 = time.perf_counter()
        value = proxy.fn(ctx)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - t0
        value = float(value)
        status = "ok" if math.isfinite(value) else "nonfinite"
        return self._record(
            arch,
            proxy,
            value,
            status,
            "" if status == "ok" else f"score is {value}",
            seconds,
            meter.peak_mb(),
            batch,
            gt,
        )

    def _record(self, arch, proxy, value, status, error, seconds, peak, batch, gt) -> ScoreRecord:
        return ScoreRecord(
            space=self.space.name,
            arch_index=arch.index,
            arch=arch.key,
            dataset=self.config.dataset,
            proxy=proxy.name,
            proxy_version=proxy.version,
            seed=self.config.seed,
            data_config=self._data_configs[proxy.name],
            score=value,
            status=status,
            error=error,
            seconds=seconds,
            peak_mem_mb=peak,
            batch_size=batch,
            device=str(self.device),
            ground_truth=gt,
        )

    def failure_record(
        self, arch: ArchRef, proxy: ProxySpec, status: str, error: str, seconds: float = 0.0
    ) -> ScoreRecord:
        """A row for a proxy that produced no value (worker timeout or crash)."""
        try:
            gt = dict(self.space.ground_truth(arch, self.config.dataset))
        except Exception:  # noqa: BLE001 - the row matters more than its ground truth
            gt = {}
        return self._record(arch, proxy, math.nan, status, error, seconds, 0.0, self.batch_size_for(proxy), gt)

    def key(self, arch: ArchRef, proxy_name: str) -> ResultKey:
        p = PROXIES.get(proxy_name)
        return ResultKey(
            self.space.name,
            arch.index,
            arch.key,
            self.config.dataset,
            p.name,
            p.version,
            self.config.seed,
            self._data_configs[p.name],
        )

    def skip_set(self, arch: ArchRef, done: AbstractSet[ResultKey]) -> frozenset[str]:
        """Names of this run's proxies whose row for ``arch`` is already in ``done`` (resume)."""
        return frozenset(p.name for p in self.proxies if self.key(arch, p.name) in done)

    def run(self, archs: Iterable[ArchRef], done: AbstractSet[ResultKey] = frozenset()) -> Iterator[list[ScoreRecord]]:
        """Yield each architecture's new records, skipping keys already in ``done`` (resume)."""
        for arch in archs:
            recs = self.score_arch(arch, skip=self.skip_set(arch, done).__contains__)
            if recs:
                yield recs
