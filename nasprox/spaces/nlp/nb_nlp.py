"""NAS-Bench-NLP (Klyuchnikov et al., 2020): recurrent cells in a 3-layer AWD-LSTM-style language model.

Architectures
    A cell is a recipe ``{node: {"op": ..., "input": [...]}}`` (ops and model: see
    ``nasprox.spaces.nlp._nlp_model``). Key = the recipe as compact JSON with sorted node names,
    e.g. ``{"f":{"input":["x","h_prev_0"],"op":"linear"},"h_new_0":{"input":["f"],"op":"activation_tanh"}}``.
    The benchmark has no file-free enumeration (its 14k recipes were sampled at random), so the
    space lists what the user supplies with ``configure(benchmark=...)``:

    * the recipe list ``models_recepies.json``: every recipe, index = position in the list
      (= the benchmark's recipe id);
    * otherwise training logs (folder, ``.zip`` or files): one entry per distinct benchmark id,
      in id order, index = position in that order (:meth:`benchmark_id` gives the id back).

    Identical recipes under different ids stay separate entries (the benchmark trained them
    separately); :meth:`index_of` returns the first. Without files ``len()`` raises, and
    :meth:`parse` still builds any recipe given as JSON (index -1 when not listed).

Datasets and inputs
    ``ptb`` (Mikolov PTB, vocabulary 10,000 incl. ``<eos>``) and ``wikitext-2`` (33,278 words,
    the vocabulary implied by every WikiText-2 log's ``num_params``). Inputs are token ids of
    shape ``(70,)`` (the benchmark's bptt), targets the next tokens; ``nasprox.data.text`` makes
    the batches. The model returns ``(B, T, vocab)`` logits; ``loss_fn`` is token-level CE.

Ground truth (lower is better; log-perplexity = cross-entropy in nats per token)
    ``val_loss`` / ``test_loss``: the final (50th) epoch of a run with status ``OK``;
    ``val_loss_best``: the lowest validation loss over its epochs; ``params``: the log's
    ``num_params``. Runs that diverged (status ``loss is nan!``) give no losses. Several OK runs of
    one benchmark id are averaged. Only the logs of the architecture's dataset are used.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from statistics import mean

from nasprox.core import ArchRef, InputSpec, NasproxError, SearchSpace, space
from nasprox.core.sources import describe_files, missing
from nasprox.spaces.nlp._nlp_logs import (
    RunLog,
    best_loss,
    canonical_recipe,
    final_loss,
    load_recipe_text,
    read_logs,
    read_recipe_list,
)

VOCAB_SIZES = {"ptb": 10_000, "wikitext-2": 33_278}
BPTT = 70


@space("nb-nlp", aliases=("nasbench-nlp", "nas-bench-nlp", "nbnlp"))
class NBNLPSpace(SearchSpace):
    description = "NAS-Bench-NLP recurrent cells (recipes) in a 3-layer tied AWD-LSTM-style LM; key = recipe JSON"
    datasets = ("ptb", "wikitext-2")
    gt_fields = ("val_loss", "test_loss", "val_loss_best", "params")
    default_target = "val_loss"
    lower_is_better_targets = frozenset({"val_loss", "test_loss", "val_loss_best"})
    files_help = describe_files(
        "nb-nlp",
        note="--benchmark takes a folder, a .zip or single log files, and/or the recipe list "
        "models_recepies.json; recipes can also be given as JSON with --arch-list",
    )

    def __init__(self, dropout: bool = False) -> None:
        self.dropout = dropout
        self._keys: list[str] = []  # per index: canonical recipe
        self._ids: list[int] = []  # per index: benchmark recipe id
        self._first_index: dict[str, int] = {}
        self._from_list = False
        self._runs: dict[tuple[str, int], list[RunLog]] = defaultdict(list)  # (dataset, id) -> runs
        self._configured = False

    # -- enumeration --------------------------------------------------------------------------
    def __len__(self) -> int:
        if not self._configured:
            raise NasproxError(
                missing(
                    "nb-nlp cannot enumerate recipes without benchmark files (training logs or models_recepies.json); "
                    "give them, or recipes as JSON with --arch-list",
                    "nb-nlp",
                )
            )
        return len(self._keys)

    def key(self, index: int) -> str:
        if not 0 <= index < len(self):
            raise NasproxError(f"architecture index {index} out of range for nb-nlp (0..{len(self) - 1})")
        return self._keys[index]

    def benchmark_id(self, index: int) -> int:
        """The benchmark's recipe id of an index (recipe-list position; log ``recepie_id`` mod 1e6)."""
        self.key(index)
        return self._ids[index]

    def index_of(self, key: str) -> int:
        canonical = self._canonical(key)
        if canonical not in self._first_index:
            raise NasproxError("this recipe is not among the configured NAS-Bench-NLP architectures")
        return self._first_index[canonical]

    # the vanilla RNN cell, h' = tanh(W [x, h]), in the NAS-Bench-NLP recipe format: buildable without files
    EXAMPLE_RECIPE = (
        '{"f": {"op": "linear", "input": ["x", "h_prev_0"]}, "h_new_0": {"op": "activation_tanh", "input": ["f"]}}'
    )

    def examples(self, n: int = 2) -> list[ArchRef]:
        if self._configured:
            return super().examples(n)
        ref = self.parse(self.EXAMPLE_RECIPE)
        return [ArchRef(ref.space, ref.index, ref.key, spec=self.EXAMPLE_RECIPE)][:n]

    def parse(self, text: str) -> ArchRef:
        canonical = self._canonical(text)
        return ArchRef(self.name, self._first_index.get(canonical, -1), canonical)

    @staticmethod
    def _canonical(text: str) -> str:
        from nasprox.spaces.nlp._nlp_model import RecipeError, check_recipe

        recipe = load_recipe_text(text.strip())
        try:
            check_recipe(recipe)
        except RecipeError as exc:
            raise NasproxError(str(exc)) from None
        return canonical_recipe(recipe)

    # -- models -------------------------------------------------------------------------------
    def input_spec(self, dataset: str) -> InputSpec:
        self.check_dataset(dataset)
        return InputSpec(
            kind="tokens",
            shape=(BPTT,),
            num_classes=VOCAB_SIZES[dataset],
            norm="none",
            task="language_model",
            target_shape=(BPTT,),
        )

    def build(self, arch: ArchRef, dataset: str):
        from nasprox.spaces.nlp._nlp_model import RecipeLanguageModel  # torch only when building

        self.check_dataset(dataset)
        recipe = json.loads(self._canonical(arch.key))
        return RecipeLanguageModel(recipe, VOCAB_SIZES[dataset], dropout=self.dropout).train()

    def loss_fn(self, dataset: str) -> Callable:
        import torch.nn.functional as F

        vocab = VOCAB_SIZES[self.check_dataset(dataset)]

        def token_cross_entropy(logits, targets):
            """Mean CE over all (batch, time) positions = log-perplexity of the batch."""
            return F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))

        return token_cross_entropy

    # -- ground truth ---------------------------------------------------------------------------
    def configure(self, benchmark: Path | None = None, ground_truth: Path | None = None) -> None:
        for path in (p for p in (benchmark, ground_truth) if p is not None):
            path = Path(path).expanduser()
            if not path.exists():
                raise NasproxError(missing(f"NAS-Bench-NLP file or folder not found: {path}", "nb-nlp"))
            recipes = read_recipe_list(path) if path.suffix != ".zip" else None
            runs = read_logs(path)
            if recipes is None and not runs:
                raise NasproxError(
                    missing(
                        f"{path}: no NAS-Bench-NLP training logs (log_stats_model_*.json) or recipe list found",
                        "nb-nlp",
                    )
                )
            for run in runs:
                self._runs[(run.dataset, run.benchmark_id)].append(run)
            if recipes is not None:
                self._set_entries(list(enumerate(recipes)), from_list=True)
            elif not self._from_list:
                by_id: dict[int, dict] = {}
                for (_, bid), rs in sorted(self._runs.items(), key=lambda kv: kv[0][1]):
                    by_id.setdefault(bid, rs[0].recipe)
                self._set_entries(sorted(by_id.items()), from_list=False)
            self._configured = True

    def _set_entries(self, entries: list[tuple[int, dict]], from_list: bool) -> None:
        self._from_list = from_list
        self._ids = [bid for bid, _ in entries]
        self._keys = [canonical_recipe(r) for _, r in entries]
        self._first_index = {}
        for i, k in enumerate(self._keys):
            self._first_index.setdefault(k, i)

    def ground_truth_datasets(self) -> frozenset[str] | None:
        return frozenset(dataset for dataset, _ in self._runs) if self._configured else None

    def ground_truth(self, arch: ArchRef, dataset: str) -> Mapping[str, float]:
        self.check_dataset(dataset)
        index = arch.index if 0 <= arch.index < len(self._keys) else self._first_index.get(arch.key, -1)
        if index < 0:
            return {}
        runs = self._runs.get((dataset, self._ids[index]), [])
        truth: dict[str, float] = {}
        params = [r.num_params for r in runs if r.num_params is not None]
        if params:
            truth["params"] = float(params[0])
        ok = [r for r in runs if r.ok]
        for name, pick in (
            ("val_loss", lambda r: final_loss(r.val_losses)),
            ("test_loss", lambda r: final_loss(r.test_losses)),
            ("val_loss_best", lambda r: best_loss(r.val_losses)),
        ):
            values = [v for v in map(pick, ok) if v is not None]
            if values:
                truth[name] = float(mean(values))
        return truth
