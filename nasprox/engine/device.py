"""Device choice and memory measurement; never hard-codes cuda:0."""

from __future__ import annotations

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


class MemoryMeter:
    """CUDA: the allocator's peak during one proxy call. CPU: the process's peak RSS so far.

    On CPU there is no per-call allocator peak; ru_maxrss is a lifetime high-water mark, so it is
    reported as such (see the schema) rather than dressed up as this proxy's own use.
    """

    def __init__(self, device: torch.device):
        self.device = device

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


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
