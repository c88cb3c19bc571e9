"""Append-only, crash-safe result CSV.

Every row is written with one ``write`` on an O_APPEND descriptor and fsync'ed per flush, so a
SIGKILL can at worst leave one torn trailing line; opening the file again cuts exactly that line
(nothing complete is rewritten) and reads the keys of the finished rows for resume. The one exception
is asked for by name: ``drop_failed`` (``--retry-failed``) replaces the file, atomically, by a copy
without the failed rows it scores again.

One writer per file: the writer holds an OS lock (``flock``) on ``<out>.lock`` from before it reads the
file until it is closed, so a second process writing the same CSV is refused at once, naming the first
one's pid, instead of writing every row twice. The OS releases the lock when its process dies (a crash
or SIGKILL leaves a stale ``.lock`` file that locks nothing); a clean close removes the file.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import math
import os
from collections.abc import Container, Iterable, Iterator
from pathlib import Path

from nasprox.core import FAILED_STATUSES, NasproxError, ResultKey, ScoreRecord
from nasprox.storage.schema import COLUMNS, GT_PREFIX, KEY_COLUMNS


def header_for(gt_fields: Iterable[str]) -> list[str]:
    cols = list(COLUMNS)
    cols += [f"{GT_PREFIX}{f}" for f in gt_fields if f"{GT_PREFIX}{f}" not in cols]
    return cols


def _fmt(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)  # round-trips exactly
    return "" if value is None else str(value)


def record_row(rec: ScoreRecord, header: list[str]) -> list[str]:
    values = {
        "space": rec.space,
        "arch_index": rec.arch_index,
        "arch": rec.arch,
        "dataset": rec.dataset,
        "proxy": rec.proxy,
        "proxy_version": rec.proxy_version,
        "seed": rec.seed,
        "data_config": rec.data_config,
        "score": float(rec.score),
        "status": rec.status,
        "error": rec.error.replace("\n", " ")[:500],
        "seconds": round(rec.seconds, 6),
        "peak_mem_mb": round(rec.peak_mem_mb, 3),
        "batch_size": rec.batch_size,
        "device": rec.device,
    }
    for name, val in rec.ground_truth.items():
        values[f"{GT_PREFIX}{name}"] = float(val) if val is not None else None
    return [_fmt(values.get(col)) for col in header]


def read_complete_rows(path: Path) -> tuple[list[list[str]], int, int]:
    """(rows incl. the header, bytes of complete lines, bytes in the file) of a result CSV.

    A torn last line (a killed run: no trailing newline) is not a row; the caller decides whether to
    cut it (the writer, on resume) or only ignore it (readers).
    """
    data = Path(path).read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    try:
        # a byte-order mark (a spreadsheet's "CSV UTF-8" save) is not part of the header
        rows = list(csv.reader(io.StringIO(complete.decode("utf-8-sig"))))
    except UnicodeDecodeError:
        raise NasproxError(f"{path} is not a nasprox result CSV (not UTF-8 text)") from None
    except csv.Error as exc:
        raise NasproxError(f"{path} is not a readable result CSV ({exc})") from None
    return rows, len(complete), len(data)


def lock_path(path: str | Path) -> Path:
    """The lock file of a result CSV (held by its one writer while the writer is open)."""
    return Path(str(path) + ".lock")


def row_key(row: dict[str, str]) -> ResultKey:
    return ResultKey.from_row(row)


def _keys_of_rows(path: Path, header: list[str], rows: Iterator[list[str]]) -> Iterator[ResultKey]:
    for line_no, values in enumerate(rows, start=2):
        if len(values) != len(header):
            raise NasproxError(f"{path}:{line_no} is malformed ({len(values)} fields, expected {len(header)})")
        yield row_key(dict(zip(header, values)))


def _complete_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the complete lines of a result CSV, read only; ([], []) when absent or empty."""
    if not path.is_file() or path.stat().st_size == 0:
        return [], []
    rows, _, _ = read_complete_rows(path)
    return (rows[0], rows[1:]) if rows else ([], [])


def written_keys(path: str | Path) -> set[ResultKey]:
    """Keys of the complete rows of a result CSV, read only (nothing is cut or created); empty when absent."""
    header, body = _complete_rows(Path(path))
    return set(_keys_of_rows(Path(path), header, iter(body))) if header else set()


def failed_keys(path: str | Path) -> set[ResultKey]:
    """Keys of the rows whose status is in FAILED_STATUSES (what ``--retry-failed`` scores again)."""
    header, body = _complete_rows(Path(path))
    if "status" not in header:
        return set()
    status = header.index("status")
    failed = (r for r in body if len(r) == len(header) and r[status] in FAILED_STATUSES)
    return set(_keys_of_rows(Path(path), header, failed))


class ResultWriter:
    """Opens (or resumes) a result CSV; ``done`` holds the keys of complete rows already there."""

    def __init__(self, path: str | Path, header: list[str]):
        self.path = Path(path)
        self.header = header
        self.done: set[ResultKey] = set()
        self.failed: set[ResultKey] = set()  # keys of the rows with a FAILED_STATUSES status (a subset of done)
        self.rows_before = 0
        self._fd = self._lock_fd = -1
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NasproxError(f"cannot create output folder {self.path.parent}: {exc.strerror}") from None
        self._lock()  # before reading: another writer may be appending, or about to cut a torn line
        try:
            if self.path.exists() and self.path.stat().st_size > 0:
                self._resume()
            self._open()
        except BaseException:
            self._unlock()
            raise
        if self.path.stat().st_size == 0:
            self._write_line(header)
            os.fsync(self._fd)

    @property
    def lock_path(self) -> Path:
        return lock_path(self.path)

    def _lock(self) -> None:
        """Hold the exclusive lock of ``lock_path`` (pid inside), or refuse: another process writes this file."""
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise NasproxError(f"cannot create lock file {self.lock_path}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise NasproxError(f"cannot lock {self.lock_path}: {exc.strerror}") from None
                raise NasproxError(
                    f"{self.path} is being written by another nasprox process (pid {holder}); one output file "
                    "takes one writer: wait for it, or give this run another --out"
                ) from None
            # the file may have been removed by a writer closing between our open and our lock: lock the new one
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            try:
                os.unlink(self.lock_path)  # while still held, so no other writer can be holding it
            except FileNotFoundError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _resume(self) -> None:
        rows, complete, total = read_complete_rows(self.path)
        reader = iter(rows)
        file_header = next(reader, None)
        if file_header is None:
            raise NasproxError(f"{self.path} has no complete header line; move it away and run again")
        if file_header != self.header:
            missing = [c for c in self.header if c not in file_header]
            detail = f"missing columns {missing}" if missing else "different column order or extra columns"
            raise NasproxError(f"{self.path} was written with another schema ({detail}); use a new --out file")
        status = file_header.index("status")
        body = list(reader)
        for key, values in zip(_keys_of_rows(self.path, file_header, iter(body)), body):
            self.done.add(key)
            if values[status] in FAILED_STATUSES:
                self.failed.add(key)
            self.rows_before += 1
        if complete != total:  # a torn last line from a killed run: cut only that
            with open(self.path, "r+b") as fh:
                fh.truncate(complete)

    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise NasproxError(f"cannot write {self.path}: {exc.strerror}") from None

    def drop_failed(self, keys: Container[ResultKey]) -> list[dict[str, str]]:
        """Take the failed rows (FAILED_STATUSES) whose key is in ``keys`` out of the file; returns them.

        Their keys leave ``done``, so the run scores them again. The file is replaced atomically (a copy
        without them, fsync'ed, then renamed over it): a crash leaves either the old file or the new one, and
        every other row keeps its bytes (rows are written by the same csv writer they were read with).
        """
        rows, _, _ = read_complete_rows(self.path)
        if not rows:
            return []
        header, body = rows[0], rows[1:]
        status = header.index("status")
        kept, dropped = [header], []
        for values in body:
            row = dict(zip(header, values)) if values[status] in FAILED_STATUSES else None
            if row is not None and row_key(row) in keys:
                dropped.append(row)
            else:
                kept.append(values)
        if not dropped:
            return []
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(kept)
        tmp = self.path.with_name(self.path.name + ".retry.tmp")
        with open(tmp, "wb") as fh:
            fh.write(buf.getvalue().encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.close(self._fd)  # the descriptor would keep appending to the replaced file
        os.replace(tmp, self.path)
        self._open()
        for row in dropped:
            self.done.discard(row_key(row))
            self.failed.discard(row_key(row))
        self.rows_before -= len(dropped)
        return dropped

    def _write_line(self, values: list[str]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        os.write(self._fd, buf.getvalue().encode("utf-8"))

    def write(self, rec: ScoreRecord) -> None:
        self._write_line(record_row(rec, self.header))
        self.done.add(rec.key)

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._unlock()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["ResultWriter", "header_for", "record_row", "row_key", "KEY_COLUMNS"]
