"""NAS-Bench-NLP language model: a recurrent cell built from a recipe, in an AWD-LSTM-style
3-layer model (re-implemented from fmsnew/nas-bench-nlp-release: custom_rnn.py, model.py,
train.py settings recorded in every log: emsize 400, nhid 600, nlayers 3, tied weights, bptt 70).

Recipe: ``{node: {"op": op, "input": [names]}}``. Inputs ``x`` (layer input) and ``h_prev_<i>``
(previous hidden states); outputs ``h_new_<i>``; the cell carries as many hidden states as there
are ``h_new_<i>`` nodes and passes ``h_new_0`` up. Ops:

* ``linear``: sum of one weight matrix per input plus one bias (``MultiLinear``), output width
  = the layer's hidden size;
* ``blend``: ``a * b + (1 - a) * c``; ``elementwise_prod`` / ``elementwise_sum`` over the inputs;
* ``activation_tanh`` / ``activation_sigm`` / ``activation_leaky_relu`` (slope 0.01).

Every ``linear`` node gets weights, reachable or not (the benchmark builds one component per
recipe key), so parameter counts equal the logs' ``num_params``. Layer sizes: layer 1
400 -> 600, layer 2 600 -> 600, layer 3 600 -> 400 (tied to the 400-wide embedding); the decoder
reuses the embedding matrix plus a bias.

Init as the benchmark: cell parameters U(-1/sqrt(hidden), 1/sqrt(hidden)); embedding and
decoder weight U(-0.1, 0.1); decoder bias 0.

Dropout: the benchmark trains with dropout 0.1 (output), 0.25 (between layers), 0.4 (input),
0.0 (embedding) and weight-drop 0.1 on the recurrent (``h``) weights. Dropout is a training
regulariser, not architecture, and makes every forward random, so ``dropout=False`` (the
default of the space) builds the network without it; ``dropout=True`` applies the benchmark's
rates in train mode (locked dropout masks shared over time, as AWD-LSTM).
"""

from __future__ import annotations

import math
import re
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = (
    "linear",
    "blend",
    "elementwise_prod",
    "elementwise_sum",
    "activation_tanh",
    "activation_sigm",
    "activation_leaky_relu",
)
_HIDDEN_IN = re.compile(r"^h_prev_(\d+)$")
_HIDDEN_OUT = re.compile(r"^h_new_(\d+)$")

EMSIZE, NHID, NLAYERS = 400, 600, 3
DROPOUT = {"output": 0.1, "hidden": 0.25, "input": 0.4, "embedding": 0.0, "weight": 0.1}


class RecipeError(ValueError):
    """A recipe that cannot form a recurrent cell (message is user-facing)."""


def check_recipe(recipe) -> list[str]:
    """Validate a recipe; return its nodes in a topological order (inputs excluded)."""
    if not isinstance(recipe, dict) or not recipe:
        raise RecipeError("a NAS-Bench-NLP recipe is a non-empty JSON object {node: {op, input}}")
    for name, spec in recipe.items():
        if (
            not isinstance(spec, dict)
            or "op" not in spec
            or not isinstance(spec.get("input"), list)
            or not spec["input"]
        ):
            raise RecipeError(f"recipe node '{name}' needs an 'op' and a non-empty 'input' list")
        if spec["op"] not in OPS:
            raise RecipeError(f"recipe node '{name}' has unknown op '{spec['op']}' (known: {', '.join(OPS)})")
        if name == "x" or _HIDDEN_IN.match(name):
            raise RecipeError(f"recipe node '{name}' redefines a cell input")
        for src in spec["input"]:
            if src != "x" and not _HIDDEN_IN.match(src) and src not in recipe:
                raise RecipeError(f"recipe node '{name}' reads undefined node '{src}'")
        if spec["op"] == "blend" and len(spec["input"]) != 3:
            raise RecipeError(f"blend node '{name}' needs 3 inputs, has {len(spec['input'])}")
        if spec["op"].startswith("elementwise") and len(spec["input"]) < 2:
            raise RecipeError(f"{spec['op']} node '{name}' needs at least 2 inputs")
        if spec["op"].startswith("activation") and len(spec["input"]) != 1:
            raise RecipeError(f"activation node '{name}' needs exactly 1 input")
    outputs = sorted(int(m.group(1)) for m in map(_HIDDEN_OUT.match, recipe) if m)
    if 0 not in outputs:
        raise RecipeError("a recipe needs an output node 'h_new_0'")
    if outputs != list(range(len(outputs))):
        raise RecipeError(f"hidden outputs must be h_new_0..h_new_{len(outputs) - 1} without gaps")
    for name, spec in recipe.items():
        for src in spec["input"]:
            m = _HIDDEN_IN.match(src)
            if m and int(m.group(1)) >= len(outputs):
                raise RecipeError(
                    f"node '{name}' reads {src} but the cell only produces {len(outputs)} hidden state(s)"
                )
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(node: str) -> None:
        if state.get(node) == "done" or node == "x" or _HIDDEN_IN.match(node):
            return
        if state.get(node) == "open":
            raise RecipeError(f"recipe has a cycle through '{node}'")
        state[node] = "open"
        for src in recipe[node]["input"]:
            visit(src)
        state[node] = "done"
        order.append(node)

    for node in recipe:
        visit(node)
    return order


class MultiLinear(nn.Module):
    """sum_i W_i x_i + b: one weight per input, one shared bias."""

    def __init__(self, input_sizes: list[int], output_size: int):
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(output_size, n)) for n in input_sizes)
        self.bias = nn.Parameter(torch.empty(output_size))

    def forward(self, inputs: list[torch.Tensor], weight_drop: float = 0.0, recurrent: list[bool] | None = None):
        out: torch.Tensor = self.bias
        for i, (w, x) in enumerate(zip(self.weights, inputs)):
            if weight_drop and self.training and recurrent and recurrent[i]:
                w = F.dropout(w, p=weight_drop, training=True)
            out = out + F.linear(x, w)
        return out

    def mac_count(self, _inputs, output: torch.Tensor) -> float:
        """MACs of one call for the ``flops`` proxy: as one Linear on the concatenated inputs, with bias."""
        out_features = self.bias.numel()
        positions = output.numel() // out_features
        in_features = sum(w.shape[1] for w in self.weights)
        return float((in_features + 1) * out_features * positions)  # + 1: the bias add


class RecipeCell(nn.Module):
    def __init__(self, recipe: dict, input_size: int, hidden_size: int):
        super().__init__()
        self.recipe = recipe
        self.order = check_recipe(recipe)
        self.num_hidden = sum(1 for k in recipe if _HIDDEN_OUT.match(k))
        self.hidden_size = hidden_size
        self.linears = nn.ModuleDict()
        for name, spec in recipe.items():  # every key gets a component, as the benchmark
            if spec["op"] == "linear":
                sizes = [input_size if src == "x" else hidden_size for src in spec["input"]]
                self.linears[_module_name(name)] = MultiLinear(sizes, hidden_size)
        self.weight_drop = 0.0

    def forward(self, x: torch.Tensor, hidden: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        values = {"x": x}
        for i, h in enumerate(hidden):
            values[f"h_prev_{i}"] = h
        for name in self.order:
            spec = self.recipe[name]
            args = [values[src] for src in spec["input"]]
            op = spec["op"]
            if op == "linear":
                recurrent = [src != "x" for src in spec["input"]]
                values[name] = self.linears[_module_name(name)](args, self.weight_drop, recurrent)
            elif op == "blend":
                values[name] = args[0] * args[1] + (1 - args[0]) * args[2]
            elif op == "elementwise_prod":
                out = args[0]
                for a in args[1:]:
                    out = out * a
                values[name] = out
            elif op == "elementwise_sum":
                out = args[0]
                for a in args[1:]:
                    out = out + a
                values[name] = out
            elif op == "activation_tanh":
                values[name] = torch.tanh(args[0])
            elif op == "activation_sigm":
                values[name] = torch.sigmoid(args[0])
            else:  # activation_leaky_relu
                values[name] = F.leaky_relu(args[0])
        return tuple(values[f"h_new_{i}"] for i in range(self.num_hidden))


def _module_name(node: str) -> str:
    return node.replace(".", "_")  # ModuleDict keys may not contain dots


class RecurrentLayer(nn.Module):
    def __init__(self, recipe: dict, input_size: int, hidden_size: int):
        super().__init__()
        self.cell = RecipeCell(recipe, input_size, hidden_size)
        stdv = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -stdv, stdv)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(T, B, in) -> (T, B, hidden), starting from zero hidden states."""
        batch = inputs.shape[1]
        hidden = tuple(inputs.new_zeros(batch, self.cell.hidden_size) for _ in range(self.cell.num_hidden))
        outputs = []
        for x in inputs.unbind(0):
            hidden = self.cell(x, hidden)
            outputs.append(hidden[0])
        return torch.stack(outputs, 0)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """One dropout mask per sequence, shared over time steps (AWD-LSTM LockedDropout)."""
    if not training or not p:
        return x
    mask = x.new_empty(1, x.shape[1], x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


class RecipeLanguageModel(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab)."""

    def __init__(self, recipe: dict, vocab_size: int, dropout: bool = False):
        super().__init__()
        self.encoder = nn.Embedding(vocab_size, EMSIZE)
        sizes = [(EMSIZE if i == 0 else NHID, EMSIZE if i == NLAYERS - 1 else NHID) for i in range(NLAYERS)]
        self.rnns = nn.ModuleList(RecurrentLayer(recipe, n_in, n_out) for n_in, n_out in sizes)
        self.decoder = nn.Linear(EMSIZE, vocab_size)
        self.decoder.weight = self.encoder.weight  # tied
        self.rates = dict(DROPOUT) if dropout else {k: 0.0 for k in DROPOUT}
        for rnn in self.rnns:
            cast(RecurrentLayer, rnn).cell.weight_drop = self.rates["weight"]
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"the language model takes integer token ids, got {tokens.dtype}")
        weight = self.encoder.weight
        if self.training and self.rates["embedding"]:  # drop whole words
            keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - self.rates["embedding"])
            weight = weight * keep / (1 - self.rates["embedding"])
        h = F.embedding(tokens.t(), weight)  # (T, B, E)
        h = locked_dropout(h, self.rates["input"], self.training)
        for i, rnn in enumerate(self.rnns):
            h = rnn(h)
            p = self.rates["hidden"] if i < len(self.rnns) - 1 else self.rates["output"]
            h = locked_dropout(h, p, self.training)
        return self.decoder(h).transpose(0, 1)  # (B, T, V)
