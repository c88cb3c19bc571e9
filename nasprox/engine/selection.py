"""Which architectures a run covers: ranges, lists, seeded samples, explicit specs, shards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from nasprox.core import ArchRef, NasproxError, SearchSpace


def parse_range(text: str, size: int) -> list[int]:
    """'0:200', '5', '1,4,9', '100:' (Python slice semantics, bounds checked)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                lo_s, _, hi_s = part.partition(":")
                lo = int(lo_s) if lo_s.strip() else 0
                hi = int(hi_s) if hi_s.strip() else size
                if lo >= hi:
                    raise NasproxError(
                        f"--archs {part} is an empty range (start must be below stop, e.g. {hi}:{lo})"
                        if lo > hi
                        else f"--archs {part} is an empty range"
                    )
                if lo < 0 or hi > size:
                    raise NasproxError(
                        f"--archs {part} is out of bounds for a space of {size} architectures (0..{size})"
                    )
                out.extend(range(lo, hi))
            else:
                i = int(part)
                if not 0 <= i < size:
                    raise NasproxError(
                        f"--archs {i} is out of bounds for a space of {size} architectures (0..{size - 1})"
                    )
                out.append(i)
        except ValueError:
            raise NasproxError(f"--archs '{part}' is not an index or a start:stop range") from None
    if not out:
        raise NasproxError("--archs selects no architecture")
    return out


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        i_s, _, n_s = text.partition("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise NasproxError(f"--shard '{text}' must look like i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise NasproxError(f"--shard {text}: need 0 <= i < n")
    return i, n


def _with_spec(ref: ArchRef, text: str) -> ArchRef:
    return ref if ref.spec else replace(ref, spec=text)


def read_arch_list(path: Path) -> list[str]:
    """The architecture strings of an ``--arch-list`` file: one per line, blank and ``#`` lines skipped."""
    if not path.is_file():
        raise NasproxError(f"--arch-list file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NasproxError(f"--arch-list file {path} is not UTF-8 text (one architecture string per line)") from None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise NasproxError(f"--arch-list file {path} lists no architecture")
    return lines


def select_archs(
    space: SearchSpace,
    *,
    archs: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    arch_list: str | Path | None = None,
    shard: str | None = None,
    subset: int | None = None,
    on_note: Callable[[str], None] = lambda message: None,
) -> list[ArchRef]:
    """Resolve the CLI's selection flags into ArchRefs, then keep this shard's share (round-robin).

    An architecture named twice (a repeated ``--arch-list`` line or ``--archs`` index) is kept once, in
    first-seen order, before sharding, and ``on_note`` is told how many repeats were dropped.

    ``subset`` keeps the first K architectures of a ``sample`` in the order they were drawn, so the
    subset of a seeded sample is the same cells whatever K (a 200-cell subset of the 1,000-cell sample),
    or the first K lines of an ``arch_list``.
    """
    if sum(x is not None for x in (archs, sample, arch_list)) > 1:
        raise NasproxError("use only one of --archs, --sample and --arch-list")
    if subset is not None and sample is None and arch_list is None:
        raise NasproxError(
            "--subset needs --sample or --arch-list (it keeps the first K cells of the seeded sample or the list)"
        )
    if arch_list is not None:
        path = Path(arch_list)
        lines = read_arch_list(path)
        if subset is not None:
            if not 0 < subset <= len(lines):
                raise NasproxError(f"--subset {subset} must be between 1 and the {len(lines)} lines of {path}")
            lines = lines[:subset]
        refs = [_with_spec(space.parse(ln), ln) for ln in lines]
    else:
        size = len(space)
        if sample is not None:
            if not 0 < sample <= size:
                raise NasproxError(f"--sample {sample} must be between 1 and the space size {size}")
            drawn = np.random.default_rng(seed).choice(size, size=sample, replace=False)
            if subset is not None:
                if not 0 < subset <= sample:
                    raise NasproxError(f"--subset {subset} must be between 1 and --sample {sample}")
                drawn = drawn[:subset]
            idx = np.sort(drawn).tolist()
        elif archs is not None:
            idx = parse_range(archs, size)
        else:
            idx = list(range(size))
        refs = [space.arch(i) for i in idx]
    refs, repeated = _without_repeats(refs)
    if repeated:
        on_note(f"{repeated} repeated architecture(s) in the selection dropped; {len(refs)} distinct ones scored")
    i, n = parse_shard(shard)
    return refs[i::n]


def _without_repeats(refs: list[ArchRef]) -> tuple[list[ArchRef], int]:
    """Each architecture once (by canonical key), in first-seen order, and how many repeats were dropped:
    a run would otherwise promise rows it never writes (the key of a repeat is already done)."""
    seen: set[str] = set()
    kept = []
    for ref in refs:
        if ref.key not in seen:
            seen.add(ref.key)
            kept.append(ref)
    return kept, len(refs) - len(kept)
