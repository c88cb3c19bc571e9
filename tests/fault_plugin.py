"""Proxies that fail on purpose, for tests/test_faults.py (loaded via NASPROX_PLUGINS or imported).

They work on the ``toy`` space of toy_plugin (width = arch index + 1 = ctx.model[0].out_channels).
"""

import math
import os

import torch

from nasprox.core import proxy

BATCHES_SEEN: list[tuple[str, int]] = []  # (arch key, batch size) of every fault_oom call, in-process only


def _oom(batch: int) -> Exception:
    # what the CUDA caching allocator raises; constructible (and raised here) without a GPU
    return torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch * 0.5:.2f} GiB")


@proxy(
    "fault_oom",
    "OOMs (torch.cuda.OutOfMemoryError) above FAULT_OOM_ABOVE samples (test fixture)",
    needs_real_data=False,
    cost="free",
)
def fault_oom(ctx):
    batch = int(ctx.inputs.shape[0])
    BATCHES_SEEN.append((ctx.arch.key, batch))
    if batch > int(os.environ.get("FAULT_OOM_ABOVE", "8")):
        raise _oom(batch)
    return float(batch)  # the batch the proxy really saw


@proxy(
    "fault_oom_w3",
    "OOMs at every batch size on width 3, old-style RuntimeError (test fixture)",
    needs_real_data=False,
    cost="free",
)
def fault_oom_w3(ctx):
    if ctx.model[0].out_channels == 3:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 79.11 GiB total capacity)")
    return float(ctx.model[0].out_channels)


@proxy(
    "fault_bad_value",
    "NaN on width 2, -inf on width 3, raises on width 4 (test fixture)",
    needs_real_data=False,
    cost="free",
)
def fault_bad_value(ctx):
    width = ctx.model[0].out_channels
    if width == 2:
        return math.nan
    if width == 3:
        return -math.inf
    if width == 4:
        raise ValueError("matrix is singular\nsecond line of the message")
    return float(width)


@proxy(
    "fault_sigkill",
    "SIGKILLs its own worker process on width 2, as the system's OOM killer would (test fixture)",
    needs_real_data=False,
    cost="free",
)
def fault_sigkill(ctx):
    import multiprocessing
    import signal

    # only ever in an isolated worker: in-process it would kill the test run itself
    if ctx.model[0].out_channels == 2 and multiprocessing.current_process().name != "MainProcess":
        os.kill(os.getpid(), signal.SIGKILL)
    return float(ctx.model[0].out_channels)


@proxy(
    "fault_sigkill_once",
    "SIGKILLs its worker on width 2 the first time only (marker file FAULT_SIGKILL_MARK), as an OOM kill "
    "among busy workers would (test fixture)",
    needs_real_data=False,
    cost="free",
)
def fault_sigkill_once(ctx):
    import multiprocessing
    import signal
    from pathlib import Path

    mark = Path(os.environ.get("FAULT_SIGKILL_MARK", ""))
    in_worker = multiprocessing.current_process().name != "MainProcess"
    if ctx.model[0].out_channels == 2 and in_worker and mark.name and not mark.exists():
        mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return float(ctx.model[0].out_channels)


@proxy(
    "fault_flaky",
    "raises on width 2 while FAULT_FLAKY_FAIL is set, as a transient crash would (test fixture)",
    needs_real_data=False,
    cost="free",
)
def fault_flaky(ctx):
    if ctx.model[0].out_channels == 2 and os.environ.get("FAULT_FLAKY_FAIL"):
        raise RuntimeError("transient failure")
    return float(ctx.model[0].out_channels)
