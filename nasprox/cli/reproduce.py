"""``nasprox reproduce``: run a paper table's protocol (configs/reproduce/*.yaml), then report it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, RetryFailed, StandIn, by_key, echo_published_summary, user_errors
from nasprox.core import NasproxError

EXAMPLES = """
Examples:

  nasprox reproduce --list

  nasprox reproduce near-table1 --sample 1000 --workers 2 \\
      --data-root cifar10=../shared/data/inputs/cifar10_test_1000_from_jpg.npz \\
      --data-root cifar100=../shared/data/inputs/cifar100_test_916.npz \\
      --data-root ImageNet16-120=../shared/data/inputs/imagenet16_120_val_1perclass.npz \\
      --ground-truth ../shared/data/nb201/nb201_test_acc_200ep.csv

  nasprox reproduce near-table1 --sample 1000 --datasets cifar10 --proxies near,synflow --report-only

  nasprox reproduce near-table2 --sample 500 --dry-run ...   # what is left to score, and its CPU time

  nasprox reproduce near-table2 --sample 500 --subset 100 --proxies near,synflow ...   # first 100 now, more later

  nasprox reproduce near-table2 --sample 500 --slow-cells 500 --proxies grasp ...   # a capped proxy on all 500

  nasprox reproduce survey-figs6-9 --sample 1000 --seeds 0 ...   # one of its 5 scoring seeds now, the rest later

  nasprox reproduce near-table3 --arch-list nb101=build/suite_zero/nb101_suite_zero_archs.txt \\
      --ground-truth nb101=build/suite_zero/nb101_suite_zero_gt.csv --stand-in test_acc=valid_acc ...

Runs resume: the same command again continues where it stopped (--retry-failed: and scores again the
rows that failed, e.g. a worker stopped by the out-of-memory killer). CSVs go to --out (one per space and
dataset, shared by every protocol), the report to --out/report/PROTOCOL.
"""


@user_errors
def reproduce(
    protocol: Annotated[Optional[str], typer.Argument(help="protocol id, e.g. near-table1 (see --list)")] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="list the protocols with their proxies, population and cost")
    ] = False,
    sample: Annotated[
        Optional[int],
        typer.Option(help="seeded sample of N cells per space (default: every cell, the paper's population)"),
    ] = None,
    subset: Annotated[
        Optional[int],
        typer.Option(help="score only the first K cells of the --sample (nested: a larger K later resumes)"),
    ] = None,
    slow_cells: Annotated[
        Optional[int],
        typer.Option(
            help="cells for the proxies the protocol caps (the slow ones, e.g. 200): up to K instead, "
            "still the first of the --sample"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the sample, model init and input batches")] = 0,
    seeds: Annotated[
        Optional[str],
        typer.Option(
            help="comma-separated subset of the protocol's scoring seeds to score now (a 5-seed protocol spread "
            "over sessions or machines; the report reads every seed the CSVs hold)"
        ),
    ] = None,
    data_root: Annotated[list[str], typer.Option(help="DATASET=PATH (repeatable) or PATH for every dataset")] = [],
    ground_truth: Annotated[
        list[str], typer.Option(help="SPACE=CSV (repeatable) or CSV: plain ground-truth file")
    ] = [],
    benchmark: Annotated[list[str], typer.Option(help="SPACE=PATH (repeatable) or PATH: upstream benchmark file")] = [],
    arch_list: Annotated[
        list[str],
        typer.Option(help="SPACE=FILE (repeatable) or FILE: score the listed cells instead of a sample (one per line)"),
    ] = [],
    datasets: Annotated[Optional[str], typer.Option(help="comma-separated subset of the protocol's datasets")] = None,
    proxies: Annotated[Optional[str], typer.Option(help="comma-separated subset of the protocol's proxies")] = None,
    synthetic: Annotated[
        bool, typer.Option(help="Gaussian inputs for datasets without --data-root (correlations are lower)")
    ] = False,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")] = "auto",
    workers: Annotated[
        int, typer.Option(help="CPU worker processes (scoring, then the report's bootstrap intervals)")
    ] = 1,
    out: Annotated[
        Path, typer.Option(help="folder of the result CSVs (the report goes to OUT/report/PROTOCOL)")
    ] = Path("results/reproduction"),
    report_only: Annotated[bool, typer.Option(help="only rebuild the report from the CSVs already there")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="write the report after scoring")] = True,
    html: Annotated[
        bool, typer.Option("--html/--no-html", help="also write the report as one self-contained page, report.html")
    ] = False,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="draw the report's figures (tables only without)")
    ] = True,
    protocol_dir: Annotated[
        Optional[Path], typer.Option(help="folder of protocol YAMLs (default: configs/reproduce)")
    ] = None,
    bootstrap: Annotated[int, typer.Option(min=100, help="bootstrap resamples for the 95% CIs")] = 1000,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    dry_run: Annotated[
        bool,
        typer.Option(help="score nothing: per run, the cells and rows still to score and their measured CPU time"),
    ] = False,
    report_ground_truth: Annotated[
        list[str],
        typer.Option(
            help="SPACE=CSV (repeatable) or CSV: the report correlates against this file's ground truth instead "
            "of the CSVs' (e.g. the TransNAS best-epoch metrics for survey-fig10; no rescoring)"
        ),
    ] = [],
    costs: Annotated[
        list[str],
        typer.Option(
            help="DATASET=CSV (repeatable) or CSV: cost table of a protocol with a Pareto report (HW-NAS-Bench)"
        ),
    ] = [],
    stand_in: StandIn = [],
    retry_failed: RetryFailed = False,
    plugin: Plugins = [],
) -> None:
    """Reproduce a published table: score its protocol's runs (resumable), then write the report with
    published-vs-ours (95% bootstrap CI of ours, n used, the paper's population and a verdict)."""
    from nasprox.engine.protocol import get_protocol, load_protocols, protocol_runs
    from nasprox.report.findings import parse_findings
    from nasprox.stats import parse_stand_ins

    if list_:
        _list(load_protocols(protocol_dir), sample)
        return
    if protocol is None:
        raise NasproxError("give a protocol id (see `nasprox reproduce --list`)")
    proto = get_protocol(protocol, protocol_dir)
    stand_ins = parse_stand_ins(stand_in)  # checked before any scoring
    parse_findings(proto.findings, str(proto.path))  # a typo in a finding's rule stops before hours of scoring
    wanted_ds = datasets.split(",") if datasets else None
    wanted_px = proxies.split(",") if proxies else None
    inputs = _Inputs(
        by_key(data_root, "--data-root"),
        by_key(ground_truth, "--ground-truth"),
        by_key(benchmark, "--benchmark"),
        by_key(arch_list, "--arch-list"),
    )
    listed = inputs.listed({d.space for d in proto.datasets})
    if not report_only:
        runs = protocol_runs(
            proto, sample, out, wanted_ds, wanted_px, subset, listed, slow_cells, _seed_list(seeds) if seeds else None
        )
        plans = _plan_runs(runs, listed, seed, inputs, synthetic, device, workers)
        if dry_run:
            _show_pending(proto, plans, workers, retry_failed)
            return
        _score(proto, plans, progress, retry_failed)
    if report or report_only:
        from nasprox.engine.protocol import protocol_cells

        # with --sample / --arch-list, the seed summary and findings read each proxy on the protocol's own cells
        # only (the CSVs also hold cells other protocols scored: #params on all 15,625, grad_norm on 500)
        sampled = (sample is not None or bool(listed)) and bool(proto.top or proto.findings)  # read only by those
        runs_of_report = protocol_runs(proto, sample, out, wanted_ds, None, None, listed, slow_cells) if sampled else []
        arch_lists = {space: path for space in listed if (path := inputs.arch_list(space)) is not None}
        extra = _ReportOptions(
            by_key(report_ground_truth, "--report-ground-truth"),
            by_key(costs, "--costs"),
            html=html,
            plots=plots,
            cells=protocol_cells(runs_of_report, seed, arch_lists) if sampled else None,
        )
        _report(proto, out, wanted_ds, bootstrap, seed, stand_ins, protocol_dir, workers, extra)


def _seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise NasproxError(f"--seeds takes comma-separated integers, e.g. 0,1; got {text!r}") from None


@dataclass(frozen=True)
class _Inputs:
    """Per-dataset or per-space input paths (KEY=PATH; a bare PATH is stored under '*' and serves every key)."""

    data_roots: dict[str, str]
    ground_truths: dict[str, str]
    benchmarks: dict[str, str]
    arch_lists: dict[str, str]

    @staticmethod
    def pick(paths: dict[str, str], key: str) -> str | None:
        from nasprox.stats.results import EVERY_SPACE

        return paths.get(key, paths.get(EVERY_SPACE))

    def arch_list(self, space: str) -> str | None:
        return self.pick(self.arch_lists, space)

    def listed(self, spaces: Iterable[str]) -> dict[str, int]:
        """Space -> number of architectures its --arch-list names, for the spaces that have one."""
        from nasprox.engine.selection import read_arch_list

        lists = {space: self.arch_list(space) for space in spaces}
        return {space: len(read_arch_list(Path(path))) for space, path in lists.items() if path is not None}


@dataclass(frozen=True)
class _ReportOptions:
    """What only the report reads (ground truth in place of the CSVs', {space or '*': CSV}, and cost tables) and
    what it writes besides its tables (the one-page HTML, the figures)."""

    ground_truths: dict[str, str]
    costs: dict[str, str]
    html: bool = False
    plots: bool = True
    # (space, dataset, proxy) -> the protocol's cells of that proxy (its --sample or --arch-list); None: every row
    cells: Mapping[tuple[str, str, str], frozenset[str]] | None = None


def _plan_runs(runs, listed, seed, inputs: _Inputs, synthetic, device, workers) -> list:
    """(PlannedRun, RunPlan) per run; every run is planned first, so a missing input stops before any scoring."""
    from nasprox.engine import RunConfig
    from nasprox.engine.pipeline import Execution, plan
    from nasprox.engine.protocol import run_selection

    plans = []
    for run in runs:
        root = inputs.pick(inputs.data_roots, run.dataset)
        options = {p.name: {**p.options, **({"batch_size": p.batch_size} if p.batch_size else {})} for p in run.proxies}
        config = RunConfig(
            space=run.space,
            dataset=run.dataset,
            proxies=[p.name for p in run.proxies],
            seed=seed if run.seed is None else run.seed,  # a protocol's scoring seeds; the cells stay --seed's
            device=device,
            data_root=root,
            synthetic=synthetic and root is None,
            proxy_options={k: v for k, v in options.items() if v},
            benchmark=inputs.pick(inputs.benchmarks, run.space),
            ground_truth=inputs.pick(inputs.ground_truths, run.space),
        )
        arch_list = inputs.arch_list(run.space)
        selection = run_selection(run, seed, arch_list, listed.get(run.space))
        plans.append((run, plan(config, selection, Execution(workers=workers))))
    return plans


def _show_pending(proto, plans, workers: int, retry_failed: bool) -> None:
    """Per run: cells, rows still to score per proxy, and the CPU time they take at the measured s/arch."""
    from nasprox.engine.protocol import measured_seconds_per_arch, pending_seconds
    from nasprox.storage.csv_store import failed_keys, written_keys

    costs = measured_seconds_per_arch()
    measured, engine = costs["cpu"], costs["cpu_engine"]
    keys_by_file: dict[Path, tuple[set, set]] = {}  # CSV -> (written keys, failed keys)
    total = 0.0
    unmeasured: set[str] = set()
    for run, run_plan in plans:
        if run.out not in keys_by_file:
            keys_by_file[run.out] = (written_keys(run.out), failed_keys(run.out))
        written, failed = keys_by_file[run.out]
        done = written - failed if retry_failed else written
        pending = run_plan.pending_per_proxy(done)
        failed_here = len(failed & run_plan.keys())
        batches = {px.name: px.effective_batch() for px in run.proxies}
        seconds, missing = pending_seconds(run.space, pending, batches, measured, engine, len(run_plan.pending(done)))
        unmeasured |= {f"{run.space}/{p}" for p in missing}
        total += seconds
        left = ", ".join(f"{p} {n}" for p, n in pending.items() if n) or "nothing"
        # beside an unmeasured proxy, a measured part that rounds to zero (e.g. only network builds) would read as
        # "free": leave it out
        measured_part = f"~{seconds / 3600:.2f} CPU core-hours" if round(seconds / 3600, 2) or not missing else ""
        unmeasured_part = f"unmeasured {', '.join(missing)}" if missing else ""
        cost = " + ".join(part for part in (measured_part, unmeasured_part) if part)
        kept = (
            f"; {failed_here} failed rows kept (--retry-failed scores them again)"
            if failed_here and not retry_failed
            else ""
        )
        typer.echo(
            f"{proto.id}: {run.space}/{run.dataset}, {len(run_plan.archs)} cells -> {run.out}: {left} ({cost}){kept}"
        )
    note = f"no measured s/arch for {', '.join(sorted(unmeasured))}"
    if unmeasured and not round(total / 3600, 2):
        typer.echo(f"rows to score per proxy above; CPU time unknown: {note}")
        return
    typer.echo(
        f"rows to score per proxy above; total ~{total / 3600:.2f} CPU core-hours, ~{total / 3600 / max(workers, 1):.2f} h with --workers {workers} "
        f"(configs/costs.yaml medians{', network builds and copies included' if engine else ''})"
        + (f"; {note} (not counted)" if unmeasured else "")
    )


def _score(proto, plans, progress, retry_failed: bool) -> None:
    from nasprox.api import run_to_csv

    for run, run_plan in plans:
        typer.echo(
            f"== {proto.id}: {run.space}/{run.dataset}, {len(run_plan.archs)} cells: "
            f"{', '.join(p.name for p in run.proxies)}{'' if run.seed is None else f' (seed {run.seed})'} -> {run.out}",
            err=True,
        )
        run_to_csv(run_plan, run.out, progress, retry_failed)


def _report(
    proto,
    out,
    datasets,
    bootstrap,
    seed,
    stand_ins: dict[str, str],
    protocol_dir,
    workers: int,
    extra: _ReportOptions | None = None,
) -> None:
    """The protocol's report under OUT/report/PROTOCOL (one subfolder per target where its datasets name several);
    ``extra.html``: also its one-page ``report.html`` there."""
    from nasprox.engine.protocol import csv_path, load_protocols, protocol_report_dir

    extra = extra or _ReportOptions({}, {})
    chosen = [d for d in proto.datasets if datasets is None or d.dataset in datasets]
    by_target: dict[str | None, list] = {}
    for d in chosen:
        by_target.setdefault(proto.target_of(d), []).append(d)
    protocols = list(load_protocols(protocol_dir).values())
    for target, group in by_target.items():
        csvs = sorted({csv_path(out, d.space, d.dataset) for d in group})
        present = [p for p in csvs if p.is_file()]
        if not present:
            raise NasproxError(
                f"no result CSVs of {proto.id} under {out} yet ({', '.join(map(str, csvs))}); run it first"
            )
        folder = protocol_report_dir(out, proto.id)
        if len(by_target) > 1:
            folder = folder / str(target)
        if folder.exists() and not folder.is_dir():
            raise NasproxError(f"{folder} is a file; the report needs a folder")
        _report_one(proto, out, present, folder, target, bootstrap, seed, stand_ins, protocols, workers, extra, group)


def _report_one(
    proto, out, present, folder, target, bootstrap, seed, stand_ins, protocols, workers, extra: _ReportOptions, group
) -> None:
    from nasprox.report import write_report
    from nasprox.stats import load_results, with_ground_truth
    from nasprox.stats.results import EVERY_SPACE

    # the CSVs are shared by every protocol: a proxy another table scores at another batch size (NB101
    # snip at 64 for NEAR, 256 for epsilon) stays apart as snip@batch=N, and each published cell takes its own
    table = load_results(present, keep_settings_apart=True)
    spaces = {d.space for d in group}
    files = {key: path for key, path in extra.ground_truths.items() if key == EVERY_SPACE or key in spaces}
    if files:  # only the files of this group's spaces (a file for another space of the protocol is not an error)
        table = with_ground_truth(table, files)
    table = table.with_stand_ins(stand_ins)
    written = write_report(
        table,
        folder,
        target=target,
        bootstrap=0,
        seed=seed,
        plots=extra.plots,
        published_bootstrap=bootstrap,
        protocols=protocols,
        jobs=workers,
        html=folder / "report.html" if extra.html else None,
        inputs=present,
    )
    if proto.top or proto.findings:
        from nasprox.report.findings import parse_findings
        from nasprox.report.seeds import write_seed_report

        written += write_seed_report(
            table,
            folder,
            proto.top,
            proxies=[p.name for p in proto.proxies],
            cells=extra.cells,
            findings=parse_findings(proto.findings, str(proto.path)),
            target=target,
            bootstrap=bootstrap,
            seed=seed,
            plots=extra.plots,
            title=f"{proto.paper} {', '.join(proto.tables)}:",
        )
    if proto.pareto_metrics:
        written += _pareto(proto, out, group, present, folder, target, extra)
    typer.echo(f"wrote {len(written)} files under {folder}", err=True)
    echo_published_summary(folder)


def _pareto(proto, out, group, present, folder, target, extra: _ReportOptions) -> list[Path]:
    """`nasprox pareto` for every (dataset, proxy) of the protocol against the --costs table of that dataset."""
    from nasprox.cli.pareto import pareto
    from nasprox.engine.protocol import csv_path
    from nasprox.stats.results import EVERY_SPACE

    written: list[Path] = []
    for d in group:
        cost_csv = extra.costs.get(d.dataset, extra.costs.get(EVERY_SPACE))
        path = csv_path(out, d.space, d.dataset)
        if cost_csv is None or path not in present:
            typer.echo(f"{proto.id}: no Pareto report for {d.dataset} (give --costs {d.dataset}=CSV)", err=True)
            continue
        truth = extra.ground_truths.get(d.space, extra.ground_truths.get(EVERY_SPACE))  # else the CSV's gt_ column
        for px in proto.proxies:
            stem = folder / f"pareto_{d.space}_{d.dataset}_{px.name}"
            try:
                pareto(
                    scores=path,
                    costs=Path(cost_csv),
                    space=d.space,
                    dataset=d.dataset,
                    proxy=px.name,
                    metric=list(proto.pareto_metrics),
                    target=target,
                    ground_truth=Path(truth) if truth else None,
                    out=stem.with_suffix(".md"),
                    plot=stem.with_suffix(".png") if extra.plots else None,
                )
            except typer.Exit:  # a proxy without rows there: said by the command itself
                continue
            written += [stem.with_suffix(".md"), stem.with_suffix(".png")] if extra.plots else [stem.with_suffix(".md")]
    return written


def _list(protocols, sample: int | None) -> None:
    from nasprox.engine.protocol import estimated_seconds, measured_seconds_per_arch

    seconds = measured_seconds_per_arch()
    lines = []
    for proto in protocols.values():
        cells = ", ".join(
            f"{d.space}/{d.dataset}"
            + (f" (first {d.max_archs})" if d.max_archs else "")
            + (f" (a {d.sample}-cell sample)" if d.sample else "")
            for d in proto.datasets
        )
        proxies = ", ".join(
            f"{p.name}@{p.effective_batch()}"
            + (f"[{p.max_archs}]" if p.max_archs else "")
            + ("".join(f" {k}={v}" for k, v in p.options.items()))
            for p in proto.proxies
        )
        # s/arch of each proxy in each space, and of building and copying its networks
        cost = estimated_seconds(proto, seconds["cpu"], sample or 1000, engine=seconds["cpu_engine"])
        if cost.seconds is not None:
            cost_text = f"~{cost.seconds / 3600:.1f} CPU core-hours for --sample {sample or 1000}"
        elif cost.measured_part and not cost.unsized:
            cost_text = (
                f"~{cost.measured_part / 3600:.1f} CPU core-hours for --sample {sample or 1000} without what is "
                f"unmeasured ({cost.why_unknown()})"
            )
        else:
            cost_text = f"CPU cost unknown: {cost.why_unknown()}"
        caveats = [f"  not comparable: {p.name}: {p.not_comparable}" for p in proto.proxies if p.not_comparable]
        caveats += [f"  pending (not registered here, left out): {name}: {why}" for name, why in proto.pending.items()]
        if proto.seeds:
            caveats.append(f"  scoring seeds: {', '.join(map(str, proto.seeds))} (free proxies: the first only)")
        if proto.top:
            caveats.append(f"  report: seed_summary on the top {', '.join(f'{f:.0%}' for f in proto.top)} of cells")
        targets = {f"{d.dataset}: {d.target}" for d in proto.datasets if d.target}
        if targets:
            caveats.append(f"  targets per dataset: {', '.join(sorted(targets))}")
        if proto.pareto_metrics:
            caveats.append(f"  report: Pareto fronts vs {', '.join(proto.pareto_metrics)} (--costs DATASET=CSV)")
        gpu_text = seconds["gpu_note"]
        if seconds["gpu"]:
            gpu_cost = estimated_seconds(proto, seconds["gpu"], sample or 1000)
            gpu_text = (
                f"~{gpu_cost.seconds / 3600:.1f} GPU-hours"
                if gpu_cost.seconds is not None
                else f"cost unknown: {gpu_cost.why_unknown()}"
            )
        lines += [
            f"{proto.id}: {proto.paper} {', '.join(proto.tables)} - {proto.title}",
            f"  population (paper): {proto.population_label}"
            + "".join(f"; {space}: {label}" for space, (_, label) in proto.population_by_space.items()),
            f"  runs: {cells}",
            f"  proxies (name@batch[cells]): {proxies}",
            *caveats,
            f"  cost: {cost_text}; GPU: {gpu_text}",
            "",
        ]
    typer.echo("\n".join(lines).rstrip())


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(reproduce)
