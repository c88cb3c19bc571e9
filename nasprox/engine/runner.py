"""The scoring loop: architectures x proxies -> ScoreRecords. It yields records; it never writes."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

from nasprox.core import (PROXIES, SPACES, ArchRef, InputSpec, NasproxError, ProxyContext, ProxySpec,
                          ProxyUndefined, ScoreRecord, SearchSpace)
from nasprox.engine.device import MemoryMeter, empty_cache, is_oom, resolve_device
from nasprox.engine.seeding import derive_seed, seed_everything


@dataclass
class RunConfig:
    """Everything that determines the scores of a run (and so the resume key), JSON-serialisable."""

    space: str
    dataset: str
    proxies: list[str]
    seed: int = 0
    batch_size: int = 64
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_proxy_options(items: Iterable[str], proxies: list[str]) -> dict[str, dict[str, str]]:
    """``near.repetitions=8`` -> {"near": {"repetitions": "8"}}; ``batch_size=32`` applies to all."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise NasproxError(f"--proxy-opt '{item}' must look like proxy.option=value")
        target, dot, opt = name.strip().rpartition(".")
        targets = [PROXIES.canonical(target)] if dot else proxies
        for t in targets:
            out.setdefault(t, {})[opt] = value.strip()
    return out


MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


class _BatchCache:
    """Batches of one seeded stream, drawn on first use and kept (a proxy rarely needs more than a few)."""

    def __init__(self, stream, memory_format: torch.memory_format = torch.contiguous_format):
        self._stream, self.batches, self._format = stream, [], memory_format

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
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise NasproxError(f"--space-opt '{item}' must look like name=value")
        out[name.strip()] = yaml.safe_load(value)
    return out


def make_space(name: str, options: Mapping[str, Any] | None = None) -> SearchSpace:
    factory = SPACES.get(name)
    try:
        return factory(**dict(options or {}))
    except TypeError as exc:
        raise NasproxError(f"space {name} does not take these options {sorted(options or {})}: {exc}") from None


class Scorer:
    """Scores architectures of one (space, dataset) with a list of proxies."""

    def __init__(self, config: RunConfig, space: SearchSpace | None = None):
        self.config = config
        self.space = space or make_space(config.space, config.space_options)
        self.space.check_dataset(config.dataset)
        if config.benchmark or config.ground_truth:
            self.space.configure(
                benchmark=Path(config.benchmark) if config.benchmark else None,
                ground_truth=Path(config.ground_truth) if config.ground_truth else None,
            )
        self.proxies: list[ProxySpec] = [PROXIES.get(p) for p in config.proxies]
        self.device = resolve_device(config.device)
        self.input_spec: InputSpec = self.space.input_spec(config.dataset)
        self.memory_format = self._memory_format()
        self.loss_fn = self.space.loss_fn(config.dataset)
        self._source = None  # loaded lazily, once, shared by every stream
        self._batch_cache: dict[int, _BatchCache] = {}
        self._data_configs = {p.name: self._data_config(p) for p in self.proxies}

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
        opts = self.config.proxy_options.get(proxy.name, {})
        if "batch_size" in opts:
            return int(opts["batch_size"])
        return proxy.default_batch_size or self.config.batch_size

    def _data_config(self, proxy: ProxySpec) -> str:
        cfg = {
            "source": "synthetic" if self.config.synthetic else str(self.config.data_root),
            "batch": self.batch_size_for(proxy), "augment": self.config.augment,
            "options": self.config.proxy_options.get(proxy.name, {}),
        }
        if self.memory_format == torch.channels_last:  # round-off differs, so resume keys differ too
            cfg["memory_format"] = "channels_last"
        return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]

    def data_config(self, proxy_name: str) -> str:
        return self._data_configs[proxy_name]

    def stream(self, batch_size: int):
        """A fresh seeded batch stream: every architecture sees the same batches in the same order."""
        spec = self.input_spec
        if spec.kind == "tokens":
            from nasprox.data.text import token_batches  # PTB/WikiText token batches

            return token_batches(self.config.dataset, batch_size, self.config.seed, seq_len=spec.shape[0],
                                 data_root=self.config.data_root, synthetic=self.config.synthetic,
                                 vocab_size=spec.num_classes, device=self.device)
        from nasprox.data.images import ImageStream, load_image_source

        if self._source is None and not self.config.synthetic:
            if self.config.data_root is None:
                raise NasproxError("no input data: give --data-root DIR (or an .npz with x/y), or --synthetic")
            self._source = load_image_source(self.config.dataset, self.config.data_root, spec.shape[-2])
        from nasprox.data.images import DATASET_NORM

        return ImageStream(None if self.config.synthetic else self._source, batch_size, self.config.seed,
                           shape=spec.shape, norm=spec.norm or DATASET_NORM.get(self.config.dataset, "cifar10"),
                           augment=self.config.augment, num_classes=spec.num_classes if spec.task == "classification" else None,
                           device=self.device)

    def cached_stream(self, batch_size: int) -> "_Replay":
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

    def score_arch(self, arch: ArchRef, skip: Callable[[str], bool] = lambda name: False) -> list[ScoreRecord]:
        """All (not skipped) proxies on one architecture; failures become rows, never exceptions."""
        todo = [p for p in self.proxies if not skip(p.name)]
        if not todo:
            return []
        gt = dict(self.space.ground_truth(arch, self.config.dataset))
        try:
            base = self.build(arch).to(self.device, memory_format=self.memory_format)
        except Exception as exc:
            return [self._record(arch, p, math.nan, "error", f"build failed: {exc.__class__.__name__}: {exc}",
                                 0.0, 0.0, self.batch_size_for(p), gt) for p in todo]
        return [self._score_one(arch, proxy, base, gt) for proxy in todo]

    def _score_one(self, arch: ArchRef, proxy: ProxySpec, base: torch.nn.Module, gt: Mapping[str, float]) -> ScoreRecord:
        batch = self.batch_size_for(proxy)
        meter = MemoryMeter(self.device)
        while True:
            try:
                stream = self.cached_stream(batch)
                inputs, labels = stream.next()
                ctx = ProxyContext(
                    model=copy.deepcopy(base), build_model=lambda: copy.deepcopy(base), inputs=inputs,
                    targets=self._targets(inputs, labels), input_spec=self.input_spec, loss_fn=self.loss_fn,
                    next_batch=stream.next, device=self.device, seed=self.config.seed, space=self.space.name,
                    arch=arch, options=self.config.proxy_options.get(proxy.name, {}),
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
                return self._record(arch, proxy, value, status, "" if status == "ok" else f"score is {value}",
                                    seconds, meter.peak_mb(), batch, gt)
            except ProxyUndefined as exc:
                return self._record(arch, proxy, math.nan, "undefined", str(exc), 0.0, 0.0, batch, gt)
            except NasproxError:
                raise  # user error (e.g. missing data): stop the run with a clear message
            except Exception as exc:  # noqa: BLE001 - a failing proxy becomes a row
                if is_oom(exc):
                    empty_cache(self.device)
                    if batch > 1:
                        batch = max(1, batch // 2)  # OOM back-off: retry with half the batch
                        continue
                    return self._record(arch, proxy, math.nan, "oom", "out of memory at batch 1", 0.0, 0.0, batch, gt)
                msg = f"{exc.__class__.__name__}: {exc}".splitlines()[0] if str(exc) else exc.__class__.__name__
                return self._record(arch, proxy, math.nan, "error", msg, 0.0, 0.0, batch, gt)

    def _record(self, arch, proxy, value, status, error, seconds, peak, batch, gt) -> ScoreRecord:
        return ScoreRecord(
            space=self.space.name, arch_index=arch.index, arch=arch.key, dataset=self.config.dataset,
            proxy=proxy.name, proxy_version=proxy.version, seed=self.config.seed,
            data_config=self._data_configs[proxy.name], score=value, status=status, error=error,
            seconds=seconds, peak_mem_mb=peak, batch_size=batch, device=str(self.device), ground_truth=gt,
        )

    def failure_record(self, arch: ArchRef, proxy: ProxySpec, status: str, error: str, seconds: float = 0.0) -> ScoreRecord:
        """A row for a proxy that produced no value (worker timeout or crash)."""
        try:
            gt = dict(self.space.ground_truth(arch, self.config.dataset))
        except Exception:  # noqa: BLE001 - the row matters more than its ground truth
            gt = {}
        return self._record(arch, proxy, math.nan, status, error, seconds, 0.0, self.batch_size_for(proxy), gt)

    def key(self, arch: ArchRef, proxy_name: str) -> tuple:
        p = PROXIES.get(proxy_name)
        return (self.space.name, arch.index, arch.key, self.config.dataset, p.name, p.version,
                self.config.seed, self._data_configs[p.name])

    def run(self, archs: Iterable[ArchRef], done: set[tuple] = frozenset()) -> Iterator[list[ScoreRecord]]:
        """Yield each architecture's new records, skipping keys already in ``done`` (resume)."""
        for arch in archs:
            recs = self.score_arch(arch, skip=lambda name, a=arch: self.key(a, name) in done)
            if recs:
                yield recs
