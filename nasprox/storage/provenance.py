"""Provenance sidecar ``<out>.provenance.json``: versions, hardware, seeds, config hash. No hostname."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nasprox.storage.schema import SCHEMA_VERSION


def config_hash(config: Mapping[str, Any]) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def environment() -> dict[str, Any]:
    import numpy
    import pandas
    import torch

    import nasprox

    env: dict[str, Any] = {
        "nasprox_version": nasprox.__version__,
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "cuda": torch.version.cuda or "",
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return env


def _sidecar(out_csv: str | Path) -> Path:
    return Path(str(out_csv) + ".provenance.json")


def read_provenance(out_csv: str | Path) -> list[dict[str, Any]]:
    """The run entries of a result CSV's sidecar ([] when absent or unreadable)."""
    path = _sidecar(out_csv)
    try:
        return json.loads(path.read_text()).get("runs", [])
    except (OSError, ValueError, AttributeError):
        return []


def _save(path: Path, runs: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "runs": runs}, indent=1, default=str))
    os.replace(tmp, path)


def update_last_provenance(out_csv: str | Path, fields: Mapping[str, Any]) -> None:
    runs = read_provenance(out_csv)
    if runs:
        runs[-1].update(fields)
        _save(_sidecar(out_csv), runs)


def finish_provenance(out_csv: str | Path, fields: Mapping[str, Any]) -> None:
    """Close this run's entry: finish time plus ``fields`` (status, rows written, workers)."""
    update_last_provenance(out_csv, {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields})


def file_checksums(paths: Mapping[str, str | None], limit_bytes: int = 2**30) -> dict[str, str]:
    """sha256 of each input file (flag -> digest); folders and files over ``limit_bytes`` get their size only.

    Lets a reader tell whether two runs used the same inputs without trusting the path.
    """
    out: dict[str, str] = {}
    for flag, value in paths.items():
        if not value:
            continue
        path = Path(value)
        if path.is_file() and path.stat().st_size <= limit_bytes:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            out[flag] = f"sha256:{digest.hexdigest()}"
        elif path.is_file():
            out[flag] = f"size:{path.stat().st_size} (not hashed: over {limit_bytes} bytes)"
        elif path.is_dir():
            out[flag] = "folder (not hashed)"
    return out


def write_provenance(out_csv: str | Path, config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Path:
    """Append this run's provenance to the sidecar (one entry per run or worker; resumes add entries)."""
    path = _sidecar(out_csv)
    runs = read_provenance(out_csv)  # a damaged sidecar must not stop scoring; the CSV is the source of truth
    entry = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "schema_version": SCHEMA_VERSION,
        "config": dict(config),
        "config_hash": config_hash(config),
        "pid": os.getpid(),
        **environment(),
    }
    from nasprox.core import plugins  # file path + sha256 / package + version of every plug-in loaded

    if plugins.loaded():
        entry["plugins"] = plugins.provenance()
    if extra:
        entry.update(extra)
    runs.append(entry)
    _save(path, runs)
    return path
