"""Read the NAS-Bench-101 ``.tfrecord`` without TensorFlow.

TFRecord framing (tensorflow ``core/lib/io/record_writer.cc``), little-endian, per record::

    uint64 length
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

with CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF) and
``masked(c) = ((c >> 15) | (c << 17)) + 0xA282EAD8`` (mod 2**32).

Each record of the benchmark (``nasbench/api.py``) is UTF-8 JSON
``[module_hash, epochs, adjacency_digits, "op,op,...", base64(ModelMetrics)]``; the protobuf
field numbers (``nasbench/lib/model_metrics.proto``, proto2) are::

    ModelMetrics:   1 evaluation_data (repeated EvaluationData, length-delimited)
                    2 trainable_parameters (int32, varint)
                    3 total_time (double, fixed64)
    EvaluationData: 1 current_epoch  2 training_time  3 train_accuracy
                    4 validation_accuracy  5 test_accuracy (all double, fixed64)
                    6 checkpoint_path (string)

``evaluation_data[2]`` is the end of training (``[0]`` is step 0, ``[1]`` half-way), as read by
``NASBench.__init__``. The file is read in chunks; CRCs are checked in numpy batches.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasprox.core import NasproxError

_MASK_DELTA = 0xA282EAD8
_CHUNK_BYTES = 8 << 20


def _crc32c_tables() -> np.ndarray:
    """Slicing-by-4 tables: row 0 is the byte table, row k advances k more zero bytes."""
    byte_table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        byte_table = np.where(byte_table & 1, (byte_table >> 1) ^ np.uint32(0x82F63B78), byte_table >> 1)
    tables = [byte_table.astype(np.uint32)]
    for _ in range(3):
        prev = tables[-1]
        tables.append((prev >> 8) ^ tables[0][prev & 0xFF])
    return np.stack(tables)


_T = _crc32c_tables()


def crc32c_many(buffers: list[bytes]) -> np.ndarray:
    """CRC-32C of every buffer, vectorised across buffers.

    One numpy step per 4-byte word position (slicing-by-4) over the buffers still that long,
    then up to three single-byte steps for the tails.
    """
    count = len(buffers)
    if not count:
        return np.zeros(0, dtype=np.uint32)
    lengths = np.fromiter((len(b) for b in buffers), dtype=np.int64, count=count)
    words = lengths // 4
    order = np.argsort(-words, kind="stable")  # most words first: active rows form a prefix
    sorted_words = words[order]
    width = int(sorted_words[0])
    padded = np.zeros((count, 4 * width + 4), dtype=np.uint8)
    for row, i in enumerate(order):
        padded[row, : lengths[i]] = np.frombuffer(buffers[i], dtype=np.uint8)
    as_words = padded.view("<u4")
    active_rows = np.searchsorted(-sorted_words, -np.arange(width), side="left")
    crc = np.full(count, 0xFFFFFFFF, dtype=np.uint32)
    t0, t1, t2, t3 = _T
    for pos in range(width):
        k = int(active_rows[pos])
        c = crc[:k] ^ as_words[:k, pos]
        crc[:k] = t3[c & 0xFF] ^ t2[(c >> 8) & 0xFF] ^ t1[(c >> 16) & 0xFF] ^ t0[c >> 24]
    tails = lengths[order] - 4 * sorted_words
    for j in range(3):
        rows = np.flatnonzero(tails > j)
        if rows.size:
            byte = padded[rows, 4 * sorted_words[rows] + j]
            crc[rows] = t0[(crc[rows] ^ byte) & 0xFF] ^ (crc[rows] >> 8)
    out = np.empty_like(crc)
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def crc32c(data: bytes) -> int:
    return int(crc32c_many([data])[0])


def masked_crc32c_many(buffers: list[bytes]) -> np.ndarray:
    crc = crc32c_many(buffers).astype(np.uint64)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    return int(masked_crc32c_many([data])[0])


def iter_records(path: Path, chunk_bytes: int = _CHUNK_BYTES) -> Iterator[bytes]:
    """Yield the payload of every record, checking both CRCs; NasproxError on damage.

    The file is streamed: about ``chunk_bytes`` of records are held at a time, their CRCs are
    verified in one numpy batch before any of them is yielded.
    """
    path = Path(path)
    total = path.stat().st_size
    offset = 0  # file offset of the next record header
    with open(path, "rb") as handle:
        while offset < total:
            batch: list[tuple[int, bytes, int, bytes, int]] = []  # offset, len bytes, crc, payload, crc
            read = 0
            while offset < total and read < chunk_bytes:
                header = handle.read(12)
                length, length_crc = struct.unpack("<QI", header) if len(header) == 12 else (0, 0)
                if len(header) < 12 or offset + 16 + length > total:
                    _verify(batch, path)  # earlier damage explains a bad header better
                    if len(header) == 12 and masked_crc32c(header[:8]) != length_crc:
                        raise NasproxError(
                            f"{path}: length CRC mismatch in the record at byte {offset} "
                            "(damaged, or not a TFRecord file)"
                        )
                    raise NasproxError(
                        f"{path}: truncated record at byte {offset} (incomplete download, or not a TFRecord file)"
                    )
                body = handle.read(length + 4)
                if len(body) != length + 4:  # the file shrank while being read
                    raise NasproxError(f"{path}: truncated record at byte {offset} (file changed while reading)")
                batch.append((offset, header[:8], length_crc, body[:length], struct.unpack("<I", body[length:])[0]))
                offset += 16 + length
                read += 16 + length
            _verify(batch, path)
            yield from (entry[3] for entry in batch)


def _verify(batch, path: Path) -> None:
    if not batch:
        return
    length_ok = masked_crc32c_many([e[1] for e in batch]) == np.array([e[2] for e in batch], dtype=np.uint64)
    data_ok = masked_crc32c_many([e[3] for e in batch]) == np.array([e[4] for e in batch], dtype=np.uint64)
    bad = np.flatnonzero(~(length_ok & data_ok))
    if bad.size:
        i = int(bad[0])
        what = "length" if not length_ok[i] else "data"
        raise NasproxError(
            f"{path}: {what} CRC mismatch in the record at byte {batch[i][0]} (damaged, or not a TFRecord file)"
        )


# -- protobuf wire format (only what ModelMetrics needs; a tight loop, this runs 1.3M times) -----
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_unpack_double = struct.Struct("<d").unpack_from


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("protobuf varint too long")


def _scan(buf: bytes, start: int, end: int, visit) -> None:
    """Walk the fields of ``buf[start:end]``, calling ``visit(field, wire, value, pos)``.

    ``value`` is the integer of a varint, the payload end of a length-delimited field (its
    payload starts at ``pos``), and None for fixed-width fields (at ``pos``).
    """
    pos = start
    while pos < end:
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            visit(key >> 3, wire, value, pos)
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise ValueError("truncated protobuf length-delimited field")
            visit(key >> 3, wire, pos + size, pos)
            pos += size
        elif wire == _FIXED64 or wire == _FIXED32:
            width = 8 if wire == _FIXED64 else 4
            if pos + width > end:
                raise ValueError("truncated protobuf fixed-width field")
            visit(key >> 3, wire, None, pos)
            pos += width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


@dataclass(frozen=True)
class Evaluation:
    current_epoch: float = float("nan")
    training_time: float = float("nan")
    train_accuracy: float = float("nan")
    validation_accuracy: float = float("nan")
    test_accuracy: float = float("nan")


_EVAL_DOUBLES = {
    1: "current_epoch",
    2: "training_time",
    3: "train_accuracy",
    4: "validation_accuracy",
    5: "test_accuracy",
}


def _metrics_layout(buf: bytes) -> tuple[int, list[tuple[int, int]]]:
    """trainable_parameters and the (start, end) of every evaluation_data message."""
    params = [-1]
    spans: list[tuple[int, int]] = []

    def visit(field, wire, value, pos):
        if field == 1 and wire == _LEN:
            spans.append((pos, value))
        elif field == 2 and wire == _VARINT:
            params[0] = value

    _scan(buf, 0, len(buf), visit)
    return params[0], spans


def _evaluation(buf: bytes, span: tuple[int, int]) -> Evaluation:
    values: dict[str, float] = {}

    def visit(field, wire, value, pos):
        if wire == _FIXED64 and field in _EVAL_DOUBLES:
            values[_EVAL_DOUBLES[field]] = _unpack_double(buf, pos)[0]

    _scan(buf, span[0], span[1], visit)
    return Evaluation(**values)


def decode_model_metrics(buf: bytes) -> tuple[int, list[Evaluation]]:
    """(trainable_parameters, evaluation_data) of a serialized ``nasbench.ModelMetrics``."""
    params, spans = _metrics_layout(buf)
    return params, [_evaluation(buf, span) for span in spans]


@dataclass(frozen=True)
class BenchmarkRun:
    """One training run of a module at an epoch budget (one record)."""

    module_hash: str
    epochs: int
    raw_adjacency: str  # V*V digits, row-major, pruned as stored upstream
    raw_ops: str  # comma-separated op names
    trainable_parameters: int
    final_test_accuracy: float  # fraction in [0, 1]
    final_validation_accuracy: float

    def adjacency(self) -> np.ndarray:
        dim = int(round(len(self.raw_adjacency) ** 0.5))
        if dim * dim != len(self.raw_adjacency) or set(self.raw_adjacency) - {"0", "1"}:
            raise ValueError("adjacency is not a square 0/1 digit string")
        digits = np.frombuffer(self.raw_adjacency.encode("ascii"), dtype=np.uint8) - ord("0")
        return digits.reshape(dim, dim)

    def ops(self) -> tuple[str, ...]:
        return tuple(self.raw_ops.split(","))


def decode_record(payload: bytes) -> BenchmarkRun:
    """Decode one record payload; ValueError with a short reason when malformed."""
    try:
        module_hash, epochs, raw_adjacency, raw_ops, raw_metrics = json.loads(payload)
        metrics = base64.b64decode(raw_metrics, validate=True)
    except (UnicodeDecodeError, ValueError, TypeError, binascii.Error) as err:
        reason = err.__class__.__name__
        raise ValueError(f"not the NB101 JSON list [hash, epochs, adjacency, ops, metrics] ({reason})") from None
    params, spans = _metrics_layout(metrics)
    if len(spans) < 3:
        raise ValueError(f"ModelMetrics holds {len(spans)} evaluations, expected 3 (start, half-way, final)")
    final = _evaluation(metrics, spans[2])
    if not isinstance(raw_adjacency, str) or not isinstance(raw_ops, str):
        raise ValueError("adjacency and ops must be strings")
    return BenchmarkRun(
        module_hash=str(module_hash),
        epochs=int(epochs),
        raw_adjacency=raw_adjacency,
        raw_ops=raw_ops,
        trainable_parameters=params,
        final_test_accuracy=final.test_accuracy,
        final_validation_accuracy=final.validation_accuracy,
    )
