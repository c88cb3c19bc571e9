"""nn_mass, nn_degree: topology formulas of the zero-shot NAS survey (Li et al., TPAMI 2024, §2.3.3).

* NN-Mass (Bhardwaj, Li, Marculescu, "How does topology influence gradient propagation and model
  performance of deep networks with DenseNet-type skip connections?", CVPR 2021):
  ``m = sum_c rho_c * w_c * d_c``, with ``rho_c`` = long-range links present / long-range links possible
  in cell ``c`` (for a chain of ``d_c`` layers of width ``w_c``: ``sum_i t_i / (w_c (d_c-1)(d_c-2)/2)``).
* NN-Degree (Li, Mandal, Ogras, Marculescu, "FLASH: Fast neural architecture search with hardware
  optimization", ACM TECS 2021): the sum over cells of the cell's average degree,
  ``g = sum_c (w_c + n_c / d_c)``, with ``n_c`` the cell's skip (long-range) connections. We read
  ``w_c + n_c / d_c`` as the average in-degree of the cell's channel graph: ``d_c`` layers of ``w_c``
  channels, each channel fed by the ``w_c`` channels of the layer before (``d_c w_c^2`` links) plus ``n_c``
  channel-wise skips of ``w_c`` links each, divided by the ``d_c w_c`` channels. (PROXY_SPEC §10.8
  wrote the second term as "#skips / #input channels"; neither the FLASH code nor its equation was
  available to settle it, see docs/reproduction.md.)

Counting choices (all in ``nasprox.core.topology``, applied per space by ``SearchSpace.topology``; the
reasons are in docs/reproduction.md "NN-Mass / NN-Degree: counting choices"):

1. A cell is a DAG of feature maps (nodes); nodes and edges on no input -> output path are dropped.
2. ``d_c`` = nodes on the longest input -> output path (input and output included).
3. ``w_c`` = mean channels over the cell's live nodes.
4. A long-range link is an edge that skips at least one level (level = longest-path distance from the
   cell input); ``rho_c`` counts the channels they carry (of their source node) over the channels of
   every node pair two or more levels apart. Any op other than ``none`` is a link: both formulas are
   op-blind by design (topology and width only).
5. ``n_c`` (NN-Degree) = number of long-range edges.
6. Every cell of the network counts, including fixed ones (NATS ResNet reduction blocks, TransNAS
   macro ResNet blocks); stems and heads are not cells and are left out.
7. Per space: nats-tss = 15 cells (nodes 0..3, an edge per non-``none`` op, stage widths 16/32/64) +
   2 ResNet blocks (input -> conv_a -> conv_b + shortcut: depth 3, one long-range link); nats-sss = the
   fixed best cell at layers 1, 3, 5 and ResNet blocks at 2, 4 with the layer widths (the cell input
   node keeps the previous layer's width); nb101 = 9 cells, each the pruned cell with the model's vertex
   channels, every matrix edge a link (the input -> output projection too); transnas-micro = the
   encoder's 2 blocks per skeleton digit as NB201-like cells (op code 0 = no edge); transnas-macro = the
   same blocks as ResNet basic blocks; nb-nlp = undefined (recurrent cells).

A network with no topology in its context (``score_model`` on a user module, or a space without one,
e.g. nb-nlp's recurrent cells) is ``undefined``. Scores are plain sums, higher is better (the papers:
more mass / degree, higher accuracy at similar size).
"""

from __future__ import annotations

from collections.abc import Sequence

from nasprox.core import CellTopology, ProxyContext, ProxyUndefined, proxy


def mass(cells: Sequence[CellTopology]) -> float:
    """NN-Mass: sum over cells of rho_c * w_c * d_c."""
    return float(sum(c.density * c.width * c.depth for c in cells))


def degree(cells: Sequence[CellTopology]) -> float:
    """NN-Degree: sum over cells of w_c + n_c / d_c (a cell of depth 0 contributes its width, 0)."""
    return float(sum(c.width + (c.long_edges / c.depth if c.depth else 0.0) for c in cells))


def _cells(ctx: ProxyContext) -> tuple[CellTopology, ...]:
    cells = ctx.topology()
    if cells is None:
        if not ctx.space:
            raise ProxyUndefined("needs the cell topology of a search space; a bare nn.Module has none")
        raise ProxyUndefined(f"space {ctx.space} defines no cell topology (width / depth / long-range links)")
    if not cells:
        raise ProxyUndefined(f"space {ctx.space} gave no cells for this architecture")
    return cells


_META = dict(
    version="1",
    higher_is_better=True,
    needs_labels=False,
    needs_gradients=False,
    needs_real_data=False,
    bn="n/a",
    cost="free",
    leaves_model_unchanged=True,
    exports={"mass": mass, "degree": degree},
)


@proxy(
    "nn_mass",
    "NN-Mass: sum over cells of long-range link density x width x depth (Bhardwaj et al. 2021; topology only)",
    **_META,
)
def nn_mass(ctx: ProxyContext) -> float:
    return mass(_cells(ctx))


@proxy(
    "nn_degree",
    "NN-Degree: sum over cells of mean width + long-range links per level (FLASH, Li et al. 2021; topology only)",
    **_META,
)
def nn_degree(ctx: ProxyContext) -> float:
    return degree(_cells(ctx))
