"""Cell topology for the topology proxies (NN-Mass, NN-Degree): one frozen record per cell, and the one
counting rule that turns a cell DAG into it. Pure Python; no torch, no I/O.

A space describes an architecture as the cells of its network, each a DAG over feature maps (nodes) with
a channel count per node (:func:`dag_topology`); ``SearchSpace.topology`` returns the tuple of
:class:`CellTopology` records, and the engine hands it to a proxy as ``ProxyContext.topology``. The counting
follows NN-Mass (Bhardwaj, Li, Marculescu, CVPR 2021), generalised from a chain of layers to a DAG:

* nodes: the cell input, every intermediate feature map, the cell output; nodes (and edges) on no
  input -> output path are dropped first (they cannot change the output);
* level of a node: its longest-path distance (in edges) from the cell input; **depth** ``d_c`` = the
  number of levels = nodes on the longest input -> output path (input and output included). For a
  chain of ``d`` layers this is ``d``;
* **width** ``w_c`` = mean channel count over the cell's live nodes (``w-bar`` of NN-Degree; for a
  cell whose nodes all have ``w`` channels, ``w``);
* a **long-range link** is a live edge ``j -> i`` with ``level(i) - level(j) >= 2`` (it skips at least
  one level); it carries the ``c_j`` channels of its source, so ``links`` = sum of ``c_j`` over those
  edges, whatever the edge's operation (identity, conv, pool: NN-Mass counts connections, not ops);
* **possible links** = sum of ``c_j`` over every node pair ``(j, i)`` with ``level(i) - level(j) >= 2``
  (where a long-range link could be added without a cycle). For a chain of ``d`` equal-width layers
  this is NN-Mass's ``w (d - 1)(d - 2) / 2``, so ``rho_c = links / possible`` is NN-Mass's density;
* ``long_edges`` = the number of long-range edges (NN-Degree's skip connections ``n_c``).

A cell with no input -> output path has width 0 and depth 0 (it passes nothing on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CellTopology:
    """One cell of a network, counted as in the module doc."""

    width: float  # w_c: mean channels over the cell's live nodes
    depth: int  # d_c: nodes on the longest input -> output path
    links: float  # channels carried by long-range links (edges skipping >= 1 level)
    possible_links: float  # channels over every node pair >= 2 levels apart
    long_edges: int = 0  # number of long-range edges (NN-Degree's skip connections)

    @property
    def density(self) -> float:
        """rho_c = links / possible links; 0 for a cell where no long-range link is possible."""
        return self.links / self.possible_links if self.possible_links > 0 else 0.0


def dag_topology(channels: Sequence[float], edges: Iterable[tuple[int, int]]) -> CellTopology:
    """The :class:`CellTopology` of a cell DAG.

    ``channels[k]`` is node ``k``'s channel count; nodes are in topological order with node 0 the cell
    input and the last node the cell output; ``edges`` are ``(source, target)`` pairs with
    ``source < target`` of edges that exist (an op other than "none"). Dead nodes and edges are
    dropped here (module doc).
    """
    n = len(channels)
    edge_set = sorted({(int(j), int(i)) for j, i in edges})
    if any(not 0 <= j < i < n for j, i in edge_set):
        raise ValueError(f"edges must go forward between nodes 0..{n - 1}: {edge_set}")
    reach_in = [k == 0 for k in range(n)]
    for j, i in edge_set:  # sorted by source: forward propagation in topological order
        reach_in[i] = reach_in[i] or reach_in[j]
    reach_out = [k == n - 1 for k in range(n)]
    for j, i in sorted(edge_set, key=lambda e: -e[1]):
        reach_out[j] = reach_out[j] or reach_out[i]
    live = [reach_in[k] and reach_out[k] for k in range(n)]
    if n < 2 or not live[n - 1] or not live[0]:
        return CellTopology(width=0.0, depth=0, links=0.0, possible_links=0.0, long_edges=0)
    live_edges = [(j, i) for j, i in edge_set if live[j] and live[i]]
    level = {0: 0}
    for j, i in live_edges:  # sources in increasing order: every predecessor of i is final before i's edges
        level[i] = max(level.get(i, 0), level[j] + 1)
    nodes = [k for k in range(n) if live[k]]
    long_range = [(j, i) for j, i in live_edges if level[i] - level[j] >= 2]
    possible = sum(float(channels[j]) for j in nodes for i in nodes if level[i] - level[j] >= 2)
    return CellTopology(
        width=sum(float(channels[k]) for k in nodes) / len(nodes),
        depth=level[n - 1] + 1,
        links=sum(float(channels[j]) for j, _ in long_range),
        possible_links=possible,
        long_edges=len(long_range),
    )
