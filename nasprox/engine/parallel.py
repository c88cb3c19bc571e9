"""Scoring in worker processes: one per device, with an optional per-architecture timeout.

The parent process stays the single writer; workers only compute. A worker that exceeds the
per-architecture timeout is killed (a hung model cannot stall the run), the architecture gets
``timeout`` rows, and a fresh worker takes over the rest of the queue.

A worker killed by SIGKILL while other workers ran (what the kernel's out-of-memory killer does when the
workers together outgrow the machine) does not fail its architecture at once: the architecture is scored
again at the end of the run, alone, the other workers ended (an idle worker still holds the memory of its
last cells), and only fails if it is killed again. The killed worker is not replaced: the run goes on
with one worker fewer, since cells like that one would crowd each other out again (two NB101 workers at
batch 256, 12-16 GB each on a 23 GB machine, lost four cells in 27 minutes and finished one).

Results come back on a pipe the worker writes synchronously: a result sent is in the kernel's pipe
buffer before the worker starts its next architecture, so a worker killed there (the OOM killer's
SIGKILL) loses nothing it finished, and the failure rows name the architecture it was scoring. (A
``multiprocessing.Queue`` sends from a background thread, and a killed worker could take its last
result with it, the parent then blaming the finished architecture.)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import replace
from multiprocessing.connection import Connection

from nasprox.core import ArchRef, ResultKey, ScoreRecord
from nasprox.engine.runner import RunConfig, Scorer

_POLL_S = 0.01  # the parent's wait between polls when nothing happened
_DEPTH = 2  # tasks a worker holds: the one it scores and the next one
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


def _worker_main(config: RunConfig, threads: int, tasks, results: Connection, parent: int) -> None:
    """Worker loop: (task_id, arch, skip_names) in, (task_id, records | error text) out."""
    import torch

    # Ctrl-C reaches the terminal's whole process group, and a scheduler's SIGTERM the job's: the parent alone
    # answers them (one line, rows kept) and ends the workers (SIGKILL); a worker stopped mid-architecture would
    # only add a traceback or a 'worker died' row for a cell that was never at fault
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(threads)
    try:
        scorer = Scorer(config)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a one-line error
        results.send((None, f"{exc.__class__.__name__}: {exc}"))
        return
    results.send(("ready", None))
    while True:
        item = _next_task(tasks, parent)
        if item is None:
            return
        task_id, arch, skip = item
        try:
            recs = scorer.score_arch(arch, skip=skip.__contains__)
            results.send((task_id, recs))
        except Exception as exc:  # noqa: BLE001
            results.send((task_id, f"{exc.__class__.__name__}: {exc}"))


def _death(w: _Worker, alone: bool, retried_alone: bool) -> str:
    """The error of the rows of a worker that died; ``alone``: no other worker was left to crowd it out."""
    message = f"worker on {w.config.device} died (exit code {w.proc.exitcode})"
    if w.proc.exitcode == -signal.SIGKILL:  # what the kernel's OOM killer sends
        note = ", also when scored alone" if retried_alone else " while scored alone" if alone else ""
        advice = "more memory, or a smaller batch" if alone or retried_alone else "fewer --workers, or more memory"
        message += f": SIGKILL{note}, most likely the system's out-of-memory killer ({advice})"
    return message


class _Worker:
    def __init__(self, ctx, config: RunConfig, threads: int):
        self.config = config
        self.tasks = ctx.Queue()
        self.results, sender = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(
            target=_worker_main, args=(config, threads, self.tasks, sender, os.getpid()), daemon=True
        )
        self.proc.start()
        sender.close()  # the worker holds the only sending end: its death reads as end-of-file here
        self.ready = False
        # tasks handed to this worker and not yet answered, oldest first; the oldest is the one it is scoring
        self.in_flight: deque[tuple[int, ArchRef, frozenset]] = deque()
        self.started = 0.0  # when the oldest in-flight task started (as far as the parent can tell)
        self.retired = False  # ended (``stop``, or killed beside others): neither given tasks nor replaced

    def receive(self) -> tuple | None:
        """The worker's next message, or None when none is waiting (or the worker is gone: end of file)."""
        try:
            return self.results.recv() if self.results.poll() else None
        except (EOFError, OSError):
            return None

    def submit(self, task_id: int, arch: ArchRef, skip: frozenset) -> None:
        if not self.in_flight:
            self.started = time.monotonic()
        self.in_flight.append((task_id, arch, skip))
        self.tasks.put((task_id, arch, skip))

    def answered(self) -> None:
        """The oldest task came back; the next one (already queued to the worker) starts now."""
        self.in_flight.popleft()
        self.started = time.monotonic()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(timeout=5)

    def stop(self) -> None:
        """End an idle worker for good (its process exits, and the memory it holds is the system's again)."""
        self.retired = True
        self.tasks.put(None)
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.kill()


class WorkerPool:
    """Runs ``Scorer.score_arch`` for many architectures on worker processes (one per device).

    Each worker holds up to ``depth`` tasks, so it starts the next architecture as soon as it finishes one,
    without waiting for the parent's next poll: one task at a time with a 50 ms poll left cheap architectures
    (#params/FLOPs, ~40 ms of work) idle half the time (scripts/bench_worker_pool.py).
    """

    def __init__(
        self,
        scorer: Scorer,
        devices: list[str],
        timeout_per_arch: float | None = None,
        depth: int = _DEPTH,
        poll_s: float = _POLL_S,
        on_notice: Callable[[str], None] = lambda message: None,
    ):
        # the parent's scorer only formats rows for failed workers; workers build their own
        self.scorer, self.config = scorer, scorer.config
        self.devices, self.timeout = devices, timeout_per_arch
        self.depth, self.poll_s = max(1, depth), poll_s
        self.on_notice = on_notice
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
        # tasks whose worker was SIGKILLed beside others: scored again at the end, one at a time, the other workers ended
        alone: deque[tuple[int, ArchRef, frozenset]] = deque()
        tried_alone: set[int] = set()

        def requeue(w: _Worker) -> None:
            """``w``'s queued tasks back to ``pending``: not started, scored by whichever worker is free next."""
            pending.extend(reversed(w.in_flight))
            w.in_flight.clear()

        def replace_worker(slot: int, w: _Worker, message: str, status: str) -> Iterator[list[ScoreRecord]]:
            """Rows for the task ``w`` was scoring, its queued tasks back to ``pending``, a fresh worker in ``slot``."""
            yield from self._fail(w, message, status)
            requeue(w)
            workers[slot] = self._start(w.config.device)

        def busy() -> bool:
            return any(w.in_flight for w in workers)

        def active() -> int:
            return sum(not w.retired for w in workers)

        try:
            while pending or alone or busy():
                progressed = False
                for slot, w in enumerate(workers):
                    if w.retired:
                        continue
                    while w.ready and pending and len(w.in_flight) < self.depth:
                        w.submit(*pending.pop())
                        progressed = True
                    if w.ready and alone and not pending and not busy():
                        for other in workers:  # idle now, and each holds memory the cell alone may need
                            if other is not w and not other.retired:
                                other.stop()
                        task = alone.popleft()
                        tried_alone.add(task[0])
                        w.submit(*task)
                        progressed = True
                    received = w.receive()
                    if received is None:
                        if not w.proc.is_alive() and (w.in_flight or not w.ready):
                            oldest = w.in_flight[0][0] if w.in_flight else None
                            killed = w.proc.exitcode == -signal.SIGKILL  # what the kernel's OOM killer sends
                            if killed and oldest is not None and active() > 1 and oldest not in tried_alone:
                                alone.append(w.in_flight.popleft())  # crowded out, perhaps: scored alone at the end
                                requeue(w)
                                w.retired = True  # not replaced: the workers together outgrew the memory
                                left = active()
                                self.on_notice(
                                    f"a worker was killed (SIGKILL, most likely the out-of-memory killer) while scoring "
                                    f"{alone[-1][1].key}; the run continues with {left} worker{'s' * (left > 1)}, and "
                                    f"that architecture is scored again alone once the others are done"
                                )
                            else:
                                death = _death(w, alone=active() == 1, retried_alone=oldest in tried_alone)
                                yield from replace_worker(slot, w, death, "error")
                        elif w.in_flight and self.timeout and time.monotonic() - w.started > self.timeout:
                            w.kill()
                            message = f"no result within --timeout-per-arch {self.timeout:g}s"
                            yield from replace_worker(slot, w, message, "timeout")
                        continue
                    progressed = True
                    task_id, payload = received
                    if task_id == "ready":
                        w.ready = True
                    elif task_id is None:  # the worker could not even start: a configuration error
                        from nasprox.core import NasproxError

                        raise NasproxError(f"worker on {w.config.device} failed to start: {payload}")
                    elif isinstance(payload, str):
                        yield from self._fail(w, payload, "error")
                    else:
                        w.answered()
                        if payload:
                            yield payload
                if not progressed:
                    time.sleep(self.poll_s)
        finally:
            for w in workers:
                try:
                    w.tasks.put(None)
                except Exception:  # noqa: BLE001
                    pass
                w.proc.join(timeout=2)
                if w.proc.is_alive():
                    w.kill()
                w.results.close()

    def _fail(self, w: _Worker, message: str, status: str) -> Iterator[list[ScoreRecord]]:
        """Rows (status timeout/error) for the task ``w`` was scoring, which leaves its in-flight queue."""
        if not w.in_flight:
            return
        _, arch, skip = w.in_flight[0]
        w.answered()
        sc = self.scorer
        seconds = float(self.timeout or 0) if status == "timeout" else 0.0
        rows = [sc.failure_record(arch, p, status, message, seconds) for p in sc.proxies if p.name not in skip]
        if rows:
            yield rows
