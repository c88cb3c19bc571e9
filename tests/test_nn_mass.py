"""nn_mass and nn_degree: hand-derived golden values on small cells of every space, and the undefined cases.

Counting rule (``nasprox.core.topology``): per cell, nodes on no input->output path are dropped;
level = longest-path distance from the input; depth d = number of levels; width w = mean node channels;
a long-range link is an edge skipping >= 1 level and carries its source's channels; rho = carried /
(channels of every node pair >= 2 levels apart); n = long-range edges.
NN-Mass = sum rho * w * d; NN-Degree = sum (w + n / d).
"""

from __future__ import annotations

import math

import pytest
import torch

from nasprox import score_model
from nasprox.core import PROXIES, SPACES, CellTopology, ProxyUndefined, dag_topology
from nasprox.engine import RunConfig, Scorer

pytestmark = pytest.mark.usefixtures("one_thread")
MASS = PROXIES.get("nn_mass").exports["mass"]
DEGREE = PROXIES.get("nn_degree").exports["degree"]

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# 0->1 conv, 1->2 conv, 2->3 conv only: a chain, no long-range edge
CHAIN = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|"
# 0->1 conv, 1->3 conv, 0->3 skip; node 2 is dead (its 0->2 edge leads nowhere)
DEAD_NODE = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def _tss(key: str) -> tuple[CellTopology, ...]:
    space = SPACES.get("nats-tss")()
    return space.topology(space.parse(key))


# -- the counting rule on single cells ---------------------------------------------------------------------
def test_a_full_nb201_cell_has_all_three_long_range_links():
    # nodes 0..3 all of 16 channels, levels 0,1,2,3 -> d = 4; pairs >= 2 levels apart: (0,2) (0,3) (1,3)
    # -> possible = 3 * 16 = 48; all three are edges -> links = 48, rho = 1, n = 3
    cell = dag_topology([16, 16, 16, 16], [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)])
    assert cell == CellTopology(width=16.0, depth=4, links=48.0, possible_links=48.0, long_edges=3)
    assert MASS([cell]) == 1.0 * 16 * 4 == 64.0
    assert DEGREE([cell]) == 16 + 3 / 4


def test_a_chain_has_no_long_range_link_and_a_dead_node_is_dropped():
    chain = dag_topology([16, 16, 16, 16], [(0, 1), (1, 2), (2, 3)])
    # d = 4, possible = 48 as above, no link -> rho = 0, mass 0; degree = w + 0/4 = 16
    assert (chain.depth, chain.links, chain.possible_links, chain.long_edges) == (4, 0.0, 48.0, 0)
    assert MASS([chain]) == 0.0 and DEGREE([chain]) == 16.0
    # DEAD_NODE's graph: node 2 is fed by 0 but feeds nothing -> dropped with its edge.
    # Live: 0 (level 0), 1 (level 1), 3 (level 2 via 1) -> d = 3; pair (0,3) is 2 levels apart ->
    # possible = c_0 = 8; edge 0->3 present -> links = 8, rho = 1, n = 1; w = (8 + 16 + 16) / 3 = 40/3
    dead = dag_topology([8, 16, 16, 16], [(0, 1), (0, 2), (0, 3), (1, 3)])
    assert dead == CellTopology(width=40 / 3, depth=3, links=8.0, possible_links=8.0, long_edges=1)
    assert MASS([dead]) == pytest.approx(1.0 * 40 / 3 * 3)  # = 40
    assert DEGREE([dead]) == pytest.approx(40 / 3 + 1 / 3)  # = 41/3


def test_a_cell_without_an_input_output_path_counts_zero():
    cell = dag_topology([16, 16, 16, 16], [(0, 1), (0, 2), (1, 2)])  # nothing reaches node 3
    assert cell == CellTopology(width=0.0, depth=0, links=0.0, possible_links=0.0, long_edges=0)
    assert MASS([cell]) == 0.0 and DEGREE([cell]) == 0.0


def test_a_wide_dag_counts_every_pair_two_levels_apart():
    # NB101-like: 0->1->3, 0->2->3, 0->3 with channels (4, 2, 2, 4): levels 0,1,1,2 -> d = 3;
    # pairs >= 2 levels apart: only (0,3) -> possible = c_0 = 4; edge 0->3 -> links 4, rho 1, n 1
    cell = dag_topology([4, 2, 2, 4], [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)])
    assert cell == CellTopology(width=3.0, depth=3, links=4.0, possible_links=4.0, long_edges=1)


# -- NATS-TSS: 15 searched cells + 2 ResNet reduction blocks ---------------------------------------------
# Stage widths 16 / 32 / 64, five cells each; the first cell of a stage is fed by a ResNet block of the
# same width, so every node of a cell has the stage width. ResNet block (c_in -> c): nodes (c_in, c, c),
# shortcut 0->2 skips one level -> d = 3, rho = 1, w = (c_in + 2c) / 3, n = 1:
#   mass = c_in + 2c: 16->32: 80, 32->64: 160, together 240; degree = (c_in + 2c)/3 + 1/3: 27 + 161/3.
RESNET_MASS = 80 + 160
RESNET_DEGREE = 27 + 161 / 3


def test_nats_tss_all_skip_and_all_conv_cells_have_the_same_mass_the_formulas_are_op_blind():
    # full cell: rho 1, d 4 -> cell mass = 4w; 5 cells x 4 x (16 + 32 + 64) = 2240, + 240 = 2480
    # degree: 5 x (16 + 32 + 64) + 15 x 3/4 = 560 + 11.25 = 571.25, + RESNET_DEGREE
    for key in (ALL_SKIP, ALL_CONV):
        cells = _tss(key)
        assert len(cells) == 17
        assert MASS(cells) == pytest.approx(2480.0)
        assert DEGREE(cells) == pytest.approx(571.25 + RESNET_DEGREE)


def test_nats_tss_chain_and_dead_node_cells():
    # chain: every searched cell has rho 0 -> only the ResNet blocks' mass; degree 5 x 112 = 560
    chain = _tss(CHAIN)
    assert MASS(chain) == pytest.approx(RESNET_MASS)
    assert DEGREE(chain) == pytest.approx(560 + RESNET_DEGREE)
    # dead node: each cell d 3, rho 1, w = stage width -> mass 3w: 5 x 3 x 112 = 1680; degree + 1/3 per cell
    dead = _tss(DEAD_NODE)
    assert MASS(dead) == pytest.approx(1680 + RESNET_MASS)
    assert DEGREE(dead) == pytest.approx(560 + 15 / 3 + RESNET_DEGREE)


# -- NATS-SSS: the fixed best cell with per-layer widths ---------------------------------------------------
def test_nats_sss_width_vector():
    # "8:16:24:32:40": layers cell(8<-8), res(16<-8), cell(24<-16), res(32<-24), cell(40<-32).
    # The best cell |conv~0|+|conv~0|conv~1|+|skip~0|conv~1|conv~2| is a full cell: d 4, rho 1 (every
    # pair >= 2 levels apart has an edge), so mass = 4 x mean width, n = 3.
    #   cell(8<-8): w 8 -> mass 32, degree 8.75
    #   res(16<-8): w 40/3 -> mass 40, degree 41/3
    #   cell(24<-16): w (16 + 72)/4 = 22 -> mass 88, degree 22.75
    #   res(32<-24): w 88/3 -> mass 88, degree 89/3
    #   cell(40<-32): w (32 + 120)/4 = 38 -> mass 152, degree 38.75
    space = SPACES.get("nats-sss")()
    cells = space.topology(space.parse("8:16:24:32:40"))
    assert len(cells) == 5
    assert MASS(cells) == pytest.approx(32 + 40 + 88 + 88 + 152)  # 400
    assert DEGREE(cells) == pytest.approx(8.75 + 41 / 3 + 22.75 + 89 / 3 + 38.75)


# -- NB101: 9 cells (3 stacks x 3) with the model's vertex channels ----------------------------------------
def test_nb101_small_cells():
    space = SPACES.get("nb101")()
    # 011.001.000:3 = input->conv3x3->output plus input->output (a 1x1 projection): levels 0,1,2 -> d 3;
    # pair (0,2) -> possible = c_in, the 0->2 edge carries c_in -> rho 1, n 1.
    # Vertex channels (in, out, out); cells: 3 x (128<-128), (256<-128), 2 x (256<-256), (512<-256), 2 x (512<-512)
    #   mass = sum rho * w * 3 = sum (c_in + 2 c_out) = 3*384 + 640 + 2*768 + 1280 + 2*1536 = 7680
    #   degree = sum (c_in + 2 c_out)/3 + 1/3 = 7680/3 + 9/3 = 2563
    cells = space.topology(space.parse("011.001.000:3"))
    assert len(cells) == 9
    assert MASS(cells) == pytest.approx(7680.0)
    assert DEGREE(cells) == pytest.approx(2563.0)
    # 010.001.000:1 = the same chain without the projection edge: rho 0 -> mass 0; degree 7680/3 = 2560
    chain = space.topology(space.parse("010.001.000:1"))
    assert MASS(chain) == 0.0 and DEGREE(chain) == pytest.approx(2560.0)


def test_nb101_inception_like_cell():
    # The upstream README's cell: 0->1,2,3,5; 3->4; 1,2,4,5->6. Levels: 0 | 1,2,3,5 | 4 | 6 -> d 4.
    # Long-range edges (>= 2 levels): 1->6, 2->6, 5->6 (n 3); pairs >= 2 levels apart: (0,4) (0,6) and
    # (1,6) (2,6) (3,6) (5,6). Vertex channels: the output's c_out split over its 4 inputs (q = c_out/4),
    # vertex 3 takes its successor's q: widths (c_in, q, q, q, q, q, c_out).
    #   rho = 3q / (2 c_in + 4q) ; w = (c_in + 5q + c_out) / 7 ; mass = rho * w * 4
    #   128<-128 (x3): rho 96/384, w 416/7 -> 416/7      256<-128: rho 192/512, w 704/7 -> 1056/7
    #   256<-256 (x2): rho 192/768, w 832/7 -> 832/7     512<-256: rho 384/1024, w 1408/7 -> 2112/7
    #   512<-512 (x2): rho 384/1536, w 1664/7 -> 1664/7
    #   total = (3*416 + 1056 + 2*832 + 2112 + 2*1664) / 7 = 9408 / 7 = 1344
    #   degree = (3*416 + 704 + 2*832 + 1408 + 2*1664) / 7 + 9 * 3/4 = 8352/7 + 6.75
    space = SPACES.get("nb101")()
    cells = space.topology(space.parse("0111010.0000001.0000001.0000100.0000001.0000001.0000000:1333m"))
    assert cells[0].long_edges == 3 and cells[0].depth == 4
    assert MASS(cells) == pytest.approx(1344.0)
    assert DEGREE(cells) == pytest.approx(8352 / 7 + 6.75)


# -- TransNAS micro / macro ---------------------------------------------------------------------------------
def test_transnas_micro_cell():
    # skeleton 64-41414: digits 4 (x2 channels), 1, 4, 1, 4 -> blocks (c_in -> c_out):
    #   128<-64, 128<-128, 128<-128, 128<-128, 256<-128, 256<-256, 256<-256, 256<-256, 512<-256, 512<-512
    # cell 1_02_333: 0->1 skip, 0->2 none, 1->2 conv1x1, 0->3 / 1->3 / 2->3 conv3x3: levels 0,1,2,3 -> d 4;
    # pairs (0,2) (0,3) (1,3): possible = 2 c_in + c_out; edges 0->3, 1->3 -> links = c_in + c_out, n 2.
    #   block(c_out <- c_in): rho = (c_in + c_out) / (2 c_in + c_out), w = (c_in + 3 c_out) / 4
    #   c_in == c_out: rho 2/3, mass = 2/3 * c * 4 = 8c/3
    space = SPACES.get("transnas-micro")()
    cells = space.topology(space.parse("64-41414-1_02_333"))
    assert len(cells) == 10

    def block_mass(c_in, c_out):
        return (c_in + c_out) / (2 * c_in + c_out) * (c_in + 3 * c_out) / 4 * 4

    expected = [(64, 128), (128, 128), (128, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256)]
    expected += [(256, 512), (512, 512)]
    assert MASS(cells) == pytest.approx(sum(block_mass(a, b) for a, b in expected))
    assert block_mass(128, 128) == pytest.approx(8 * 128 / 3)
    assert DEGREE(cells) == pytest.approx(sum((a + 3 * b) / 4 + 2 / 4 for a, b in expected))


def test_transnas_macro_resnet_blocks():
    # 64-1114-basic: four modules of two ResNet blocks; the last (digit 4) doubles the channels.
    # A ResNet block (c_out <- c_in): nodes (c_in, c_out, c_out), shortcut skips one level -> d 3, rho 1,
    # n 1, mass = c_in + 2 c_out, degree = (c_in + 2 c_out)/3 + 1/3.
    # blocks: 6 x (64<-64) then (128<-64) and (128<-128): mass = 6*192 + 320 + 384 = 1856
    space = SPACES.get("transnas-macro")()
    cells = space.topology(space.parse("64-1114-basic"))
    assert len(cells) == 8
    assert MASS(cells) == pytest.approx(6 * 192 + 320 + 384)
    assert DEGREE(cells) == pytest.approx(6 * (64 + 1 / 3) + (320 / 3 + 1 / 3) + (128 + 1 / 3))


# -- every space's examples, the engine path, undefined cases -----------------------------------------------
@pytest.mark.parametrize("name", ["nats-tss", "nats-sss", "nb101", "transnas-micro", "transnas-macro"])
def test_every_space_with_cells_gives_finite_values_on_its_examples(name):
    space = SPACES.get(name)()
    for arch in space.examples(2):
        cells = space.topology(arch)
        assert cells, name
        assert math.isfinite(MASS(cells)) and MASS(cells) >= 0
        assert math.isfinite(DEGREE(cells)) and DEGREE(cells) >= 0


def test_the_engine_scores_them_from_the_space_and_nb_nlp_is_undefined():
    scorer = Scorer(RunConfig(space="nats-tss", dataset="cifar10", proxies=["nn_mass", "nn_degree"], synthetic=True))
    rows = {r.proxy: r for r in scorer.score_arch(scorer.space.parse(ALL_CONV))}
    assert rows["nn_mass"].status == "ok" and rows["nn_mass"].score == pytest.approx(2480.0)
    assert rows["nn_degree"].score == pytest.approx(571.25 + RESNET_DEGREE)

    nlp = Scorer(RunConfig(space="nb-nlp", dataset="ptb", proxies=["nn_mass", "nn_degree"], synthetic=True))
    for row in nlp.score_arch(nlp.space.examples(1)[0]):
        assert row.status == "undefined" and math.isnan(row.score)
        assert "nb-nlp defines no cell topology" in row.error


def test_a_bare_module_has_no_topology():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    scores = score_model(net, torch.randn(4, 3, 2, 2), proxies=["nn_mass", "nn_degree", "params"])
    assert math.isnan(scores["nn_mass"]) and math.isnan(scores["nn_degree"]) and scores["params"] > 0
    with pytest.raises(ProxyUndefined, match="bare nn.Module"):
        PROXIES.get("nn_mass").fn(_bare_context())


def _bare_context():
    from nasprox.core import InputSpec, ProxyContext

    return ProxyContext(
        model=torch.nn.Linear(1, 1),
        build_model=lambda: torch.nn.Linear(1, 1),
        inputs=torch.zeros(1, 1),
        targets=torch.zeros(1, dtype=torch.long),
        input_spec=InputSpec("image", (1,), 1),
        loss_fn=torch.nn.functional.cross_entropy,
        next_batch=lambda: (torch.zeros(1, 1), torch.zeros(1, dtype=torch.long)),
        device=torch.device("cpu"),
        seed=0,
    )
