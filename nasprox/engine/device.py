"""Device choice and memory measurement; never hard-codes cuda:0."""

from __future__ import annotations

import re
import resource

import torch

from nasprox.core import NasproxError


def resolve_device(name: str) -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise NasproxError(f"unknown device '{name}' (use cpu, cuda, cuda:N or auto)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise NasproxError("--device cuda asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise NasproxError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type != "cpu":
        raise NasproxError(f"unsupported device '{name}' (use cpu, cuda, cuda:N or auto)")
    return dev


def _reset_rss_peak() -> bool:
    """Lower this process's peak-RSS mark (VmHWM) to its current RSS (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    """This process's peak RSS in MiB: VmHWM (which a reset lowers), or the lifetime ru_maxrss without /proc."""
    try:
        with open("/proc/self/status", "rb") as fh:
            match = _VM_HWM.search(fh.read())
        if match:
            return int(match.group(1)) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


_VM_HWM = re.compile(rb"VmHWM:\s+(\d+)\s+kB")


class MemoryMeter:
    """The peak memory of one proxy call: CUDA, the allocator's peak; CPU, the process's peak RSS.

    On CPU the kernel's high-water mark is reset to the current RSS before the call (Linux), so the row
    holds the process's peak during this proxy, which is what decides how many workers fit in memory. It
    counts what the process already held when the call began (the network copy, the cached batches, and
    freed memory the allocator keeps: an NB101 worker sat at ~4.7 GB before each call), so it bounds the
    proxy's own use from above. Where the mark cannot be reset, it is the peak since the process started;
    ``scope`` says which, and the run's provenance records it.
    """

    def __init__(self, device: torch.device):
        self.device = device

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            _reset_rss_peak()

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return _rss_peak_mb()

    @staticmethod
    def scope(device: torch.device) -> str:
        """What ``peak_mem_mb`` means on ``device`` on this system (for the provenance)."""
        if device.type == "cuda":
            return "CUDA allocator peak during each proxy call"
        if _reset_rss_peak():
            return "process peak RSS during each proxy call (kernel high-water mark reset before it)"
        return "process peak RSS since the process started (this system cannot reset the high-water mark)"


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc))


def empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def set_tf32(allow: bool) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions on (``allow``) or off (IEEE float32, the default here).

    PyTorch's own defaults differ (matmul off, cuDNN on); nasprox turns both off unless asked, so CUDA
    scores stay float32-accurate. Process-global, like the flags it sets.
    """
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow
