"""TransNAS-Bench-101 micro (cell-level) space: 4,096 cells in the fixed 64-41414 skeleton, 7 tasks.

Architectures
    A cell has 4 nodes and 6 edges, each edge one of none / skip / conv1x1 / conv3x3
    (codes 0-3). Key = the benchmark's arch string ``64-41414-{e01}_{e02}{e12}_{e03}{e13}{e23}``,
    e.g. ``64-41414-1_02_333``. Index = row of NASLib's export ``tnb101_micro_valmetric_zen.csv``
    (op tuples in lexicographic order = ``itertools.product(range(4), repeat=6)``); it is generated
    here without any file. The official ``.pth`` orders its archs differently (its own
    ``index2arch``), so use keys, not indices, to compare with it.
    :meth:`parse` also takes a NASLib op tuple such as ``(1, 0, 2, 3, 3, 3)``.

Tasks, inputs, losses, targets and ground truth: see ``nasprox.spaces.transnas._transnas_common``.
"""

from __future__ import annotations

import re

from nasprox.core import NasproxError, space
from nasprox.spaces.transnas._transnas_common import TransNASSpace, files_help_for, micro_arch_string, micro_op_tuples

_MICRO_RE = re.compile(r"^64-41414-([0-3])_([0-3]{2})_([0-3]{3})$")


@space("transnas-micro", aliases=("tnb101-micro", "transbench101-micro"))
class TransNASMicroSpace(TransNASSpace):
    description = (
        "TransNAS-Bench-101 micro: 4,096 cells (4 nodes, 6 edges, none/skip/conv1x1/conv3x3) x 7 Taskonomy tasks"
    )
    space_tag = "micro"
    files_help = files_help_for(space_tag)
    _op_tuples = staticmethod(micro_op_tuples)
    _arch_string = staticmethod(micro_arch_string)

    def _check_op_tuple(self, ops: tuple[int, ...], text: str) -> None:
        if len(ops) != 6 or not all(0 <= o <= 3 for o in ops):
            raise NasproxError(f"a TransNAS micro op tuple has 6 entries in 0..3, got {text}")

    def _check_arch_string(self, text: str) -> None:
        if not _MICRO_RE.match(text):
            raise NasproxError(
                f"'{text}' is not a TransNAS micro architecture (expected e.g. 64-41414-1_02_333 or (1, 0, 2, 3, 3, 3))"
            )
