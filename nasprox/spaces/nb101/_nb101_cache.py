"""Compact columnar cache of the NAS-Bench-101 benchmark (one streaming pass over the tfrecord).

The cache is an ``.npz`` in the user cache dir (``$NASPROX_CACHE_DIR``, else
``$XDG_CACHE_HOME/nasprox``, else ``~/.cache/nasprox``), never inside the package. Its name
carries a fingerprint of the source file (size, first and last MiB), so a changed file is
re-read. Rows are sorted by module hash; the row number is the space index.

Columns: ``hashes`` (S32), ``num_vertices`` (uint8), ``adjacency`` (uint8, N x 7 x 7, zero
padded), ``ops`` (uint8, N x 7, codes into ``OP_TABLE``, 255 = padding),
``trainable_parameters`` (int64), ``test_acc`` / ``valid_acc`` (float64, N x 3: the final
accuracies of the 108-epoch repeats as fractions, NaN where a repeat is missing).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasprox.core import NasproxError
from nasprox.core.sources import missing
from nasprox.spaces.nb101._nb101_graph import AVAILABLE_OPS, INPUT, MAX_VERTICES, OUTPUT
from nasprox.spaces.nb101._nb101_tfrecord import decode_record, iter_records

log = logging.getLogger(__name__)

CACHE_VERSION = 1
OP_TABLE = (INPUT, OUTPUT) + AVAILABLE_OPS
PAD_OP = 255
REPEATS = 3
FINAL_EPOCHS = 108
_HASH_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class NB101Table:
    hashes: np.ndarray
    num_vertices: np.ndarray
    adjacency: np.ndarray
    ops: np.ndarray
    trainable_parameters: np.ndarray
    test_acc: np.ndarray
    valid_acc: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)

    def find(self, module_hash: str) -> int:
        """Row of a hash, or -1."""
        try:
            key = module_hash.encode("ascii")
        except UnicodeEncodeError:
            return -1
        row = int(np.searchsorted(self.hashes, key))
        return row if row < len(self.hashes) and self.hashes[row] == key else -1

    def spec(self, row: int) -> tuple[list[list[int]], list[str]]:
        n = int(self.num_vertices[row])
        matrix = self.adjacency[row, :n, :n].astype(int).tolist()
        return matrix, [OP_TABLE[c] for c in self.ops[row, :n]]


def cache_dir() -> Path:
    if os.environ.get("NASPROX_CACHE_DIR"):
        return Path(os.environ["NASPROX_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "nasprox"


def fingerprint(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha1(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(-(1 << 20), os.SEEK_END)
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def cache_path_for(source: Path) -> Path:
    return cache_dir() / f"nb101-{source.stem}-{fingerprint(source)}-v{CACHE_VERSION}.npz"


def load_benchmark(path: Path) -> NB101Table:
    """The table for a ``.tfrecord`` (cached after the first pass) or a cache ``.npz``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise NasproxError(missing(f"NB101 benchmark file not found: {path}", "nb101"))
    if path.suffix == ".npz":
        return read_cache(path)
    cached = cache_path_for(path)
    if cached.is_file():
        try:
            return read_cache(cached)
        except NasproxError:
            log.warning("NB101 cache %s is unreadable; rebuilding it", cached)
    table = build_table(path)
    write_cache(table, cached)
    return table


def build_table(path: Path) -> NB101Table:
    """Stream the tfrecord once and keep, per module hash, its fixed stats and 108-epoch runs."""
    log.warning("reading %s once to build the NB101 cache (takes a minute or two)", path)
    row_of: dict[str, int] = {}
    hashes: list[str] = []
    num_vertices: list[int] = []
    adjacency: list[np.ndarray] = []
    ops: list[list[int]] = []
    params: list[int] = []
    run_rows: list[int] = []
    run_test: list[float] = []
    run_valid: list[float] = []
    for number, payload in enumerate(iter_records(path)):
        try:
            run = decode_record(payload)
            row = row_of.get(run.module_hash)
            if row is None:
                matrix, codes = _check_fixed(run)
        except ValueError as err:
            raise NasproxError(f"{path}: record {number} is not a NAS-Bench-101 record ({err})") from None
        if row is None:
            row = row_of[run.module_hash] = len(hashes)
            hashes.append(run.module_hash)
            n = matrix.shape[0]
            num_vertices.append(n)
            padded = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
            padded[:n, :n] = matrix
            adjacency.append(padded)
            ops.append(codes + [PAD_OP] * (MAX_VERTICES - n))
            params.append(run.trainable_parameters)
        if run.epochs == FINAL_EPOCHS:
            run_rows.append(row)
            run_test.append(run.final_test_accuracy)
            run_valid.append(run.final_validation_accuracy)
    if not hashes:
        raise NasproxError(f"{path}: no NAS-Bench-101 records found")
    return _assemble(hashes, num_vertices, adjacency, ops, params, run_rows, run_test, run_valid, path)


def _check_fixed(run) -> tuple[np.ndarray, list[int]]:
    """Adjacency and op codes of a module seen for the first time, checked."""
    if not _HASH_RE.match(run.module_hash):
        raise ValueError(f"module hash '{run.module_hash[:40]}' is not 32 hex digits")
    matrix = run.adjacency()
    n = matrix.shape[0]
    if not 2 <= n <= MAX_VERTICES:
        raise ValueError(f"{n} vertices (expected 2..{MAX_VERTICES})")
    ops = run.ops()
    if len(ops) != n:
        raise ValueError(f"{len(ops)} ops for a {n}x{n} adjacency")
    try:
        return matrix, [OP_TABLE.index(op) for op in ops]
    except ValueError:
        raise ValueError(f"unknown op in {run.raw_ops[:80]}") from None


def _assemble(hashes, num_vertices, adjacency, ops, params, run_rows, run_test, run_valid, path) -> NB101Table:
    n = len(hashes)
    test = np.full((n, REPEATS), np.nan)
    valid = np.full((n, REPEATS), np.nan)
    rows = np.asarray(run_rows, dtype=np.int64)
    if rows.size:
        # repeat slot = how many earlier runs of the same row were seen (stable order)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        starts = np.searchsorted(sorted_rows, sorted_rows, side="left")
        slot = np.empty_like(rows)
        slot[order] = np.arange(rows.size) - starts
        keep = slot < REPEATS
        test[rows[keep], slot[keep]] = np.asarray(run_test)[keep]
        valid[rows[keep], slot[keep]] = np.asarray(run_valid)[keep]
    if np.isnan(test).all():
        raise NasproxError(f"{path}: no {FINAL_EPOCHS}-epoch runs found (is this a NAS-Bench-101 file?)")
    by_hash = np.argsort(np.asarray(hashes))
    return NB101Table(
        hashes=np.asarray(hashes, dtype="S32")[by_hash],
        num_vertices=np.asarray(num_vertices, dtype=np.uint8)[by_hash],
        adjacency=np.stack(adjacency)[by_hash],
        ops=np.asarray(ops, dtype=np.uint8)[by_hash],
        trainable_parameters=np.asarray(params, dtype=np.int64)[by_hash],
        test_acc=test[by_hash],
        valid_acc=valid[by_hash],
    )


def write_cache(table: NB101Table, path: Path) -> None:
    """Atomic write; a read-only cache dir only costs a re-read next time."""
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            tmp_name = handle.name
            np.savez(handle, version=np.int64(CACHE_VERSION), **table.__dict__)
        os.replace(tmp_name, path)
    except OSError as err:
        log.warning("could not write the NB101 cache %s (%s); the file will be re-read next time", path, err)
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)


def read_cache(path: Path) -> NB101Table:
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != CACHE_VERSION:
                raise NasproxError(f"NB101 cache {path} has version {int(data['version'])}, expected {CACHE_VERSION}")
            table = NB101Table(**{name: data[name] for name in NB101Table.__dataclass_fields__})
    except (
        OSError,
        KeyError,
        ValueError,
        EOFError,
        NotImplementedError,
        zipfile.BadZipFile,
    ) as err:  # truncated/corrupt .npz
        raise NasproxError(f"cannot read NB101 cache {path} ({err.__class__.__name__})") from None
    if not (len(table.hashes) == len(table.adjacency) == len(table.test_acc) > 0):
        raise NasproxError(f"NB101 cache {path} has inconsistent columns")
    return table
