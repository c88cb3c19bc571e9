"""Paper-table protocols (``configs/reproduce/*.yaml``): which runs reproduce a published table.

A protocol names the paper and table, the space(s) and datasets, the proxies with the batch size and
options the paper used, the population the paper scored, and how many cells a CPU reproduction may
use per dataset or per slow proxy. ``protocol_runs`` expands it into ordinary scoring runs (the same
engine and CSVs as ``nasprox score``), so a reproduction is resumable and shares rows with other
protocols that score the same (space, dataset, proxy, settings).

File format (``version: 1``)::

    version: 1
    id: near-table1
    paper: near                    # id of the paper in configs/published/
    tables: ["Table 1"]            # the published tables these runs fill
    title: "..."
    target: test_acc
    population: {size: 15625, label: "all 15,625 cells"}
    runs:
      - space: nats-tss
        datasets: {cifar10: {}, cifar100: {max_archs: 500}, ImageNet16-120: {batch_cap: 120}}
    proxies:
      near: {options: {repetitions: 32}}
      naswot: {batch_size: 128}
      grasp: {max_archs: 200}      # slow: the first 200 cells of the sample
      reg_swap: {not_comparable: "why ours cannot be set beside the paper's cells (the report says so)"}
    notes: "what differs from the paper's protocol"

Optional keys (the zero-shot survey's figures):

    seeds: [0, 1, 2, 3, 4]         # scoring seeds (model init, input batches): one run per seed over the same
                                   # cells (the sample is drawn with --seed); a proxy of cost class 'free'
                                   # (#params, FLOPs: the same at every seed) is scored at the first seed only
    top: [0.05, 1.0]               # the report adds seed_summary: Kendall / Spearman per proxy on the top
                                   # fraction of cells by the target (1.0: all), mean and spread over the
                                   # seeds with a 95% interval (one seed: a bootstrap over the cells)
    population: {size: 15625, label: "...", spaces: {nats-sss: {size: 32768, label: "..."}}}  # per space
    pareto: {metrics: [edgegpu_energy, edgegpu_latency]}   # the report adds `nasprox pareto` per dataset
                                   # and proxy against the cost CSVs given with --costs DATASET=CSV
    runs:
      - space: transnas-micro
        datasets: {segmentsemantic: {target: test_mIoU}}   # a dataset's own target (its own report folder)
      - space: nats-sss
        sample: 500                # with --sample N, this space's runs draw their own seeded sample of
                                   # min(N, 500) cells (another table's population, e.g. NEAR Table 2's)
    proxies:
      nn_mass: {pending: "why it may be unregistered here"}  # left out, and said so, while it is not registered
    findings:                      # the paper's claims, each checked per benchmark (nasprox.report.findings)
      - {id: params-beat-most, claim: "...", source: "Sec. 5.1", rule: {kind: beats_most, proxies: [params]}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from nasprox.core import PROXIES, NasproxError, batch_setting_column, load_yaml, proxy_of_column

if TYPE_CHECKING:
    from nasprox.engine.pipeline import Selection

SUPPORTED_VERSIONS = (1,)
DEFAULT_BATCH = 64  # the engine's default for proxies that declare no reference batch


@dataclass(frozen=True)
class ProxyPlan:
    name: str
    batch_size: int | None = None  # None: the proxy's declared reference batch
    options: Mapping[str, Any] = field(default_factory=dict)
    max_archs: int | None = None  # slow proxy: only the first K cells of the sample
    # why this protocol's scores are not the paper's measure (e.g. an unknown option): the report then
    # gives every cell of the proxy the verdict "not comparable" with this reason, whatever the numbers say
    not_comparable: str | None = None

    def effective_batch(self) -> int:
        return self.batch_size or PROXIES.get(self.name).default_batch_size or DEFAULT_BATCH


@dataclass(frozen=True)
class DatasetPlan:
    space: str
    dataset: str
    max_archs: int | None = None  # e.g. CIFAR-100 on the first 500 cells of the sample
    batch_cap: int | None = None  # e.g. 120 ImageNet16-120 images: naswot/epsilon at 120 instead of 128/256
    target: str | None = None  # this dataset's own target (default: the protocol's)
    sample: int | None = None  # with --sample N: this space draws its own sample of min(N, sample) cells

    def sample_size(self, sample: int | None) -> int | None:
        """Cells of the seeded sample this dataset's runs draw for ``--sample`` (None: the whole space)."""
        return sample if sample is None or self.sample is None else min(sample, self.sample)


@dataclass(frozen=True)
class Protocol:
    id: str
    paper: str
    tables: tuple[str, ...]
    title: str
    target: str | None
    population_size: int | None
    population_label: str
    datasets: tuple[DatasetPlan, ...]
    proxies: tuple[ProxyPlan, ...]
    notes: str
    path: Path
    seeds: tuple[int, ...] = ()  # scoring seeds; () = the one --seed of the command
    top: tuple[float, ...] = ()  # top fractions of the report's seed_summary; () = no such table
    pareto_metrics: tuple[str, ...] = ()  # cost columns of the report's Pareto comparison; () = none
    # proxies the protocol names that are not registered here, with the protocol's reason (left out of the runs)
    pending: Mapping[str, str] = field(default_factory=dict)
    # a space whose population differs from the protocol's (a table over two spaces): space -> (size, label)
    population_by_space: Mapping[str, tuple[int | None, str]] = field(default_factory=dict)
    # the paper's stated findings with the rule that checks each (nasprox.report.findings parses them)
    findings: tuple[Mapping[str, Any], ...] = ()

    @property
    def spaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.space for d in self.datasets))

    def target_of(self, dataset: DatasetPlan) -> str | None:
        return dataset.target or self.target


@dataclass(frozen=True)
class PlannedRun:
    """One ``nasprox score`` run of a protocol: a (space, dataset), proxies sharing a cell count, a CSV."""

    space: str
    dataset: str
    proxies: tuple[ProxyPlan, ...]
    n_archs: int | None  # None: the whole space (no --sample)
    out: Path
    seed: int | None = None  # the scoring seed (a protocol's ``seeds``); None: the command's --seed
    sample: int | None = None  # size of the seeded sample its cells are the first of (None: no sample)


def _int_or_none(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NasproxError(f"{where} must be a positive integer, got {value!r}")
    return value


def _text_or_none(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise NasproxError(f"{where} must be a non-empty text, got {value!r}")
    return " ".join(value.split())


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if value is None:
        return ()
    ok = isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok or len(set(value)) != len(value) or min(value) < 0:
        raise NasproxError(f"{where} must be a list of distinct non-negative integers, got {value!r}")
    return tuple(value)


def _fractions(value: Any, where: str) -> tuple[float, ...]:
    if value is None:
        return ()
    ok = (
        isinstance(value, list)
        and value
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )
    if not ok or not all(0 < v <= 1 for v in value):
        raise NasproxError(f"{where} must be a list of fractions in (0, 1], got {value!r}")
    return tuple(float(v) for v in value)


def load_protocol(path: Path) -> Protocol:
    try:
        doc = load_yaml(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise NasproxError(f"cannot read protocol {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(doc, dict) or doc.get("version") not in SUPPORTED_VERSIONS:
        raise NasproxError(f"{path}: needs 'version' in {SUPPORTED_VERSIONS}")
    missing = [k for k in ("id", "paper", "tables", "runs", "proxies") if not doc.get(k)]
    if missing:
        raise NasproxError(f"{path}: lacks {', '.join(missing)}")
    datasets = []
    for run in doc["runs"]:
        space = str(run.get("space", ""))
        space_sample = _int_or_none(run.get("sample"), f"{path}: {space}.sample")
        for dataset, extra in (run.get("datasets") or {}).items():
            extra = extra or {}
            datasets.append(
                DatasetPlan(
                    space,
                    str(dataset),
                    _int_or_none(extra.get("max_archs"), f"{path}: {dataset}.max_archs"),
                    _int_or_none(extra.get("batch_cap"), f"{path}: {dataset}.batch_cap"),
                    _text_or_none(extra.get("target"), f"{path}: {dataset}.target"),
                    space_sample,
                )
            )
    proxies = []
    pending: dict[str, str] = {}
    for name, extra in doc["proxies"].items():
        extra = extra or {}
        reason = _text_or_none(extra.get("pending"), f"{path}: {name}.pending")
        if reason is not None and str(name) not in PROXIES:  # named on purpose, registered elsewhere (said so)
            pending[str(name)] = reason
            continue
        canonical = PROXIES.canonical(str(name))  # an unknown proxy is a one-line error naming close matches
        proxies.append(
            ProxyPlan(
                canonical,
                _int_or_none(extra.get("batch_size"), f"{path}: {name}.batch_size"),
                dict(extra.get("options") or {}),
                _int_or_none(extra.get("max_archs"), f"{path}: {name}.max_archs"),
                _text_or_none(extra.get("not_comparable"), f"{path}: {name}.not_comparable"),
            )
        )
    population = doc.get("population") or {}
    return Protocol(
        str(doc["id"]),
        str(doc["paper"]),
        tuple(map(str, doc["tables"])),
        str(doc.get("title", "")),
        doc.get("target"),
        _int_or_none(population.get("size"), f"{path}: population.size"),
        str(population.get("label", "not stated")),
        tuple(datasets),
        tuple(proxies),
        str(doc.get("notes", "")).strip(),
        Path(path),
        _seeds(doc.get("seeds"), f"{path}: seeds"),
        _fractions(doc.get("top"), f"{path}: top"),
        tuple(map(str, (doc.get("pareto") or {}).get("metrics") or ())),
        pending,
        {
            str(space): (
                _int_or_none((spec or {}).get("size"), f"{path}: population.spaces.{space}.size"),
                str((spec or {}).get("label", "not stated")),
            )
            for space, spec in (population.get("spaces") or {}).items()
        },
        _findings(doc.get("findings"), f"{path}: findings"),
    )


def _findings(value: Any, where: str) -> tuple[Mapping[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise NasproxError(f"{where} must be a list of mappings (id, claim, source, rule)")
    return tuple(value)


def default_protocol_dir() -> Path:
    """configs/reproduce next to the package in a source checkout."""
    return Path(__file__).resolve().parents[2] / "configs" / "reproduce"


def load_protocols(folder: Path | None = None) -> dict[str, Protocol]:
    folder = Path(folder) if folder is not None else default_protocol_dir()
    if not folder.is_dir():
        raise NasproxError(f"protocol folder {folder} does not exist")
    protocols: dict[str, Protocol] = {}
    for path in sorted(folder.glob("*.yaml")):
        proto = load_protocol(path)
        if proto.id in protocols:
            raise NasproxError(f"protocol id {proto.id} is defined twice ({protocols[proto.id].path} and {path})")
        protocols[proto.id] = proto
    return protocols


def get_protocol(name: str, folder: Path | None = None) -> Protocol:
    protocols = load_protocols(folder)
    if name not in protocols:
        import difflib

        close = difflib.get_close_matches(name, list(protocols), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise NasproxError(f"unknown protocol '{name}' (see `nasprox reproduce --list`){hint}")
    return protocols[name]


def csv_path(out_dir: Path, space: str, dataset: str) -> Path:
    """One CSV per (space, dataset) under the output folder, shared by every protocol writing there."""
    return Path(out_dir) / f"{space}_{dataset}.csv"


def protocol_report_dir(out_dir: Path, protocol_id: str) -> Path:
    """Each protocol's report in its own folder, so reproducing one table never overwrites another's."""
    return Path(out_dir) / "report" / protocol_id


def protocol_runs(
    proto: Protocol,
    sample: int | None,
    out_dir: Path,
    datasets: list[str] | None = None,
    proxies: list[str] | None = None,
    subset: int | None = None,
    listed: Mapping[str, int] | None = None,
    slow_cells: int | None = None,
    seeds: Sequence[int] | None = None,
) -> list[PlannedRun]:
    """The scoring runs of ``proto``: per (space, dataset), proxies grouped by how many cells they get.

    With ``sample`` N every run scores the first min(N, limits) cells of one seeded N-cell sample
    (``--sample N --subset K``), so a slow proxy's 200 cells lie inside everyone else's 1,000.
    ``subset`` caps every run at the first K cells of that sample: a long protocol scored in nested
    steps (``--subset 200`` now, the full sample later) resumes instead of drawing a new sample.
    ``listed`` maps a space to the length of its ``--arch-list``: that space's runs take the list in
    place of the sample (the first K lines where a limit applies). ``slow_cells`` replaces the cap of every
    proxy the protocol caps (``max_archs``: the slow ones), e.g. all 500 cells of the sample on a GPU.
    A space with its own ``sample`` draws min(N, it) cells instead. ``seeds`` keeps only those of the protocol's
    scoring seeds (a 5-seed protocol spread over machines or sessions); a free proxy stays at the first seed.
    """
    if seeds is not None:
        foreign = [s for s in seeds if s not in proto.seeds]
        if foreign:
            named = ", ".join(map(str, proto.seeds)) if proto.seeds else "none (it scores the --seed only)"
            raise NasproxError(
                f"--seeds {','.join(map(str, foreign))}: not among protocol {proto.id}'s scoring seeds ({named})"
            )
    if slow_cells is not None and slow_cells < 1:
        raise NasproxError(f"--slow-cells must be at least 1 (got {slow_cells})")
    if subset is not None and (sample is None and not listed or sample is not None and not 0 < subset <= sample):
        raise NasproxError(f"--subset needs --sample or --arch-list and must be between 1 and it (got {subset})")
    wanted_ds = set(datasets) if datasets else None
    wanted_px = {PROXIES.canonical(p) for p in proxies} if proxies else None
    if wanted_px is not None and not wanted_px & {p.name for p in proto.proxies}:
        raise NasproxError(f"protocol {proto.id} has none of the proxies {sorted(wanted_px)}")
    runs = []
    for ds in proto.datasets:
        if wanted_ds is not None and ds.dataset not in wanted_ds:
            continue
        groups: dict[int | None, list[ProxyPlan]] = {}
        for px in proto.proxies:
            if wanted_px is not None and px.name not in wanted_px:
                continue
            drawn = (listed or {}).get(ds.space, ds.sample_size(sample))  # cells the run chooses from, in order
            cap = px.max_archs if px.max_archs is None or slow_cells is None else slow_cells
            limits = [n for n in (drawn, subset, ds.max_archs, cap) if n is not None]
            n = min(limits) if limits and drawn is not None else None
            if ds.batch_cap is not None and px.effective_batch() > ds.batch_cap:
                px = replace(px, batch_size=ds.batch_cap)
            groups.setdefault(n, []).append(px)
        out = csv_path(out_dir, ds.space, ds.dataset)
        drawn_sample = ds.sample_size(sample)
        for n, group in sorted(groups.items(), key=lambda kv: -(kv[0] or 10**9)):
            if not proto.seeds:
                runs.append(PlannedRun(ds.space, ds.dataset, tuple(group), n, out, sample=drawn_sample))
                continue
            for i, seed in enumerate(proto.seeds):  # a free proxy (a count) is the same at every seed: once
                if seeds is not None and seed not in seeds:
                    continue
                seeded = tuple(px for px in group if i == 0 or PROXIES.get(px.name).cost != "free")
                if seeded:
                    runs.append(PlannedRun(ds.space, ds.dataset, seeded, n, out, seed, drawn_sample))
    if not runs:
        raise NasproxError(f"protocol {proto.id} has no run for datasets {sorted(wanted_ds or [])}")
    return runs


@dataclass(frozen=True)
class EngineCosts:
    """Measured seconds the engine spends on an architecture besides its proxies (scripts/measure_costs.py)."""

    build: Mapping[str, float]  # {space: s to build one network (seeded) on the device}
    copy: Mapping[str, float]  # {space: s to deep-copy it}

    def seconds(self, space: str, proxies: Sequence[str]) -> float | None:
        """Per architecture of ``space`` scored with ``proxies``: one build, and one copy for every proxy that may
        change the network but the last (which gets the original; Scorer.score_arch). None where unmeasured."""
        if space not in self.build or space not in self.copy:
            return None
        copying = sum(not PROXIES.get(p).leaves_model_unchanged for p in proxies)
        return self.build[space] + max(copying - 1, 0) * self.copy[space]


@dataclass(frozen=True)
class CostEstimate:
    """Estimated seconds of a protocol's runs, or what is missing to estimate them."""

    seconds: float | None  # None when anything below is missing
    unmeasured: tuple[str, ...] = ()  # "space/proxy" pairs without a measured s/arch
    unsized: tuple[str, ...] = ()  # spaces a run scores whole but whose size is unknown here
    measured_part: float = 0.0  # the seconds of what is measured (all of it when ``seconds`` is not None)

    def why_unknown(self) -> str:
        """What is missing, e.g. 'no measured s/arch for nb101/near, transnas-micro/near'."""
        parts = []
        if self.unmeasured:
            parts.append(f"no measured s/arch for {', '.join(self.unmeasured)}")
        if self.unsized:
            parts.append(
                f"size of {', '.join(self.unsized)} unknown (cannot enumerate without its benchmark file; "
                "give --sample)"
            )
        return "; ".join(parts)


def space_size(name: str) -> int | None:
    """Number of architectures of a space, or None where it cannot be enumerated without files (nb101)."""
    from nasprox.engine.runner import make_space

    try:
        return len(make_space(name))
    except NasproxError:
        return None


def seconds_at_batch(measured: Mapping[str, float], proxy: str, batch: int) -> float | None:
    """The s/arch of ``proxy`` at ``batch`` among one space's medians: its ``proxy@batch=N`` entry, or a plain
    ``proxy`` entry (which names no batch, so stands for all). A proxy whose cost does not depend on the batch
    (cost class ``free``: #params) takes any batch's. None when it was measured at other batches only: one
    batch's time is not scaled to another (snip on NB101: 16.4 s per cell at batch 256, 3.0 s at 64), it is named.
    """
    for key in (batch_setting_column(proxy, batch), proxy):
        if key in measured:
            return measured[key]
    if proxy in PROXIES and PROXIES.get(proxy).cost == "free":
        return next((s for key, s in measured.items() if proxy_of_column(key) == proxy), None)
    return None


def estimated_seconds(
    proto: Protocol,
    seconds_per_arch: Mapping[str, Mapping[str, float]],
    sample: int | None,
    space_sizes: Mapping[str, int | None] | None = None,
    engine: EngineCosts | None = None,
) -> CostEstimate:
    """Sum over runs of cells x the s/arch measured for that proxy at its protocol batch *in that space*
    ({space: {proxy@batch=N: s}}, ``seconds_at_batch``), plus, with ``engine``, cells x the build and copies
    each architecture of the run costs.

    A run without a sample scores the whole space; ``space_sizes`` gives the sizes (None: ask the space
    registry, so an enumerable space needs no file). A sample larger than a known size counts the size.
    The estimate lists every (space, proxy) without a measurement (and, with ``engine``, every space whose
    build is unmeasured) and every space of unknown size.
    """
    sizes: dict[str, int | None] = {}

    def size_of(space: str) -> int | None:
        if space not in sizes:
            sizes[space] = space_size(space) if space_sizes is None else space_sizes.get(space)
        return sizes[space]

    total = 0.0
    unmeasured: dict[str, None] = {}
    unsized: dict[str, None] = {}
    for run in protocol_runs(proto, sample, Path(".")):
        size = size_of(run.space)
        n = run.n_archs if run.n_archs is not None else size
        if n is not None and size is not None:
            n = min(n, size)
        if n is None:
            unsized[run.space] = None
        measured = seconds_per_arch.get(run.space, {})
        for px in run.proxies:
            per_arch = seconds_at_batch(measured, px.name, px.effective_batch())
            if per_arch is None:
                unmeasured[f"{run.space}/{batch_setting_column(px.name, px.effective_batch())}"] = None
            elif n is not None:
                total += n * per_arch
        if engine is not None:
            per_arch = engine.seconds(run.space, [px.name for px in run.proxies])
            if per_arch is None:
                unmeasured[f"{run.space} (network build)"] = None
            elif n is not None:
                total += n * per_arch
    if unmeasured or unsized:
        return CostEstimate(None, tuple(unmeasured), tuple(unsized), total)
    return CostEstimate(total, measured_part=total)


def pending_seconds(
    space: str,
    rows_per_proxy: Mapping[str, int],
    batches: Mapping[str, int],
    seconds_per_arch: Mapping[str, Mapping[str, float]],
    engine: EngineCosts | None = None,
    pending_archs: int = 0,
) -> tuple[float, list[str]]:
    """Seconds to score ``rows_per_proxy`` at the s/arch measured for each proxy in ``space`` at its batch in
    ``batches`` (with ``engine``, plus building and copying the ``pending_archs`` networks those rows belong to),
    and what has rows to score but no measurement there at that batch, as ``proxy@batch=N`` (left out of the
    sum, to be named, not guessed)."""
    measured = seconds_per_arch.get(space, {})
    seconds, missing = 0.0, []
    for proxy, n in rows_per_proxy.items():
        per_arch = seconds_at_batch(measured, proxy, batches[proxy])
        if per_arch is not None:
            seconds += n * per_arch
        elif n:
            missing.append(batch_setting_column(proxy, batches[proxy]))
    if engine is not None and pending_archs:
        per_arch = engine.seconds(space, [p for p, n in rows_per_proxy.items() if n])
        if per_arch is None:
            missing.append("(network build)")
        else:
            seconds += pending_archs * per_arch
    return seconds, missing


def default_costs_file() -> Path:
    return Path(__file__).resolve().parents[2] / "configs" / "costs.yaml"


COSTS_VERSION = 3
COSTS_SCRIPT = "scripts/measure_costs.py"


def _per_space(
    doc: Mapping[str, Any], key: str, path: Path, convert: Callable[[Any], Any]
) -> dict[str, dict[str, Any]]:
    table = doc.get(key) or {}
    if not isinstance(table, Mapping) or not all(isinstance(v, Mapping) for v in table.values()):
        raise NasproxError(f"{path}: {key} must map space -> proxy -> value; rewrite it with {COSTS_SCRIPT}")
    try:
        return {str(space): {str(px): convert(x) for px, x in by_proxy.items()} for space, by_proxy in table.items()}
    except (TypeError, ValueError):
        raise NasproxError(f"{path}: {key} holds a non-number; rewrite it with {COSTS_SCRIPT}") from None


def _seconds_by_space(doc: Mapping[str, Any], key: str, path: Path) -> dict[str, float]:
    table = doc.get(key) or {}
    try:
        if not isinstance(table, Mapping):
            raise TypeError
        return {str(space): float(x) for space, x in table.items()}
    except (TypeError, ValueError):
        raise NasproxError(f"{path}: {key} must map space -> seconds; rewrite it with {COSTS_SCRIPT}") from None


def measured_seconds_per_arch(path: Path | None = None) -> dict[str, Any]:
    """Measured s/arch per space, proxy and batch (``configs/costs.yaml`` version 3, written by
    scripts/measure_costs.py; look one up with ``seconds_at_batch``).

    Returns {"cpu": {space: {proxy@batch=N: s}}, "gpu": likewise, "cpu_rows"/"gpu_rows": {space: {proxy@batch=N: n}},
    "cpu_engine": EngineCosts or None (the file times no build), "gpu_note": text}; empty maps when the file is
    absent.
    """
    path = Path(path) if path is not None else default_costs_file()
    if not path.is_file():
        return {"cpu": {}, "gpu": {}, "cpu_rows": {}, "gpu_rows": {}, "cpu_engine": None, "gpu_note": "not measured"}
    try:
        doc = load_yaml(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise NasproxError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    version = doc.get("version") if isinstance(doc, dict) else None
    if version != COSTS_VERSION:
        raise NasproxError(
            f"{path}: costs version {version!r} is not supported (needs {COSTS_VERSION}); rewrite it with {COSTS_SCRIPT}"
        )
    gpu = _per_space(doc, "gpu_seconds_per_arch", path, float)
    engine = None
    if "cpu_build_seconds_per_arch" in doc:
        engine = EngineCosts(
            build=_seconds_by_space(doc, "cpu_build_seconds_per_arch", path),
            copy=_seconds_by_space(doc, "cpu_copy_seconds_per_arch", path),
        )
    return {
        "cpu": _per_space(doc, "cpu_seconds_per_arch", path, float),
        "gpu": gpu,
        "cpu_rows": _per_space(doc, "cpu_rows", path, int),
        "gpu_rows": _per_space(doc, "gpu_rows", path, int),
        "cpu_engine": engine,
        "gpu_note": str(doc.get("gpu_note", "measured" if gpu else "not measured")),
    }


def run_selection(run: PlannedRun, seed: int, arch_list: str | None = None, listed: int | None = None) -> Selection:
    """The cells of ``run``: its ``arch_list`` (``listed`` lines; the first ``run.n_archs`` where it is capped),
    else the first ``run.n_archs`` of its seeded sample, else the whole space."""
    from nasprox.engine.pipeline import Selection

    if arch_list is not None:  # the list replaces the sample; slow proxies take its first K lines
        subset = run.n_archs if run.n_archs != listed else None
        return Selection(arch_list=arch_list, subset=subset, seed=seed)
    subset = run.n_archs if run.sample is not None and run.n_archs != run.sample else None
    return Selection(sample=run.sample, subset=subset, seed=seed)


def protocol_cells(
    runs: Sequence[PlannedRun], seed: int, arch_lists: Mapping[str, str] | None = None
) -> dict[tuple[str, str, str], frozenset[str]]:
    """(space, dataset, proxy) -> canonical keys of the cells the protocol scores that proxy on, for the runs
    that score a sample or a list (a run over the whole space restricts nothing and is left out)."""
    from nasprox.engine.runner import make_space
    from nasprox.engine.selection import read_arch_list, select_archs

    arch_lists = dict(arch_lists or {})
    cells: dict[tuple[str, str, str], frozenset[str]] = {}
    chosen: dict[tuple[str, Selection], frozenset[str]] = {}
    for run in runs:
        listed = arch_lists.get(run.space)
        selection = run_selection(run, seed, listed, len(read_arch_list(Path(listed))) if listed is not None else None)
        if selection.sample is None and selection.arch_list is None:
            continue
        if (run.space, selection) not in chosen:
            space = make_space(run.space)
            refs = select_archs(
                space, sample=selection.sample, subset=selection.subset, seed=seed, arch_list=selection.arch_list
            )
            chosen[(run.space, selection)] = frozenset(ref.key for ref in refs)
        for px in run.proxies:
            key = (run.space, run.dataset, px.name)
            cells[key] = cells.get(key, frozenset()) | chosen[(run.space, selection)]
    return cells
