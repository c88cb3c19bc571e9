"""The one NB201 / NATS-TSS cell codec: op names, edge order, arch string <-> ops, genotypes, NASLib tuples.

Everything else (the ``nats-tss`` space, ``_nb201_ops``, ``_nb201_graph``, ``nats-sss``'s fixed cell)
imports these definitions; ``search/`` and ``report/`` reach them only through the ``nats-tss``
space (``SPACES.get("nats-tss")().parse(...)``). Pure Python, no torch.

Cell
    Nodes 0 (input) .. 3 (output), six edges. Arch-string (= edge) order
    ``(0->1), (0->2), (1->2), (0->3), (1->3), (2->3)``; the benchmark's arch string is
    ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (one ``|...|`` group per node 1..3, each edge
    ``op~source``). Ops in xautodl ``NAS_BENCH_201`` order (:data:`OPS`), which is also the op order
    of the NATS index enumeration.

Genotype
    xautodl ``str2structure`` layout: one tuple per node 1..3 of ``(op name, source node)`` edges.

NASLib op tuple
    ``(o0, ..., o5)`` over the NASLib edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) (1-based nodes) with
    op codes 0=skip 1=none 2=conv3x3 3=conv1x1 4=avg_pool (:data:`NASLIB_OPS`; HW-NAS-Bench,
    NAS-Bench-Suite-Zero), i.e. ``|{o0}~0|+|{o1}~0|{o3}~1|+|{o2}~0|{o4}~1|{o5}~2|``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from nasprox.core import NasproxError

# xautodl NAS_BENCH_201 order: also the op order of the NATS index enumeration
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (source, target), arch-string order
# NASLib op codes 0..4 (see shared data README): 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avg pool
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
# arch-string edge i is NASLib edge NASLIB_EDGE_OF[i] (NASLib lists (0,3) before (1,2))
NASLIB_EDGE_OF = (0, 1, 3, 2, 4, 5)
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# a cell: one tuple per node 1..3, each a tuple of (op name, input node) edges
Genotype = tuple[tuple[tuple[str, int], ...], ...]

_OP = "(" + "|".join(OPS) + ")"
ARCH_RE = re.compile(rf"^\|{_OP}~0\|\+\|{_OP}~0\|{_OP}~1\|\+\|{_OP}~0\|{_OP}~1\|{_OP}~2\|$")
NASLIB_TUPLE_RE = re.compile(r"^[\(\[]\s*(\d+)\s*(?:,\s*(\d+)\s*){5},?\s*[\)\]]$")


def arch_string(ops: Iterable[str]) -> str:
    """Six ops in edge order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) -> arch string."""
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def cell_ops(key: str) -> tuple[str, ...]:
    """The six ops of an arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``, in edge order."""
    ops = tuple(edge.split("~")[0] for node in key.split("+") for edge in node.strip("|").split("|"))
    if len(ops) != 6 or any(op not in OPS for op in ops):
        raise ValueError(f"not an NB201 cell: {key!r}")
    return ops


def genotype_of(key: str) -> Genotype:
    """Arch string -> ((op, input node), ...) per node, the xautodl ``str2structure`` layout."""
    return tuple(
        tuple((edge.split("~")[0], int(edge.split("~")[1])) for edge in node.strip("|").split("|"))
        for node in key.split("+")
    )


def genotype_string(genotype: Genotype) -> str:
    """Genotype -> arch string (any number of nodes; xautodl ``Structure.tostr``)."""
    return "+".join("|" + "|".join(f"{op}~{src}" for op, src in node) + "|" for node in genotype)


def naslib_to_arch_string(op_tuple: Sequence[int]) -> str:
    """NASLib op tuple (module doc) -> arch string; NasproxError when it is not one."""
    t = tuple(op_tuple)
    if len(t) != 6 or any(not 0 <= int(o) < len(NASLIB_OPS) for o in t):
        raise NasproxError(f"not a NASLib NB201 op tuple: {op_tuple}")
    names = [NASLIB_OPS[int(t[i])] for i in NASLIB_EDGE_OF]
    return arch_string(names)


def canonical_string(text: str) -> str | None:
    """The arch string of ``text`` (an arch string, or a NASLib tuple such as ``(2, 2, 3, 4, 1, 0)``);
    None when it is neither."""
    text = str(text).strip()
    if NASLIB_TUPLE_RE.match(text):
        ops = tuple(int(p) for p in re.findall(r"\d+", text))
        if all(0 <= o < len(NASLIB_OPS) for o in ops):
            return naslib_to_arch_string(ops)
    elif ARCH_RE.match(text):
        return text
    return None
