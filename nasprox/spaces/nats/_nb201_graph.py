"""NB201 / NATS-TSS cell graphs: dead-edge pruning, isomorphism classes and cheap graph features.

A cell is a DAG over nodes 0 (input) .. 3 (output) with six edges, in arch-string order
``(0->1), (0->2), (1->2), (0->3), (1->3), (2->3)``; each node sums its incoming edges (ops, edge
order and the arch string: ``_nb201_codec``).

Canonical form (:func:`canonical_cell`)
    An edge is *live* when its op is not ``none`` and it lies on a path input -> output made of
    non-``none`` edges. A dead edge cannot change the cell's output (its source node is all-zero,
    or its output never reaches node 3), so every dead edge is set to ``none``. Two cells with the
    same canonical form are the same network; the canonical form is itself a cell of the space (a
    member of its own class), which makes it the class representative. Over all 15,625 cells this
    gives exactly **9,445** classes, the known number of unique NB201 cells
    (``tests/test_predict.py`` checks it). Nodes keep their benchmark positions; additionally
    merging the mirror image of nodes 1 and 2 (possible when there is no live 1->2 edge) would give
    8,765 classes, which is not the convention of the published 9,445 count.

Features (:func:`nb201_features`, GRAF-style: Kadlecova et al., "Surprisingly strong performance
prediction with neural graph features", ICML 2024)
    op counts over all six edges and over the live edges, the number of input->output paths, of
    paths with at least one convolution / a 3x3 convolution / only convolutions / only skips / a
    pooling, the longest / shortest path, the deepest convolution chain on a path, the in-degree of
    the output and out-degree of the input, and the parameter count and multiply-accumulates of the
    15 cells of the C=16, N=5 TinyNetwork (cells only, 32x32 input; stem, reduction blocks and
    classifier are the same for every cell and left out). No torch, no model build.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from nasprox.core import CellTopology, dag_topology
from nasprox.spaces.nats._nb201_codec import EDGES, OPS, arch_string, cell_ops

# the four input->output paths of the complete 4-node DAG, as edge positions in EDGES
PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
CONVS = ("nor_conv_1x1", "nor_conv_3x3")
SHORT = {
    "none": "none",
    "skip_connect": "skip",
    "nor_conv_1x1": "conv1x1",
    "nor_conv_3x3": "conv3x3",
    "avg_pool_3x3": "avg_pool",
}
# TinyNetwork C=16, N=5: 5 cells per stage at (channels, resolution for a 32x32 input)
STAGES = ((16, 32), (32, 16), (64, 8))
CELLS_PER_STAGE = 5


def live_edges(ops) -> tuple[bool, ...]:
    """Per edge: is it a non-``none`` edge on some input->output path of non-``none`` edges."""
    on = [op != "none" for op in ops]
    from_input = {0: True}
    for node in (1, 2, 3):
        from_input[node] = any(on[e] and from_input[u] for e, (u, v) in enumerate(EDGES) if v == node)
    to_output = {3: True}
    for node in (2, 1, 0):
        to_output[node] = any(on[e] and to_output[v] for e, (u, v) in enumerate(EDGES) if u == node)
    return tuple(on[e] and from_input[u] and to_output[v] for e, (u, v) in enumerate(EDGES))


@functools.cache
def canonical_cell(key: str) -> str:
    """The class representative: the cell with every dead edge set to ``none`` (module doc)."""
    ops = cell_ops(key)
    return arch_string(op if live else "none" for op, live in zip(ops, live_edges(ops)))


def unique_representatives(keys) -> tuple[str, ...]:
    """The distinct canonical cells of ``keys`` (arch strings), in order of first appearance."""
    return tuple(dict.fromkeys(canonical_cell(k) for k in keys))


def nb201_features(key: str) -> dict[str, float]:
    """GRAF-style features of one cell (module doc); the same keys for every cell."""
    ops = cell_ops(key)
    live = live_edges(ops)
    feats: dict[str, float] = {}
    for op in OPS:
        feats[f"n_{SHORT[op]}"] = float(sum(o == op for o in ops))
    for op in OPS[1:]:
        feats[f"live_{SHORT[op]}"] = float(sum(o == op and lv for o, lv in zip(ops, live)))
    feats["live_edges"] = float(sum(live))
    paths = [[ops[e] for e in path] for path in PATHS if all(live[e] for e in path)]
    feats["n_paths"] = float(len(paths))
    feats["paths_with_conv"] = float(sum(any(o in CONVS for o in p) for p in paths))
    feats["paths_with_conv3x3"] = float(sum("nor_conv_3x3" in p for p in paths))
    feats["paths_all_conv"] = float(sum(all(o in CONVS for o in p) for p in paths))
    feats["paths_identity"] = float(sum(all(o == "skip_connect" for o in p) for p in paths))
    feats["paths_with_pool"] = float(sum("avg_pool_3x3" in p for p in paths))
    feats["longest_path"] = float(max((len(p) for p in paths), default=0))
    feats["shortest_path"] = float(min((len(p) for p in paths), default=0))
    feats["max_conv_depth"] = float(max((sum(o in CONVS for o in p) for p in paths), default=0))
    feats["min_conv_depth"] = float(min((sum(o in CONVS for o in p) for p in paths), default=0))
    feats["max_conv3x3_depth"] = float(max((sum(o == "nor_conv_3x3" for o in p) for p in paths), default=0))
    feats["output_in_degree"] = float(sum(live[e] for e, (_, v) in enumerate(EDGES) if v == 3))
    feats["input_out_degree"] = float(sum(live[e] for e, (u, _) in enumerate(EDGES) if u == 0))
    n3, n1 = ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")
    # ReLUConvBN: conv weight C*C*k*k (no bias) + BN affine 2C; dead convs still hold parameters
    feats["cell_params_k"] = (
        CELLS_PER_STAGE * sum(n3 * (9 * c * c + 2 * c) + n1 * (c * c + 2 * c) for c, _ in STAGES) / 1e3
    )
    feats["cell_macs_m"] = CELLS_PER_STAGE * sum((9 * n3 + n1) * c * c * r * r for c, r in STAGES) / 1e6
    return feats


# -- topology for nn_mass / nn_degree (counting rule: nasprox.core.topology) -----------------------------
def cell_topology(key: str, c_in: int, c_out: int) -> CellTopology:
    """One NB201 cell as a :class:`CellTopology`: nodes 0..3 (node 0 has ``c_in`` channels, the others
    ``c_out``), an edge wherever the op is not ``none`` (dead edges are dropped by ``dag_topology``)."""
    ops = cell_ops(key)
    return dag_topology([c_in, c_out, c_out, c_out], [EDGES[e] for e, op in enumerate(ops) if op != "none"])


def resnet_block_topology(c_in: int, c_out: int) -> CellTopology:
    """The ResNet basic block between stages: input -> conv_a -> conv_b (+ shortcut from the input):
    nodes (input ``c_in``, after conv_a ``c_out``, output ``c_out``); the shortcut skips one level."""
    return dag_topology([c_in, c_out, c_out], [(0, 1), (1, 2), (0, 2)])


def tiny_network_topology(key: str, layer_channels: Sequence[int]) -> tuple[CellTopology, ...]:
    """Every cell of the NATS skeleton (``_nb201_ops._StagedCellNetwork``): ``3N + 2`` layers, the
    ``N+1``-th and ``2N+2``-th ResNet reduction blocks, the others the cell ``key``; the stem gives
    ``layer_channels[0]`` channels to the first cell. Stem and classifier are not cells."""
    n = len(layer_channels) // 3
    reductions = {n, 2 * n + 1}
    c_prev, out = layer_channels[0], []
    for i, c in enumerate(layer_channels):
        out.append(resnet_block_topology(c_prev, c) if i in reductions else cell_topology(key, c_prev, c))
        c_prev = c
    return tuple(out)
