"""Word-level language-model batches: Penn Treebank (Mikolov) and WikiText-2, or synthetic tokens.

Tokenisation follows AWD-LSTM's ``data.py`` (used by NAS-Bench-NLP): every line of a split
becomes ``line.split() + ['<eos>']`` (empty lines give a lone ``<eos>``), and word ids are
assigned in order of first appearance over train, then valid, then test. On the full PTB files
this gives the 10,000-word Mikolov vocabulary (``<unk>`` and ``<eos>`` included); on WikiText-2
33,278 words. With a partial train split (e.g. ``ptb.train.partial.txt``) the vocabulary is
still complete only if valid/test cover the missing words, and word ids are assigned in a
different order than with the full file.

Files looked up under ``data_root`` (or its ``ptb``/``penn``/``wikitext-2`` subfolder):

* ptb: ``ptb.train.txt`` (or ``ptb.train.partial.txt``), ``ptb.valid.txt``, ``ptb.test.txt``;
  also ``train.txt``/``valid.txt``/``test.txt``;
* wikitext-2: ``wiki.train.tokens``, ``wiki.valid.tokens``, ``wiki.test.tokens``.

Batches: ``(inputs, targets)``, both ``(batch, seq_len)`` int64, ``targets`` = inputs shifted
by one token. Each row is a window of the training stream at a start drawn uniformly by
``numpy.random.default_rng(seed)``, so a seed gives the same windows on every machine.
Synthetic batches (``synthetic=True``) are uniform random ids in ``[0, vocab_size)`` from a
seeded ``torch.Generator``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from nasprox.core import NasproxError
from nasprox.core.sources import dataset_hint

log = logging.getLogger("nasprox.data")

SPLIT_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "ptb": {
        "train": ("ptb.train.txt", "ptb.train.partial.txt", "train.txt"),
        "valid": ("ptb.valid.txt", "valid.txt"),
        "test": ("ptb.test.txt", "test.txt"),
    },
    "wikitext-2": {
        "train": ("wiki.train.tokens", "train.txt"),
        "valid": ("wiki.valid.tokens", "valid.txt"),
        "test": ("wiki.test.tokens", "test.txt"),
    },
}
SUBFOLDERS = {"ptb": ("", "ptb", "penn", "penn-treebank"), "wikitext-2": ("", "wikitext-2", "wikitext-2-v1")}


@dataclass(frozen=True)
class Corpus:
    train: np.ndarray  # int64 token ids
    valid: np.ndarray
    test: np.ndarray
    words: tuple[str, ...]  # id -> word
    description: str

    @property
    def vocab_size(self) -> int:
        return len(self.words)


def tokenize(lines, vocab: dict[str, int]) -> np.ndarray:
    """AWD-LSTM tokenisation: words of each line plus <eos>; new words get the next id."""
    ids = []
    for line in lines:
        for word in line.split() + ["<eos>"]:
            ids.append(vocab.setdefault(word, len(vocab)))
    return np.asarray(ids, dtype=np.int64)


def find_split_files(dataset: str, data_root: Path) -> dict[str, Path]:
    if dataset not in SPLIT_FILES:
        raise NasproxError(f"no text corpus '{dataset}' (choose from {', '.join(SPLIT_FILES)})")
    root = Path(data_root).expanduser()
    if root.is_file():
        root = root.parent
    if not root.is_dir():
        raise NasproxError(f"--data-root {root} is not a folder; {dataset_hint(dataset)}")
    for sub in SUBFOLDERS[dataset]:
        folder = root / sub if sub else root
        found = {}
        for split, names in SPLIT_FILES[dataset].items():
            hit = next((folder / n for n in names if (folder / n).is_file()), None)
            if hit is not None:
                found[split] = hit
        if "train" in found:
            return found
    wanted = ", ".join(SPLIT_FILES[dataset]["train"])
    raise NasproxError(
        f"no {dataset} training text ({wanted}) in {root} or its "
        f"{'/'.join(s for s in SUBFOLDERS[dataset] if s)} subfolder; {dataset_hint(dataset)}"
    )


@lru_cache(maxsize=4)
def _load_corpus(paths: tuple[tuple[str, str], ...], stamp: tuple[float, ...]) -> Corpus:
    vocab: dict[str, int] = {}
    splits = {}
    if "partial" in Path(dict(paths)["train"]).name:  # once per file set (cached)
        log.warning("%s: partial training split; word ids follow its first-appearance order", dict(paths)["train"])
    for split, path in paths:
        with open(path, encoding="utf-8") as fh:
            splits[split] = tokenize(fh, vocab)
    empty = np.zeros(0, dtype=np.int64)
    words = tuple(sorted(vocab, key=vocab.__getitem__))
    names = ",".join(Path(p).name for _, p in paths)
    return Corpus(splits["train"], splits.get("valid", empty), splits.get("test", empty), words, f"text:{names}")


def load_corpus(dataset: str, data_root: Path) -> Corpus:
    """Tokenised splits of ``dataset`` under ``data_root`` (cached per file set)."""
    files = find_split_files(dataset, data_root)
    order = [s for s in ("train", "valid", "test") if s in files]
    paths = tuple((s, str(files[s])) for s in order)
    corpus = _load_corpus(paths, tuple(files[s].stat().st_mtime for s in order))
    return corpus


class TokenStream:
    """An endless, seeded stream of (inputs, targets) token windows on ``device``."""

    def __init__(
        self,
        tokens: np.ndarray | None,
        batch_size: int,
        seed: int,
        *,
        seq_len: int,
        vocab_size: int,
        device="cpu",
        description: str = "synthetic:uniform-tokens",
    ):
        if batch_size < 1:
            raise NasproxError(f"batch size must be >= 1, got {batch_size}")
        if seq_len < 1:
            raise NasproxError(f"sequence length must be >= 1, got {seq_len}")
        if tokens is not None and len(tokens) < seq_len + 2:
            raise NasproxError(f"the training text has {len(tokens)} tokens, fewer than one window of {seq_len + 1}")
        self.tokens, self.batch_size, self.seq_len = tokens, batch_size, seq_len
        self.vocab_size, self.device, self.description = vocab_size, torch.device(device), description
        self._rng = np.random.default_rng(seed)
        self._gen = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tokens is None:
            seq = torch.randint(0, self.vocab_size, (self.batch_size, self.seq_len + 1), generator=self._gen)
        else:
            starts = self._rng.integers(0, len(self.tokens) - self.seq_len - 1, self.batch_size)
            seq = torch.from_numpy(np.stack([self.tokens[s : s + self.seq_len + 1] for s in starts]))
        return seq[:, :-1].to(self.device), seq[:, 1:].to(self.device)


def token_batches(
    dataset: str,
    batch_size: int,
    seed: int,
    *,
    seq_len: int = 70,
    data_root=None,
    synthetic: bool = False,
    vocab_size: int | None = None,
    device="cpu",
) -> TokenStream:
    """A seeded stream of token batches for ``dataset`` ('ptb' or 'wikitext-2').

    ``vocab_size`` is the model's vocabulary: real text whose vocabulary is larger is refused.
    """
    if synthetic:
        if not vocab_size:
            raise NasproxError("synthetic token batches need the vocabulary size")
        return TokenStream(None, batch_size, seed, seq_len=seq_len, vocab_size=vocab_size, device=device)
    if data_root is None:
        raise NasproxError(
            f"no input text: give --data-root DIR holding the {dataset} files, or --synthetic; {dataset_hint(dataset)}"
        )
    corpus = load_corpus(dataset, Path(data_root))
    if vocab_size is not None and corpus.vocab_size > vocab_size:
        raise NasproxError(
            f"{corpus.description}: vocabulary of {corpus.vocab_size} words exceeds the model's {vocab_size}; "
            f"is this really {dataset}?"
        )
    return TokenStream(
        corpus.train,
        batch_size,
        seed,
        seq_len=seq_len,
        vocab_size=vocab_size or corpus.vocab_size,
        device=device,
        description=corpus.description,
    )
