"""The Python API: the engine behind `nasprox score`, for notebooks and other tools.

    import nasprox
    scores = nasprox.score_model(my_net, images, labels, proxies=["near", "synflow", "snip"])
    frame = nasprox.score_space("nats-tss", proxies=["near", "synflow"], archs="0:50",
                                data_root="cifar10_test_1000_from_jpg.npz")

``score_model`` scores any ``torch.nn.Module`` the user built (NASLib's zero-cost API and
zero-cost-nas's ``find_measures`` are the closest equivalents); ``score_space`` runs the same
plan/execute pipeline as the CLI and returns its rows as a DataFrame (written to a resumable CSV too
when ``out`` is given).
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasprox.core import PROXIES, InputSpec, NasproxError, ProxyContext, ProxyUndefined, logits_of

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from nasprox.engine.pipeline import RunPlan
    from nasprox.storage.csv_store import ResultWriter


def _input_spec(inputs: torch.Tensor, num_classes: int, norm: str) -> InputSpec:
    if inputs.dim() == 4 and inputs.is_floating_point():
        return InputSpec("image", tuple(inputs.shape[1:]), num_classes, norm=norm)
    if inputs.dim() == 2 and not inputs.is_floating_point():
        return InputSpec("tokens", tuple(inputs.shape[1:]), num_classes, norm="none", task="language_model")
    if inputs.dim() == 2:
        return InputSpec("vector", tuple(inputs.shape[1:]), num_classes, norm="none")
    raise NasproxError(
        f"inputs of shape {tuple(inputs.shape)} are neither images (N, C, H, W), vectors (N, F) nor token ids (N, T)"
    )


def score_model(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    proxies: Sequence[str],
    num_classes: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    norm: str = "none",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    proxy_options: Mapping[str, Mapping[str, Any]] | None = None,
    more_batches: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> dict[str, float]:
    """Score one user-built network with registered proxies; returns {proxy: score} (NaN when undefined).

    ``inputs`` is one batch, already normalised, ``targets`` its labels (needed by label-using proxies such
    as snip; defaults to zeros). Every proxy gets a fresh deep copy of ``model`` (which is left untouched)
    with the seed the engine would use. Proxies that need more rows than one batch gives (NEAR on wide
    layers) call ``more_batches`` (default: the same batch again). Proxy options are validated like
    ``--proxy-opt``: ``proxy_options={"near": {"repetitions": 8}}``.
    """
    import torch
    import torch.nn.functional as F

    from nasprox.core import validate_proxy_options
    from nasprox.engine.device import resolve_device
    from nasprox.engine.seeding import derive_seed, seed_everything

    dev = resolve_device(str(device)) if device is not None else next(model.parameters(), torch.empty(0)).device
    names = PROXIES.select(list(proxies))
    inputs = inputs.to(dev)
    probe = _probe(model, inputs, dev)
    if num_classes is None:
        num_classes = int(logits_of(probe).shape[-1])
    labels = (targets if targets is not None else torch.zeros(len(inputs), dtype=torch.long)).to(dev)
    spec_in = _input_spec(inputs, num_classes, norm)
    next_batch = more_batches or (lambda: (inputs.clone(), labels.clone()))
    pristine = copy.deepcopy(model).to(dev).train()
    scores: dict[str, float] = {}
    memo: dict = {}  # shared by the proxies of this network, as the engine does (e.g. the AZ-NAS components)
    for name in names:
        spec = PROXIES.get(name)
        options = validate_proxy_options(spec, dict((proxy_options or {}).get(name, {})))
        ctx = ProxyContext(
            model=copy.deepcopy(pristine),
            build_model=lambda: copy.deepcopy(pristine),
            inputs=inputs.clone(),
            targets=labels.clone(),
            input_spec=spec_in,
            loss_fn=loss_fn or F.cross_entropy,
            next_batch=next_batch,
            device=dev,
            seed=seed,
            options=options,
            memo=memo,
        )
        seed_everything(derive_seed(seed, "user-model", name))
        try:
            scores[name] = float(spec.fn(ctx))
        except ProxyUndefined:
            scores[name] = math.nan
    return scores


def _probe(model: nn.Module, inputs: torch.Tensor, dev: torch.device) -> Any:
    """The model's output on two of ``inputs`` (a copy in eval mode), or one line saying what input it expects."""
    import torch

    try:
        with torch.no_grad():
            return copy.deepcopy(model).to(dev).eval()(inputs[:2])
    except Exception as exc:  # the user's network: any layer may be what refuses the batch
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NasproxError(
            f"score_model: the model does not take inputs of shape {tuple(inputs.shape)}"
            f"{_expected_input(model)} ({type(exc).__name__}: {detail[:200]})"
        ) from None


def _expected_input(model: nn.Module) -> str:
    """What the model's first layer with weights says about its input: ', it expects (N, 3, H, W)'."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            spatial = {nn.Conv1d: "L", nn.Conv2d: "H, W", nn.Conv3d: "D, H, W"}[type(module)]
            return f"; its first layer expects (N, {module.in_channels}, {spatial})"
        if isinstance(module, nn.Linear):
            return f"; its first layer expects (N, {module.in_features})"
        if isinstance(module, nn.Embedding):
            return f"; its first layer expects token ids (N, T) below {module.num_embeddings}"
    return ""


def score_space(
    space: str,
    proxies: Sequence[str],
    *,
    dataset: str = "cifar10",
    archs: str | None = None,
    sample: int | None = None,
    arch_list: str | Path | None = None,
    seed: int = 0,
    data_root: str | Path | None = None,
    synthetic: bool = False,
    ground_truth: str | Path | None = None,
    benchmark: str | Path | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    workers: int = 1,
    proxy_options: Mapping[str, Mapping[str, Any]] | None = None,
    out: str | Path | None = None,
) -> pd.DataFrame:
    """Score architectures of a registered space; the rows `nasprox score` would write, as a DataFrame.

    With ``out`` the rows also go to that CSV (resumable: finished rows are skipped and returned too).
    """
    import pandas as pd

    from nasprox.engine import RunConfig, parse_proxy_options
    from nasprox.engine.pipeline import Execution, Selection, execute, plan
    from nasprox.storage.csv_store import header_for, record_row

    names = PROXIES.select(list(proxies))
    items = [f"{p}.{k}={v}" for p, opts in (proxy_options or {}).items() for k, v in opts.items()]
    config = RunConfig(
        space=space,
        dataset=dataset,
        proxies=names,
        seed=seed,
        batch_size=batch_size,
        device=device,
        data_root=str(data_root) if data_root else None,
        synthetic=synthetic,
        proxy_options=parse_proxy_options(items, names),
        ground_truth=str(ground_truth) if ground_truth else None,
        benchmark=str(benchmark) if benchmark else None,
    )
    selection = Selection(archs=archs, sample=sample, arch_list=str(arch_list) if arch_list else None, seed=seed)
    run_plan = plan(config, selection, Execution(workers=workers))
    header = header_for(run_plan.scorer.space.gt_fields)
    if out is None:
        rows = [record_row(rec, header) for recs in execute(run_plan, set()) for rec in recs]
        return _typed(pd.DataFrame(rows, columns=header))
    run_to_csv(run_plan, Path(out), progress=False)
    from nasprox.stats.results import read_results

    return read_results([out])


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for col in ("arch_index", "seed", "batch_size"):
        frame[col] = frame[col].astype(int)
    for col in ["score", "seconds", "peak_mem_mb", *[c for c in frame.columns if c.startswith("gt_")]]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


# -- writing a run: shared by `nasprox score`, `nasprox reproduce` and score_space(out=...) -----------
def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_to_csv(run_plan: RunPlan, out: Path, progress: bool = True, retry_failed: bool = False) -> int:
    """Score the plan's pending architectures into ``out`` (resuming it); returns the rows written.

    ``retry_failed``: the plan's rows that failed before (error, oom, timeout) are taken out and scored again;
    the provenance entry of this run lists them with their old error.
    """
    from nasprox.storage.csv_store import ResultWriter, header_for

    writer = ResultWriter(out, header_for(run_plan.scorer.space.gt_fields))  # refused if another process writes out
    try:
        return _score_into(run_plan, writer, progress, retry_failed)
    finally:
        writer.close()  # releases the output's lock (a no-op when already closed)


def _score_into(run_plan: RunPlan, writer: ResultWriter, progress: bool, retry_failed: bool) -> int:
    from nasprox.engine.pipeline import backend_for, execute
    from nasprox.storage.provenance import finish_provenance, write_provenance

    out = writer.path
    plan_failed = writer.failed & run_plan.keys() if writer.failed else set()  # this selection's failed rows
    retried = writer.drop_failed(plan_failed) if retry_failed and plan_failed else []
    if retried:
        counts = Counter(row["status"] for row in retried)
        _say(f"retrying {len(retried)} failed rows of {out} ({', '.join(f'{s} {n}' for s, n in counts.items())})")
    elif plan_failed:
        _say(
            f"{len(plan_failed)} rows of this selection failed before (error, oom or timeout) and count as done; "
            "--retry-failed scores them again"
        )
    pending = run_plan.pending(writer.done)
    if writer.rows_before:
        _say(
            f"resuming {out}: {writer.rows_before} rows already there, {len(pending)} of "
            f"{len(run_plan.archs)} architectures to go"
        )
    for warning in run_plan.warnings:
        _say(f"nasprox: warning: {warning}")
    if writer.rows_before and not pending:
        # a resume with nothing left changes nothing, so it leaves no provenance entry either (a chain of
        # resumable steps re-run each session would otherwise grow every sidecar by one no-op per step)
        writer.close()
        _say(f"nothing to score: every row of the {len(run_plan.archs)} architectures is already in {out}")
        return 0
    extra = run_plan.provenance()
    if retry_failed:  # the rows taken out stay on record, with the error that made them fail
        extra["retried_rows"] = [{k: row[k] for k in ("arch", "proxy", "status", "error")} for row in retried]
    write_provenance(out, run_plan.config.to_dict(), extra)
    workers: list[dict] = []
    n_rows = n_failed = 0
    status = "interrupted"
    t0 = time.perf_counter()
    try:
        with writer, _Progress(progress, len(pending)) as advance:
            backend = backend_for(run_plan, on_worker=workers.append, on_notice=lambda m: _say(f"nasprox: {m}"))
            for records in execute(run_plan, writer.done, backend):
                for rec in records:
                    writer.write(rec)
                    n_rows += 1
                    n_failed += rec.status != "ok"
                writer.flush()
                advance()
        status = "finished"
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: {n_rows} rows written to {out} in this run are kept, {writer.rows_before + n_rows} in all; "
            "run the same command again to resume"
        ) from None
    finally:
        finish_provenance(
            out, {"status": status, "rows_written": n_rows, "rows_not_ok": n_failed, "workers": _unique(workers)}
        )
    elapsed = time.perf_counter() - t0
    _say(
        f"wrote {n_rows} rows ({n_failed} not ok) for {len(pending)} architectures to {out} in "
        f"{elapsed:.1f}s: {archs_per_second(len(pending), elapsed)} on {run_plan.scorer.device}"
    )
    return n_rows


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, with the one line that says what was kept (the CLI prints it and exits 130)."""


def archs_per_second(done: int, elapsed: float) -> str:
    """The one rate shown (progress bar and summary): architectures finished / wall seconds so far."""
    return f"{done / elapsed:.3g} archs/s" if elapsed > 0 and done else "- archs/s"


class _ProgressLines:
    """Progress as plain log lines: after the first architecture, then every ``every_s`` seconds or tenth of the
    run, whichever comes first, and at the end; each with the count, the average rate and the ETA."""

    def __init__(
        self, total: int, say: Callable[[str], None], every_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ):
        self.total, self.say, self.every_s, self.clock = total, say, every_s, clock
        self.step = max(1, math.ceil(total / 10))
        self.done = 0
        self.start = self.last = clock()

    def __call__(self) -> None:
        self.done += 1
        now = self.clock()
        if self.done in (1, self.total) or self.done % self.step == 0 or now - self.last >= self.every_s:
            self.last = now
            self.say(self.line(now - self.start))

    def line(self, elapsed: float) -> str:
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = _clock_time((self.total - self.done) / rate) if rate > 0 else "-"
        return (
            f"scoring: {self.done}/{self.total} architectures ({self.done / self.total:.0%}), "
            f"{archs_per_second(self.done, elapsed)}, elapsed {_clock_time(elapsed)}, ETA {eta}"
        )


def _clock_time(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _unique(infos: list[dict]) -> list[dict]:
    seen, out = set(), []
    for info in infos:
        key = (info.get("ray_node_id"), info.get("pid"))
        if key not in seen:
            seen.add(key)
            out.append(info)
    return out


class _Progress:
    """A rich progress bar on stderr with the run's average rate and ETA (nothing when disabled or empty);
    without a terminal (a batch job's log file), plain lines instead (``_ProgressLines``)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total
        self._bar = None

    def __enter__(self):
        if not self.enabled or self.total == 0:
            return lambda: None
        if not sys.stderr.isatty():  # a bar redrawn in place would reach a log file once, at the end
            return _ProgressLines(self.total, _say)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        class Rate(TextColumn):
            def render(self, task):
                return archs_per_second(int(task.completed), task.elapsed or 0.0)

        self._bar = Progress(
            TextColumn("scoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            Rate(""),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task("scoring", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
