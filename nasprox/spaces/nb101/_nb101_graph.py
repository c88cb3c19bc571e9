"""NAS-Bench-101 cell graphs: validation, pruning, the official module hash and the spec formats.

Behaviour follows google-research/nasbench: ``lib/model_spec.py`` (pruning, ``hash_spec``),
``lib/graph_util.py`` (``hash_module``) and ``api.py`` (``_check_spec``: 7 vertices, 9 edges,
three ops). No torch here.

Spec formats accepted by :func:`parse_spec` (documented for users in ``nb101.py``):

* compact (ours): ``ROWS:OPS`` with ``ROWS`` the V adjacency rows of V binary digits joined by
  ``.`` and ``OPS`` the V-2 interior op codes ``3`` (conv3x3-bn-relu), ``1`` (conv1x1-bn-relu),
  ``m`` (maxpool3x3). The README's Inception-like cell is
  ``0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m``.
* NASLib tuple: ``(a00, ..., a66, o0, ..., o6)``, the flattened V x V matrix then V op codes
  0=input 1=output 2=maxpool3x3 3=conv1x1-bn-relu 4=conv3x3-bn-relu
  (``naslib/search_spaces/nasbench101/conversions.py``), as in NAS-Bench-Suite-Zero keys.
* JSON object: ``{"matrix": [[...], ...], "ops": ["input", ..., "output"]}`` (upstream ModelSpec).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from nasprox.core import NasproxError

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
# config['available_ops'] order; the index is the hash label of an interior vertex
AVAILABLE_OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9

COMPACT_OP_CODES = {"3": CONV3X3, "1": CONV1X1, "m": MAXPOOL3X3}
COMPACT_OP_LETTERS = {op: code for code, op in COMPACT_OP_CODES.items()}
NASLIB_OPS = (INPUT, OUTPUT, MAXPOOL3X3, CONV1X1, CONV3X3)

_HASH_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Cell:
    """A pruned, validated cell: upper-triangular 0/1 matrix and one op per vertex."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    def edge(self, src: int, dst: int) -> bool:
        return bool(self.matrix[src][dst])

    def module_hash(self) -> str:
        """The official isomorphism-invariant hash (``ModelSpec.hash_spec``)."""
        labels = [-1] + [AVAILABLE_OPS.index(op) for op in self.ops[1:-1]] + [-2]
        return hash_module(self.matrix, labels)

    def compact(self) -> str:
        rows = ".".join("".join(str(v) for v in row) for row in self.matrix)
        return rows + ":" + "".join(COMPACT_OP_LETTERS[op] for op in self.ops[1:-1])


def is_module_hash(text: str) -> bool:
    return bool(_HASH_RE.match(text.strip().lower()))


def hash_module(matrix, labeling) -> str:
    """Iterative MD5 fingerprint of a labelled directed graph (``graph_util.hash_module``).

    Each vertex starts from md5(str((out_degree, in_degree, label))); every round replaces it by
    md5(sorted in-neighbour hashes | sorted out-neighbour hashes | own hash), V rounds in all;
    the fingerprint is md5(str(sorted vertex hashes)).
    """
    n = len(labeling)
    # neighbour lists once, not an n x n scan per round (the population enumeration hashes ~10^6 graphs)
    preds = [[w for w in range(n) if matrix[w][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    hashes = [_md5(str((len(succs[v]), len(preds[v]), int(labeling[v])))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted([hashes[w] for w in preds[v]]))
                + "|"
                + "".join(sorted([hashes[w] for w in succs[v]]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def make_cell(matrix, ops) -> Cell:
    """Validate, prune unreachable vertices and check the NB101 domain; NasproxError otherwise."""
    matrix = [[int(v) for v in row] for row in matrix]
    ops = [str(op) for op in ops]
    n = len(matrix)
    if n < 2 or any(len(row) != n for row in matrix):
        raise NasproxError(f"NB101 adjacency must be a square matrix of at least 2x2, got {n} rows")
    if len(ops) != n:
        raise NasproxError(f"NB101 spec has {len(ops)} ops for a {n}x{n} matrix")
    if any(v not in (0, 1) for row in matrix for v in row):
        raise NasproxError("NB101 adjacency entries must be 0 or 1")
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise NasproxError("NB101 adjacency must be strictly upper triangular (a DAG in vertex order)")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise NasproxError("NB101 ops must start with 'input' and end with 'output'")
    for op in ops[1:-1]:
        if op not in AVAILABLE_OPS:
            raise NasproxError(f"unknown NB101 op '{op}' (choose from {', '.join(AVAILABLE_OPS)})")

    keep = _reachable_both_ways(matrix)
    if 0 not in keep or n - 1 not in keep:
        raise NasproxError("invalid NB101 spec: the input is not connected to the output")
    matrix = [[matrix[i][j] for j in keep] for i in keep]
    ops = [ops[i] for i in keep]
    if len(ops) > MAX_VERTICES:
        raise NasproxError(f"NB101 cell has {len(ops)} vertices after pruning (max {MAX_VERTICES})")
    edges = sum(map(sum, matrix))
    if edges > MAX_EDGES:
        raise NasproxError(f"NB101 cell has {edges} edges after pruning (max {MAX_EDGES})")
    return Cell(tuple(tuple(row) for row in matrix), tuple(ops))


def _reachable_both_ways(matrix: list[list[int]]) -> list[int]:
    """Vertices on some input->output path, in order (``ModelSpec._prune``)."""
    n = len(matrix)
    from_input = {0}
    for v in range(n):  # vertex order is topological, one forward sweep suffices
        if v in from_input:
            from_input.update(w for w in range(v + 1, n) if matrix[v][w])
    to_output = {n - 1}
    for v in range(n - 1, -1, -1):
        if v in to_output:
            to_output.update(u for u in range(v) if matrix[u][v])
    return sorted(from_input & to_output)


def parse_spec(text: str) -> Cell:
    """A Cell from one of the documented spec strings (not a module hash)."""
    text = text.strip()
    if not text:
        raise NasproxError("empty NB101 architecture spec")
    if text[0] in "([":
        return _parse_naslib_tuple(text)
    if text[0] == "{":
        return _parse_json(text)
    if ":" in text:
        return _parse_compact(text)
    raise NasproxError(
        f"cannot read NB101 architecture '{text[:60]}': give a module hash, a compact spec "
        "'ROWS:OPS' (e.g. 0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m), "
        "or a NASLib tuple"
    )


def _parse_compact(text: str) -> Cell:
    rows_text, _, ops_text = text.partition(":")
    rows = rows_text.strip().split(".")
    if any(not re.fullmatch(r"[01]+", r) for r in rows):
        raise NasproxError(f"NB101 compact spec rows must be 0/1 digits joined by '.', got '{rows_text}'")
    ops_text = ops_text.strip().lower()
    if len(ops_text) != len(rows) - 2:
        raise NasproxError(
            f"NB101 compact spec needs {len(rows) - 2} interior op codes for {len(rows)} rows, got '{ops_text}'"
        )
    bad = [c for c in ops_text if c not in COMPACT_OP_CODES]
    if bad:
        raise NasproxError(f"unknown NB101 op code '{bad[0]}' (3=conv3x3, 1=conv1x1, m=maxpool3x3)")
    matrix = [[int(c) for c in r] for r in rows]
    return make_cell(matrix, [INPUT] + [COMPACT_OP_CODES[c] for c in ops_text] + [OUTPUT])


def _parse_naslib_tuple(text: str) -> Cell:
    body = text.strip("()[] \n")
    try:
        values = [int(v) for v in body.split(",") if v.strip()]
    except ValueError:
        raise NasproxError(f"NB101 NASLib tuple must hold integers, got '{text[:60]}'") from None
    n = next((k for k in range(2, 16) if k * k + k == len(values)), None)
    if n is None:
        raise NasproxError(f"NB101 NASLib tuple must have V*V+V entries, got {len(values)}")
    codes = values[n * n :]
    if any(not 0 <= c < len(NASLIB_OPS) for c in codes):
        raise NasproxError(f"NB101 NASLib op codes must be 0..4, got {codes}")
    matrix = [values[i * n : (i + 1) * n] for i in range(n)]
    return make_cell(matrix, [NASLIB_OPS[c] for c in codes])


def _parse_json(text: str) -> Cell:
    try:
        obj = json.loads(text)
        return make_cell(obj["matrix"], obj["ops"])
    except (ValueError, KeyError, TypeError):
        raise NasproxError('NB101 JSON spec must be {"matrix": [[...]], "ops": [...]}') from None
