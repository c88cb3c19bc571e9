"""Scoring in worker processes: one per device, with an optional per-architecture timeout.

The parent process stays the single writer; workers only compute. A worker that exceeds the
per-architecture timeout is killed (a hung model cannot stall the run), the architecture gets
``timeout`` rows, and a fresh worker takes over the rest of the queue.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time
from collections.abc import Iterable, Iterator, Set
from dataclasses import replace

from nasprox.core import ArchRef, ResultKey, ScoreRecord
from nasprox.engine.runner import RunConfig, Scorer

_POLL_S = 0.05
_PARENT_CHECK_S = 1.0  # how often an idle worker checks that its parent is still alive


def _next_task(tasks, parent: int):
    """The next queue item, or None once the parent has died: daemonic workers end with a parent that
    exits normally, not with one killed by SIGKILL/SIGTERM (a cluster job's end), and would wait forever."""
    while True:
        try:
            return tasks.get(timeout=_PARENT_CHECK_S)
        except queue.Empty:
            if os.getppid() != parent:
                return None


def _worker_main(config: RunConfig, threads: int, tasks, results, parent: int) -> None:
    """Worker loop: (task_id, arch, skip_names) in, (task_id, records | error text) out."""
    import torch

    torch.set_num_threads(threads)
    try:
        scorer = Scorer(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a one-line error
        results.put((None, f"{exc.__class__.__name__}: {exc}"))
        return
    results.put(("ready", None))
    while True:
        item = _next_task(tasks, parent)
        if item is None:
            return
        task_id, arch, skip = item
        try:
            recs = scorer.score_arch(arch, skip=skip.__contains__)
            results.put((task_id, recs))
        except Exception as exc:  # noqa: BLE001
            results.put((task_id, f"{exc.__class__.__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx, config: RunConfig, threads: int):
        self.config = config
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.proc = ctx.Process(
            target=_worker_main, args=(config, threads, self.tasks, self.results, os.getpid()), daemon=True
        )
        self.proc.start()
        self.ready = False
        self.current: tuple[int, ArchRef, frozenset] | None = None
        self.started = 0.0

    def submit(self, task_id: int, arch: ArchRef, skip: frozenset) -> None:
        self.current = (task_id, arch, skip)
        self.started = time.monotonic()
        self.tasks.put((task_id, arch, skip))

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(timeout=5)


class WorkerPool:
    """Runs ``Scorer.score_arch`` for many architectures on worker processes (one per device)."""

    def __init__(self, scorer: Scorer, devices: list[str], timeout_per_arch: float | None = None):
        # the parent's scorer only formats rows for failed workers; workers build their own
        self.scorer, self.config = scorer, scorer.config
        self.devices, self.timeout = devices, timeout_per_arch
        self._ctx = mp.get_context("spawn")  # CUDA cannot be forked; spawn is also safe on CPU

    def _start(self, device: str) -> _Worker:
        # every worker uses the run's thread count (RunConfig.threads), so its scores equal the inline ones;
        # with N workers on N cores that is also the fastest (oversubscribed OpenMP threads made NEAR 10x slower)
        return _Worker(self._ctx, replace(self.config, device=device), self.config.threads)

    def run(self, archs: Iterable[ArchRef], done: Set[ResultKey]) -> Iterator[list[ScoreRecord]]:
        """Score ``archs`` on the workers, skipping (arch, proxy) rows whose key is in ``done`` (resume)."""
        pending = [(i, a, self.scorer.skip_set(a, done)) for i, a in enumerate(archs)]
        pending.reverse()  # pop() from the end keeps the original order
        workers = [self._start(d) for d in self.devices]
        try:
            while pending or any(w.current for w in workers):
                for slot, w in enumerate(workers):
                    if w.current is None and pending and w.ready:
                        w.submit(*pending.pop())
                    try:
                        task_id, payload = w.results.get_nowait()
                    except queue.Empty:
                        task_id = None
                        if not w.proc.is_alive() and (w.current or not w.ready):
                            payload = f"worker on {w.config.device} died (exit code {w.proc.exitcode})"
                            yield from self._fail(w, payload, "error")
                            workers[slot] = self._start(w.config.device)
                            continue
                        if w.current and self.timeout and time.monotonic() - w.started > self.timeout:
                            w.kill()
                            yield from self._fail(
                                w, f"no result within --timeout-per-arch {self.timeout:g}s", "timeout"
                            )
                            workers[slot] = self._start(w.config.device)
                        continue
                    if task_id == "ready":
                        w.ready = True
                    elif task_id is None:  # the worker could not even start: a configuration error
                        from nasprox.core import NasproxError

                        raise NasproxError(f"worker on {w.config.device} failed to start: {payload}")
                    elif isinstance(payload, str):
                        yield from self._fail(w, payload, "error")
                    else:
                        w.current = None
                        if payload:
                            yield payload
                time.sleep(_POLL_S)
        finally:
            for w in workers:
                try:
                    w.tasks.put(None)
                except Exception:  # noqa: BLE001
                    pass
                w.proc.join(timeout=2)
                if w.proc.is_alive():
                    w.kill()

    def _fail(self, w: _Worker, message: str, status: str) -> Iterator[list[ScoreRecord]]:
        """Rows for the architecture a failed worker held (status timeout/error), then free the slot."""
        if w.current is None:
            return
        _, arch, skip = w.current
        w.current = None
        sc = self.scorer
        seconds = float(self.timeout or 0) if status == "timeout" else 0.0
        rows = [sc.failure_record(arch, p, status, message, seconds) for p in sc.proxies if p.name not in skip]
        if rows:
            yield rows
