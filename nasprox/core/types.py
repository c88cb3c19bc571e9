"""Frozen value types and the two plug-in contracts (SearchSpace, ProxySpec). No I/O here."""

from __future__ import annotations

import difflib
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is only needed by implementations, not to import core
    import torch
    from torch import nn

    from nasprox.core.topology import CellTopology


class NasproxError(Exception):
    """A user-facing failure: the CLI prints ``str(err)`` on one line and exits 2."""


class ProxyUndefined(Exception):
    """Raised by a proxy that is not defined for this network (e.g. ReLU proxies on a Tanh net).

    The engine records the row with status ``undefined``, score NaN and the message as reason.
    """


# -- result columns: a proxy scored under several settings keeps one column per setting ------------
SETTING_SEPARATOR = "@"  # a proxy scored under several settings: one column per setting, proxy@setting


def batch_setting_column(proxy: str, batch_size: int) -> str:
    """The column name of ``proxy`` kept apart by its batch size (``snip@batch=256``), defined once."""
    return f"{proxy}{SETTING_SEPARATOR}batch={int(batch_size)}"


def proxy_of_column(column: str) -> str:
    """The proxy a result column holds: ``snip`` for ``snip@batch=256`` and for ``snip``."""
    return column.split(SETTING_SEPARATOR, 1)[0]


def logits_of(output: Any) -> Any:
    """A network's logits: its output, or the first element of a (logits, features)-style tuple (the one
    convention every proxy and ``score_model`` read outputs by)."""
    return output[0] if isinstance(output, (tuple, list)) else output


# -- architectures -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchRef:
    space: str
    index: int  # the benchmark's own index (NATS index, NB101 position in the hash order, ...)
    key: str  # canonical string: NB201 arch string, NB101 module hash, ...
    # the user's text this arch was parsed from (lets another process rebuild an arch that is not in
    # the space's index, e.g. an NB101 spec without the benchmark file); not part of identity
    spec: str = field(default="", compare=False)


@dataclass(frozen=True)
class InputSpec:
    """What a network of (space, dataset) eats and how a loss is formed."""

    kind: str  # "image" | "tokens"
    shape: tuple[int, ...]  # per-sample shape: (C, H, W) for images, (T,) for tokens
    num_classes: int  # logits width (vocab size for language models)
    norm: str = "cifar10"  # normalisation family for images: cifar10 | cifar100 | imagenet16 | none
    task: str = (
        "classification"  # classification | regression | dense_classification | dense_regression | language_model
    )
    target_shape: tuple[int, ...] = ()  # per-sample target shape for non-classification tasks


class SearchSpace(ABC):
    """A benchmark search space: enumerates architectures, builds models, looks up ground truth."""

    name: str = ""
    description: str = ""
    datasets: tuple[str, ...] = ()
    # ground-truth columns this space can fill (when files are configured), e.g. test_acc, valid_acc
    gt_fields: tuple[str, ...] = ()
    # further fields only some ground-truth files give (TransNAS best-epoch metrics): they become result
    # columns only in a run configured with such a file, so a CSV scored without one keeps its schema
    extra_gt_fields: tuple[str, ...] = ()
    default_target: str = "test_acc"
    lower_is_better_targets: frozenset[str] = frozenset()
    # file names/formats this space looks for, shown by `nasprox spaces --details`
    files_help: str = ""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def key(self, index: int) -> str:
        """Canonical architecture string of the benchmark's index."""

    def index_of(self, key: str) -> int:
        raise NasproxError(f"space {self.name} cannot look up architecture strings")

    def parse(self, text: str) -> ArchRef:
        """An ArchRef from a user-given architecture string (canonical key or space-specific spec).

        Spaces that can build architectures absent from their index return ``index=-1``.
        """
        return self.arch(self.index_of(text))

    def arch(self, index: int) -> ArchRef:
        if not 0 <= index < len(self):
            raise NasproxError(f"architecture index {index} out of range for {self.name} (0..{len(self) - 1})")
        return ArchRef(self.name, index, self.key(index))

    @abstractmethod
    def input_spec(self, dataset: str) -> InputSpec: ...

    @abstractmethod
    def build(self, arch: ArchRef, dataset: str) -> nn.Module:
        """A fresh model with PyTorch default init, train mode, on CPU, returning a logits tensor."""

    def check_dataset(self, dataset: str) -> str:
        if dataset not in self.datasets:
            raise NasproxError(f"space {self.name} has no dataset '{dataset}' (choose from {', '.join(self.datasets)})")
        return dataset

    # ground truth -------------------------------------------------------------------------------
    def configure(self, benchmark: Path | None = None, ground_truth: Path | None = None) -> None:
        """Point the space at upstream benchmark files and/or a plain ground-truth CSV."""
        if benchmark is not None or ground_truth is not None:
            raise NasproxError(f"space {self.name} reads no ground-truth files yet")

    def ground_truth(self, arch: ArchRef, dataset: str) -> Mapping[str, float]:
        """Ground-truth columns for this arch (empty when no file is configured)."""
        return {}

    def neighbours(self, index: int) -> list[int] | None:
        """Indices one mutation away from ``index`` (local search, evolution); None: no neighbourhood defined."""
        return None

    def examples(self, n: int = 2) -> list[ArchRef]:
        """A few architectures buildable without any benchmark file (registry-wide tests, docs)."""
        return [self.arch(i) for i in range(min(n, len(self)))]

    def ground_truth_datasets(self) -> frozenset[str] | None:
        """Datasets the configured ground-truth files cover (None: every dataset, or not known)."""
        return None

    def loss_fn(self, dataset: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        import torch.nn.functional as F

        return F.cross_entropy

    # cheap structure (no model build, no data) --------------------------------------------------
    def arch_features(self, arch: ArchRef) -> Mapping[str, float]:
        """Cheap numeric features of an architecture for learned predictors (operation counts,
        depth/width, path counts, #params, ...); the same names for every arch of the space.
        Empty by default: the space offers none."""
        return {}

    def unique_key(self, key: str) -> str:
        """Key of the architecture's class of equivalent (isomorphic) graphs; two archs with the
        same ``unique_key`` are the same network. Default: the key itself (every arch is unique)."""
        return key

    def topology(self, arch: ArchRef) -> tuple[CellTopology, ...] | None:
        """The network's cells as width / depth / long-range-link counts, from the architecture's graph
        (``core.topology``; NN-Mass and NN-Degree read it as ``ProxyContext.topology``).
        None by default: the space defines no such cell structure."""
        return None

    def thin_network(self, arch: ArchRef, dataset: str) -> nn.Module | None:
        """TE-NAS's "thin" network of the architecture, on which it counts linear regions (PROXY_SPEC §4.5):
        the space's own construction at one channel, fed single-channel 3x3 crops directly (no stem), with
        the dataset's classifier head; PyTorch default init, train mode, on CPU (the engine seeds and moves it;
        ``linear_regions.network=thin`` reads it as ``ProxyContext.thin_network``).
        None by default: the space defines none. A space where the construction exists but erases every
        difference between its architectures raises ``ProxyUndefined`` saying so."""
        return None


# -- proxies ----------------------------------------------------------------------------------
COST_CLASSES = ("free", "forward", "backward", "second-order", "per-sample")
BN_MODES = ("kept", "removed", "reinit", "n/a")  # what a proxy does with BatchNorm layers
OPTION_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class ProxyOption:
    """One declared proxy option (``--proxy-opt proxy.name=value``), typed and validated at flag-parse time.

    ``type`` is int, float, bool or str (the type object or its name). ``default`` None declares an
    optional value ("not given"; the proxy decides what that means, e.g. reg_swap's mu). ``aliases``
    are old names still accepted for one release, with a deprecation warning. ``minimum`` is an
    inclusive and ``above`` an exclusive lower bound for numbers.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple = ()
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    above: float | None = None

    def __post_init__(self) -> None:
        kind = OPTION_TYPES.get(self.type, self.type) if isinstance(self.type, str) else self.type
        if kind not in OPTION_TYPES.values():
            raise ValueError(f"option {self.name}: type {self.type!r} is not one of int, float, bool, str")
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "aliases", tuple(self.aliases))
        if not self.name.isidentifier() or not all(a.isidentifier() for a in self.aliases):
            raise ValueError(f"option {self.name}: names and aliases must be identifiers")
        if self.default is not None:
            self.coerce(self.default)  # a declaration whose default fails its own checks is a bug

    @property
    def type_name(self) -> str:
        return self.type.__name__

    def _label(self, owner: str) -> str:
        return f"{owner}.{self.name}" if owner else self.name

    def _expected(self) -> str:
        if self.choices:
            return f"one of {', '.join(str(c) for c in self.choices)}"
        if self.type is bool:
            return "a bool (true/false, 1/0, yes/no)"
        bound = (f" >= {self.minimum:g}" if self.minimum is not None else "") + (
            f" > {self.above:g}" if self.above is not None else ""
        )
        return {int: "an int", float: "a finite float", str: "a string"}[self.type] + bound

    def _bad(self, value: Any, owner: str) -> NasproxError:
        return NasproxError(f"option {self._label(owner)}: {str(value)!r} is not valid (expected {self._expected()})")

    def parse(self, text: str, owner: str = "") -> Any:
        """The typed value of ``text`` (as given on the command line); NasproxError naming option, value, type."""
        raw = text.strip()
        if self.type is bool:
            if raw.lower() in _TRUE:
                value: Any = True
            elif raw.lower() in _FALSE:
                value = False
            else:
                raise self._bad(text, owner)
        elif self.type is str:
            value = raw
        else:
            try:
                value = self.type(raw)
            except ValueError:
                raise self._bad(text, owner) from None
        return self._checked(value, text, owner)

    def coerce(self, value: Any, owner: str = "") -> Any:
        """``value`` as this option's type: strings are parsed, other values checked (an int is a float)."""
        if isinstance(value, str):
            return self.parse(value, owner)
        if value is None and self.default is None:
            return None  # an optional option left unset
        if self.type is bool:
            ok = isinstance(value, bool)
        elif self.type is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.type is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = False
        if not ok:
            raise self._bad(value, owner)
        return self._checked(value, value, owner)

    def _checked(self, value: Any, given: Any, owner: str) -> Any:
        if self.type is float and not math.isfinite(value):
            raise self._bad(given, owner)
        if self.choices and value not in self.choices:
            raise self._bad(given, owner)
        if self.minimum is not None and value < self.minimum:
            raise self._bad(given, owner)
        if self.above is not None and value <= self.above:
            raise self._bad(given, owner)
        return value

    def value_in(self, options: Mapping[str, Any], owner: str = "") -> Any:
        """This option's typed value in ``options`` (under its name or an old alias), else its default."""
        for key in (self.name, *self.aliases):
            if key in options:
                return self.coerce(options[key], owner)
        return self.default


_UNSET: Any = object()

# engine-level, accepted by every proxy: read by the engine (Scorer.batch_size_for), not by the proxy
BATCH_SIZE_OPTION = ProxyOption(
    "batch_size",
    int,
    None,
    "input batch size for this proxy; overrides --batch-size and the proxy's reference "
    "batch size (engine-level, accepted by every proxy)",
    minimum=1,
)


@dataclass
class ProxyContext:
    """Everything a proxy may use for one architecture. The proxy owns ``model`` and may mutate it."""

    model: nn.Module  # fresh copy, default init, train mode, on ``device``
    build_model: Callable[[], nn.Module]  # another fresh copy with the same initial weights
    inputs: torch.Tensor  # one fixed batch on device (normalised images or token ids)
    targets: torch.Tensor  # labels / task targets on device
    input_spec: InputSpec
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]]  # further batches from the stream
    device: torch.device
    seed: int
    space: str = ""
    arch: ArchRef | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    # the proxy being run; bound by the entry function the ``@proxy`` decorator registers
    spec: ProxySpec | None = None
    # values computed for this architecture that another proxy of the same run may reuse (the engine passes one
    # dict to every proxy of an architecture): a key must name everything the value depends on besides the
    # architecture and the run (seed, data source, device): the computation, its options and the batch size
    memo: dict[Hashable, Any] = field(default_factory=dict)
    # the architecture's cells as counted by ``SearchSpace.topology`` (topology proxies: nn_mass, nn_degree),
    # computed when a proxy calls it (a space's counting error then fails only the proxies that read it);
    # it returns None where there is no space, or the space defines no cell structure
    topology: Callable[[], tuple[CellTopology, ...] | None] = field(default=lambda: None)
    # the architecture's TE-NAS thin network (``SearchSpace.thin_network``: one channel, no stem), seeded, in train
    # mode on ``device``, built when a proxy calls it (linear_regions.network=thin); None where there is no space,
    # or the space defines none (a space may raise ProxyUndefined instead, with its reason)
    thin_network: Callable[[], nn.Module | None] = field(default=lambda: None)

    def opt(self, name: str, default: Any = _UNSET) -> Any:
        """The value of the declared option ``name``: the given one (typed), else the declared default.

        Inside a registered proxy, ``name`` must be declared on its ``@proxy(options=...)`` (or be the
        engine-level ``batch_size``): asking for anything else is a programming error (KeyError), and
        ``default`` is ignored (the declared default wins). Values given under an old alias are found
        too, and strings are parsed (a Scorer built in code may pass raw ``--proxy-opt`` text).
        Outside a proxy (a helper called directly on a context with no ``spec``) the raw value, or
        ``default``, is returned (typed like ``default``).
        """
        if self.spec is not None:
            return self.spec.option(name).value_in(self.options, owner=self.spec.name)
        if name not in self.options:
            if default is _UNSET:
                raise KeyError(f"option '{name}' not given and no proxy spec bound to this context")
            return default
        value = self.options[name]
        if isinstance(value, str) and default is not _UNSET and default is not None and not isinstance(default, str):
            return type(default)(value) if not isinstance(default, bool) else value.lower() in _TRUE
        return value


@dataclass(frozen=True)
class ProxySpec:
    name: str
    fn: Callable[[ProxyContext], float]
    description: str
    version: str = "1"
    higher_is_better: bool | None = True  # None: reported raw, no direction (plain, l2_norm)
    needs_labels: bool = False
    needs_gradients: bool = False
    needs_real_data: bool = True
    bn: str = "kept"  # kept | removed | reinit | n/a
    cost: str = "forward"  # one of COST_CLASSES
    default_batch_size: int | None = None  # None: the run's --batch-size
    # True: the proxy leaves the network as it found it (parameters, buffers, train/eval modes, hooks, grads),
    # so the engine hands it the built network without a deep copy, which costs more than #params or FLOPs
    # themselves; a registry-wide test checks the promise (tests/test_proxy_contract.py)
    leaves_model_unchanged: bool = False
    # True: the engine scores this proxy before the run's other proxies of an architecture (rows keep the run's
    # order), because its work also serves theirs through ``ProxyContext.memo`` and not the other way round
    scored_first: bool = False
    aliases: tuple[str, ...] = ()
    # declared options (``ctx.opt`` may read only these); ``batch_size`` (BATCH_SIZE_OPTION) is implied,
    # and a proxy may redeclare it (e.g. to accept an old alias)
    options: tuple[ProxyOption, ...] = ()
    # named functions a proxy offers to tools (``search/``, scripts) beside its score, e.g. NEAR's
    # per-layer scores: ``PROXIES.get("near").exports["layer_scores"]``; tools use these instead of
    # importing a proxy module's internals
    exports: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def allowed(field: str, value: Any, choices: tuple) -> None:
            if value not in choices or (isinstance(value, bool) and not any(c is value for c in choices)):
                shown = ", ".join(repr(c) for c in choices)
                raise ValueError(f"proxy {self.name}: {field}={value!r} is not allowed (allowed values: {shown})")

        allowed("cost", self.cost, COST_CLASSES)
        allowed("bn", self.bn, BN_MODES)
        allowed("higher_is_better", self.higher_is_better, (True, False, None))
        for flag in ("needs_labels", "needs_gradients", "needs_real_data", "leaves_model_unchanged", "scored_first"):
            allowed(flag, getattr(self, flag), (True, False))
        if not isinstance(self.version, str) or not self.version:
            raise ValueError(f"proxy {self.name}: version={self.version!r} is not allowed (allowed values: a string)")
        size = self.default_batch_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(
                f"proxy {self.name}: default_batch_size={size!r} is not allowed (allowed values: None or an int >= 1)"
            )
        # a declaration may also be a mapping of ProxyOption's fields (for modules that do not import it)
        object.__setattr__(
            self, "options", tuple(o if isinstance(o, ProxyOption) else ProxyOption(**o) for o in self.options)
        )
        seen: set[str] = set()
        for option in self.options:
            for key in (option.name, *option.aliases):
                if key in seen:
                    raise ValueError(f"proxy {self.name}: option name '{key}' declared twice")
                seen.add(key)
        if BATCH_SIZE_OPTION.name not in {o.name for o in self.options} and BATCH_SIZE_OPTION.name in seen:
            raise ValueError(f"proxy {self.name}: 'batch_size' is the engine-level option and cannot be an alias")
        object.__setattr__(self, "exports", dict(self.exports))
        for key, fn in self.exports.items():
            if not (isinstance(key, str) and key.isidentifier() and callable(fn)):
                raise ValueError(f"proxy {self.name}: export {key!r} must be an identifier naming a callable")

    @property
    def all_options(self) -> dict[str, ProxyOption]:
        """Every option this proxy accepts, by canonical name: its own plus the engine-level ``batch_size``."""
        out = {o.name: o for o in self.options}
        out.setdefault(BATCH_SIZE_OPTION.name, BATCH_SIZE_OPTION)
        return out

    def option(self, name: str) -> ProxyOption:
        """The declaration of ``name``; KeyError (a programming error) if this proxy does not declare it."""
        try:
            return self.all_options[name]
        except KeyError:
            raise KeyError(
                f"proxy {self.name} reads option '{name}' but does not declare it; add "
                f"ProxyOption('{name}', ...) to its @proxy(options=...)"
            ) from None


def validate_proxy_options(
    spec: ProxySpec, raw: Mapping[str, Any], warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """``raw`` (``--proxy-opt`` text, or values) -> typed values under canonical names, for one proxy.

    An unknown name or an ill-typed value raises a one-line NasproxError (with a "did you mean" for
    near misses). An old alias is mapped to its new name and ``warn(message)`` is called (default: a
    FutureWarning). Options not given are left out (their declared defaults apply when read).
    """
    declared = spec.all_options
    by_alias = {alias: o for o in declared.values() for alias in o.aliases}
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in raw.items():
        key = key.strip()
        option = declared.get(key)
        if option is None and key in by_alias:
            option = by_alias[key]
            message = (
                f"{spec.name}.{key} is deprecated, use {spec.name}.{option.name} "
                f"(the old name is accepted for one more release)"
            )
            if warn is None:
                warnings.warn(message, FutureWarning, stacklevel=2)
            else:
                warn(message)
        if option is None:
            names = sorted(declared)
            candidates = names + sorted(by_alias)
            close = [c for c in candidates if sorted(c) == sorted(key)]  # swapped letters, even in short names
            close = close or difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
            if close:
                hint = f"; did you mean '{by_alias[close[0]].name if close[0] in by_alias else close[0]}'?"
            else:
                hint = ""
            raise NasproxError(
                f"proxy {spec.name} has no option '{key}'{hint} (its options: {', '.join(names)}; "
                f"see `nasprox proxies --details {spec.name}`)"
            )
        if option.name in given_as and given_as[option.name] != key:
            raise NasproxError(
                f"{spec.name}.{given_as[option.name]} and {spec.name}.{key} set the same option "
                f"{option.name}; give it once"
            )
        given_as[option.name] = key
        out[option.name] = option.coerce(value, owner=spec.name)
    return out


# -- results ----------------------------------------------------------------------------------
STATUSES = ("ok", "nonfinite", "undefined", "error", "oom", "timeout")
# the run failed, not the proxy (a crash, out of memory, a hung worker): a score may come on another try, so
# ``--retry-failed`` scores these rows again; nonfinite / undefined are the proxy's own answer and stay
FAILED_STATUSES = ("error", "oom", "timeout")


@dataclass(frozen=True)
class ResultKey:
    """What makes two rows the same result: resume skips a written key, merge and correlate refuse duplicates.

    The one definition of the key: the CSV key columns (``storage.schema.KEY_COLUMNS``) are its field names.
    """

    space: str
    arch_index: int
    arch: str
    dataset: str
    proxy: str
    proxy_version: str
    seed: int
    data_config: str

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ResultKey:
        """The key of a CSV row (values as read: strings); raises ValueError/KeyError on a bad row."""
        return cls(
            str(row["space"]),
            int(row["arch_index"]),
            str(row["arch"]),
            str(row["dataset"]),
            str(row["proxy"]),
            str(row["proxy_version"]),
            int(row["seed"]),
            str(row["data_config"]),
        )


@dataclass(frozen=True)
class ScoreRecord:
    """One (architecture, proxy) result; the storage layer maps it onto CSV columns."""

    space: str
    arch_index: int
    arch: str
    dataset: str
    proxy: str
    proxy_version: str
    seed: int
    data_config: str
    score: float
    status: str
    error: str = ""
    seconds: float = 0.0
    peak_mem_mb: float = 0.0
    batch_size: int = 0
    device: str = "cpu"
    ground_truth: Mapping[str, float] = field(default_factory=dict)

    @property
    def key(self) -> ResultKey:
        return ResultKey(**{name: getattr(self, name) for name in ResultKey.field_names()})
