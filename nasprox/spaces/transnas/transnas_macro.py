"""TransNAS-Bench-101 macro (skeleton-level) space: 3,256 skeletons of ResNet basic blocks, 7 tasks.

Architectures
    A skeleton has 4-6 modules of two ResNet basic blocks; each digit says what the module does:
    1 normal, 2 channels x2, 3 resolution /2, 4 both. Between 1 and 4 modules halve the
    resolution and between 1 and 3 double the channels. Key = the benchmark's arch string
    ``64-<digits>-basic``, e.g. ``64-1234-basic``. Index = row of NASLib's export
    ``tnb101_macro_valmetric_zen.csv`` (op tuples zero-padded to 6 and sorted); it is generated
    here without any file. The official ``.pth`` orders its archs differently. :meth:`parse` also
    takes a NASLib op tuple such as ``(1, 2, 3, 4, 0, 0)``.

Tasks, inputs, losses, targets and ground truth: see ``nasprox.spaces.transnas._transnas_common``.
"""

from __future__ import annotations

import re

from nasprox.core import NasproxError, space
from nasprox.spaces.transnas._transnas_common import TransNASSpace, files_help_for, macro_arch_string, macro_op_tuples

_MACRO_RE = re.compile(r"^64-([1-4]{4,6})-basic$")


@space("transnas-macro", aliases=("tnb101-macro", "transbench101-macro"))
class TransNASMacroSpace(TransNASSpace):
    description = "TransNAS-Bench-101 macro: 3,256 ResNet skeletons (4-6 modules) x 7 Taskonomy tasks"
    space_tag = "macro"
    files_help = files_help_for(space_tag)
    _op_tuples = staticmethod(macro_op_tuples)
    _arch_string = staticmethod(macro_arch_string)

    def _check_op_tuple(self, ops: tuple[int, ...], text: str) -> None:
        digits = [o for o in ops if o]
        if not all(0 <= o <= 4 for o in ops) or not 4 <= len(digits) <= 6 or 0 in ops[: len(digits)]:
            raise NasproxError(f"a TransNAS macro op tuple has 4-6 digits in 1..4 followed by zeros, got {text}")

    def _check_arch_string(self, text: str) -> None:
        match = _MACRO_RE.match(text)
        if not match:
            raise NasproxError(
                f"'{text}' is not a TransNAS macro architecture (expected e.g. 64-1234-basic or (1, 2, 3, 4))"
            )
        digits = match.group(1)
        halvings = sum(d in "34" for d in digits)
        doublings = sum(d in "24" for d in digits)
        if not (1 <= halvings <= 4 and 1 <= doublings <= 3):
            raise NasproxError(
                f"'{text}' is outside the TransNAS macro space (needs 1-4 resolution halvings (3/4) and "
                f"1-3 channel doublings (2/4), has {halvings} and {doublings})"
            )
