"""The one place that defines the result CSV: one row per (architecture, proxy).

Bump SCHEMA_VERSION when a column changes meaning; readers refuse other versions.
"""

from __future__ import annotations

from nasprox.core import ResultKey

SCHEMA_VERSION = 1

# column -> meaning
COLUMNS: dict[str, str] = {
    "space": "search-space name (registry name, e.g. nats-tss)",
    "arch_index": "the benchmark's own architecture index (-1 when scored from an explicit spec)",
    "arch": "canonical architecture string (NB201 arch string, NB101 module hash, ...)",
    "dataset": "dataset or task the network was built and fed for",
    "proxy": "proxy registry name",
    "proxy_version": "proxy implementation version; a change invalidates resume",
    "seed": "seed of model init and data sampling",
    "data_config": "short hash of the input configuration (data source, batch size, augmentation, proxy options)",
    "score": "proxy value (NaN when status is not ok)",
    "status": "ok | nonfinite | undefined | error | oom | timeout",
    "error": "one-line reason when status is not ok",
    "seconds": "wall seconds for this proxy on this architecture (excluding model build); work proxies of one "
    "architecture share (reg_swap reusing swap's forwards, one backward for snip, grad_norm, plain) counts in "
    "the first that did it",
    "peak_mem_mb": "MiB; CUDA: the allocator's peak during this proxy; CPU: the scoring process's peak RSS during "
    "this proxy on Linux (what the process held when the call began included), elsewhere the peak since the "
    "process started: the run's provenance `peak_memory` says which (runs whose provenance lacks it recorded "
    "the peak since the process started)",
    "batch_size": "batch size actually used (after any OOM back-off)",
    "device": "cpu | cuda:N",
    # ground truth: present when the space has benchmark files configured; empty otherwise
    "gt_test_acc": "benchmark test accuracy (%) or the space's main test metric",
    "gt_valid_acc": "benchmark validation accuracy (%) or the space's validation metric",
    "gt_params": "benchmark's own parameter count (millions)",
    "gt_flops": "benchmark's own FLOPs (millions, multiply-accumulates)",
}
KEY_COLUMNS = ResultKey.field_names()  # the resume/merge key, defined once in core
GT_PREFIX = "gt_"
# spaces may add further gt_<field> columns (e.g. gt_test_loss); they are appended after these
