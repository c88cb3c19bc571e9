"""Shared machinery of the two TransNAS-Bench-101 spaces (Duan et al., CVPR 2021).

Tasks (the spaces' "datasets"), from the benchmark configs
(yawen-d/TransNASBench: configs/train_from_scratch/<task>/config.py):

================  ====================  ==========  =============================================
task              InputSpec.task        outputs     training loss in the benchmark -> ``loss_fn``
================  ====================  ==========  =============================================
class_object      classification        75          soft-label CE (Taskonomy logits) -> CE
class_scene       classification        47          soft-label CE -> CE (accepts class ids or
                                                    probability targets)
room_layout       regression            9           MSE -> MSE
jigsaw            classification        1000        CE over 1000 tile permutations -> CE
segmentsemantic   dense_classification  17 x HxW    per-pixel CE -> per-pixel CE
normal            dense_regression      3 x HxW     0.99 L1 + 0.01 GAN -> L1 (no discriminator)
autoencoder       dense_regression      3 x HxW     0.99 L1 + 0.01 GAN -> L1
================  ====================  ==========  =============================================

Input resolution is the benchmark's 3x256x256 (Taskonomy images resized); jigsaw feeds nine
3x64x64 tiles, which we take from a 3x192x192 image cut into a 3x3 grid (see
``_transnas_model``). Normalisation: class_* and room_layout use mean 0.5224 / std 0.2234
(``norm="taskonomy"``), dense tasks 0.5 / 0.5 (``norm="half"``), jigsaw tiles are not
normalised (``norm="none"``). A space built with ``resolution=R`` (a multiple of 64) feeds RxR
(jigsaw: three R/4 tiles per side) and dense outputs are RxR; the layer structure, and so the
parameter count, does not depend on R.

Ground truth
    * ``configure(ground_truth=CSV)``: the NASLib-derived table ``tnb101_{micro,macro}_valmetric_zen.csv``
      with columns ``tnb_arch_str`` and ``val_<task>``, giving ``valid_metric`` (NASLib's
      VAL_ACCURACY = the benchmark metric at the final epoch). Other CSVs work if they have an
      ``arch``/``tnb_arch_str`` column plus ``val_<task>`` and optionally ``test_<task>`` columns.
    * ``configure(benchmark=PATH)``: the official ``transnas-bench_v10141024.pth`` (a
      ``torch.save``'d dict ``{'data': {space: {arch: {task: {'metrics': {name: [per epoch]},
      'model_info': {...}, 'total_epochs': n}}}}, 'metrics_dict', 'task_list', 'info_names'}``,
      structure read from the benchmark's ``api/api.py``), giving ``valid_metric``/``test_metric``
      (final epoch, as NASLib) and ``valid_loss``/``test_loss``. Tested on a file written in that
      structure, not on the real release (absent from the shared data).

    * ``configure(ground_truth=CSV)`` with ``<task>.<split>_<metric>`` columns, e.g.
      ``tnb101_micro_best_epoch_metrics.csv``: every metric as the TransNAS API returns it by default
      (``get_single_metric(..., mode='best')``: the **maximum over epochs**, losses included). These
      fields keep the file's names (``valid_top1``, ``test_top5``, ``test_mIoU``, ``test_ssim``,
      ``test_neg_loss``, ``test_acc``, ...; ``BEST_EPOCH_FIELDS``) beside NASLib's last-epoch
      ``valid_metric``, which stays the default target; its losses are the epoch maximum (the worst
      epoch), named ``max_valid_loss``, ``max_test_l1_loss``, ... so they never pass for the final-epoch
      ``valid_loss``/``test_loss``. A run configured with such a file gets these fields as result
      columns (``gt_test_mIoU``, ...); a run without keeps the four-field schema of its CSV.

    Per-task metric: top-1 % (class_object, class_scene, jigsaw), pixel accuracy %
    (segmentsemantic), SSIM (normal, autoencoder), negative MSE loss (room_layout). All are
    higher-is-better; ``valid_loss``/``test_loss`` and the best-epoch ``max_*loss`` fields are
    lower-is-better.
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from nasprox.core import ArchRef, CellTopology, InputSpec, NasproxError, SearchSpace, dag_topology
from nasprox.core.sources import describe_files, missing

log = logging.getLogger("nasprox.spaces.transnas")


@dataclass(frozen=True)
class Task:
    kind: str  # InputSpec.task
    outputs: int  # logits / regression outputs / channels
    norm: str
    metric: tuple[str, ...]  # metric names in the .pth, first found wins
    loss: tuple[str, ...]


TASKS: dict[str, Task] = {
    "class_object": Task("classification", 75, "taskonomy", ("valid_top1",), ("valid_loss",)),
    "class_scene": Task("classification", 47, "taskonomy", ("valid_top1",), ("valid_loss",)),
    "room_layout": Task("regression", 9, "taskonomy", ("valid_neg_loss",), ("valid_loss",)),
    "jigsaw": Task("classification", 1000, "none", ("valid_top1",), ("valid_loss",)),
    "segmentsemantic": Task("dense_classification", 17, "half", ("valid_acc",), ("valid_loss",)),
    "normal": Task(
        "dense_regression", 3, "half", ("valid_ssim", "val_ssim"), ("valid_l1_loss", "val_l1_loss", "valid_loss")
    ),
    "autoencoder": Task(
        "dense_regression", 3, "half", ("valid_ssim", "val_ssim"), ("valid_l1_loss", "val_l1_loss", "valid_loss")
    ),
}

# the best-epoch file's metrics per task (`<task>.valid_<metric>` and `<task>.test_<metric>` columns)
BEST_EPOCH_METRICS: dict[str, tuple[str, ...]] = {
    "class_object": ("top1", "top5", "loss"),
    "class_scene": ("top1", "top5", "loss"),
    "room_layout": ("neg_loss", "loss"),
    "jigsaw": ("top1", "top5", "loss"),
    "segmentsemantic": ("acc", "mIoU", "loss"),
    "normal": ("ssim", "l1_loss"),
    "autoencoder": ("ssim", "l1_loss"),
}
BEST_EPOCH_LOSSES = frozenset({"loss", "l1_loss"})  # the epoch maximum of a loss: its worst epoch


def best_epoch_field(split: str, metric: str) -> str:
    """The ground-truth field of a best-epoch column: ``test_mIoU``; a loss ``max_test_loss`` (see module doc)."""
    return f"max_{split}_{metric}" if metric in BEST_EPOCH_LOSSES else f"{split}_{metric}"


BEST_EPOCH_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        best_epoch_field(split, metric)
        for metrics in BEST_EPOCH_METRICS.values()
        for metric in metrics
        for split in ("valid", "test")
    )
)

MICRO_SKELETON = "41414"
BASE_CHANNELS = 64


# -- enumeration (order of the NASLib exports = sorted op tuples) ----------------------------------------
def micro_op_tuples() -> list[tuple[int, ...]]:
    """All 4^6 cells; ops 0 none, 1 skip, 2 conv1x1, 3 conv3x3, edges (0-1),(0-2),(1-2),(0-3),(1-3),(2-3)."""
    return list(itertools.product(range(4), repeat=6))


def micro_arch_string(ops: tuple[int, ...]) -> str:
    return "{}-{}-{}_{}{}_{}{}{}".format(BASE_CHANNELS, MICRO_SKELETON, *ops)


def macro_op_tuples() -> list[tuple[int, ...]]:
    """All 3,256 skeletons: 4-6 modules; 1-4 of them halve the resolution (digit 3/4) and 1-3 double
    the channels (digit 2/4), chosen independently (NASLib ``TransBench101SearchSpaceMacro``)."""
    out = []
    for n in (4, 5, 6):
        for stride_pos in _subsets(n, range(1, 5)):
            for channel_pos in _subsets(n, range(1, 4)):
                out.append(tuple(1 + 2 * (i in stride_pos) + (i in channel_pos) for i in range(n)))
    return sorted(out)


def _subsets(n: int, sizes) -> list[frozenset[int]]:
    return [frozenset(c) for k in sizes if k <= n for c in itertools.combinations(range(n), k)]


def macro_arch_string(ops: tuple[int, ...]) -> str:
    return f"{BASE_CHANNELS}-{''.join(str(o) for o in ops if o)}-basic"


def encoder_topology(arch: str) -> tuple[CellTopology, ...]:
    """The encoder's blocks as cells for nn_mass / nn_degree (counting rule: ``nasprox.core.topology``).

    Each digit of the skeleton makes two blocks, ``(c -> target)`` then ``(target -> target)``, with
    ``target = 2c`` for digits 2 and 4 (``_transnas_model.MacroEncoder``); the stem gives the base channels.
    A micro cell is nodes 0..3 (node 0 ``c_in`` channels, the others ``c_out``) with an edge wherever the
    op code is not 0 (none); a macro ResNet basic block is input -> conv_a -> conv_b plus the shortcut
    from the input (identity or 1x1 projection), which skips one level. Stem and decoders are not cells.
    """
    base, skeleton, cell = arch.split("-")
    codes = None if cell == "basic" else cell.split("_")  # codes[i-1][j]: op of the edge j -> i
    c, out = int(base), []
    for digit in skeleton:
        target = c * 2 if int(digit) % 2 == 0 else c
        for c_in in (c, target):
            if codes is None:
                out.append(dag_topology([c_in, target, target], [(0, 1), (1, 2), (0, 2)]))
            else:
                edges = [(j, i + 1) for i, node in enumerate(codes) for j, code in enumerate(node) if code != "0"]
                out.append(dag_topology([c_in, target, target, target], edges))
        c = target
    return tuple(out)


# -- the space -------------------------------------------------------------------------------------------
def files_help_for(space_tag: str) -> str:
    """The ``files_help`` text of the ``micro`` or ``macro`` space."""
    return describe_files("transnas-csv", "transnas", note=f"this space reads the '{space_tag}' part of either")


class TransNASSpace(SearchSpace):
    """Base of ``transnas-micro`` and ``transnas-macro``.

    Subclasses set ``space_tag``, ``files_help``, the ``_op_tuples`` / ``_arch_string`` pair of
    their level and the two validity checks behind :meth:`_canonical`.
    """

    datasets = tuple(TASKS)
    gt_fields: tuple[str, ...] = ("valid_metric", "test_metric", "valid_loss", "test_loss")
    extra_gt_fields = BEST_EPOCH_FIELDS  # only with a best-epoch file (module doc): then also result columns
    default_target = "valid_metric"
    lower_is_better_targets = frozenset(
        {"valid_loss", "test_loss", *(f for f in BEST_EPOCH_FIELDS if f.startswith("max_"))}
    )
    space_tag = ""  # 'micro' | 'macro': the key of this space in the official .pth

    def __init__(self, resolution: int = 256) -> None:
        if resolution < 64 or resolution % 64:
            raise NasproxError(f"TransNAS resolution must be a positive multiple of 64, got {resolution}")
        self.resolution = resolution
        self._keys = self._enumerate()
        self._index = {k: i for i, k in enumerate(self._keys)}
        self._truth: dict[str, dict[str, dict[str, float]]] = {}  # arch -> task -> fields

    @staticmethod
    def _op_tuples() -> list[tuple[int, ...]]:
        """All NASLib op tuples of the space, in index order."""
        raise NotImplementedError

    @staticmethod
    def _arch_string(ops: tuple[int, ...]) -> str:
        """The benchmark's arch string of a NASLib op tuple."""
        raise NotImplementedError

    def _check_op_tuple(self, ops: tuple[int, ...], text: str) -> None:
        """NasproxError unless ``ops`` (parsed from ``text``) is an op tuple of the space."""
        raise NotImplementedError

    def _check_arch_string(self, text: str) -> None:
        """NasproxError unless ``text`` is an arch string of the space."""
        raise NotImplementedError

    def _enumerate(self) -> list[str]:
        return [self._arch_string(ops) for ops in self._op_tuples()]

    def _canonical(self, text: str) -> str:
        """A canonical key from user text (arch string or NASLib op tuple), or NasproxError."""
        text = text.strip()
        ops = parse_op_tuple(text)
        if ops is not None:
            self._check_op_tuple(ops, text)
            text = self._arch_string(ops)
        self._check_arch_string(text)
        return text

    # -- enumeration --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._keys)

    def key(self, index: int) -> str:
        if not 0 <= index < len(self._keys):
            raise NasproxError(f"architecture index {index} out of range for {self.name} (0..{len(self._keys) - 1})")
        return self._keys[index]

    def index_of(self, key: str) -> int:
        canonical = self._canonical(key)
        return self._index[canonical]

    def parse(self, text: str) -> ArchRef:
        return self.arch(self.index_of(text))

    def topology(self, arch: ArchRef) -> tuple[CellTopology, ...]:
        """Encoder blocks as cells (:func:`encoder_topology`); the same for every task (jigsaw's shared
        encoder counts once)."""
        return encoder_topology(self._canonical(arch.key))

    # -- models -------------------------------------------------------------------------------
    def input_spec(self, dataset: str) -> InputSpec:
        task = TASKS[self.check_dataset(dataset)]
        r = self.resolution
        shape = (3, 3 * (r // 4), 3 * (r // 4)) if dataset == "jigsaw" else (3, r, r)
        target_shape = {
            "regression": (task.outputs,),
            "dense_classification": (r, r),
            "dense_regression": (task.outputs, r, r),
        }.get(task.kind, ())
        return InputSpec(
            kind="image",
            shape=shape,
            num_classes=task.outputs,
            norm=task.norm,
            task=task.kind,
            target_shape=target_shape,
        )

    def build(self, arch: ArchRef, dataset: str):
        from nasprox.spaces.transnas._transnas_model import build_task_network  # torch only when building

        task = TASKS[self.check_dataset(dataset)]
        key = self._canonical(arch.key)
        return build_task_network(key, dataset, task.outputs).train()

    def loss_fn(self, dataset: str) -> Callable:
        import torch.nn.functional as F

        kind = TASKS[self.check_dataset(dataset)].kind
        if kind == "regression":
            return F.mse_loss
        if kind == "dense_regression":
            return F.l1_loss
        return F.cross_entropy  # class ids (or probabilities); per pixel for (B,17,H,W) vs (B,H,W)

    def make_targets(self, dataset: str, inputs, labels, generator):
        """Plausible targets when no Taskonomy labels exist (the engine feeds other real images).

        * class_object / class_scene / jigsaw: ``labels mod num_classes``.
        * room_layout: 9 standard-normal values per image, drawn from ``generator``.
        * segmentsemantic: each pixel's luminance quantised into 17 equal-count bins over the batch
          (a spatially coherent per-pixel class map).
        * autoencoder: the input image itself (the benchmark's target is the input, normalised the
          same way, range [-1, 1] like the Tanh output).
        * normal: a pseudo surface-normal map from the luminance gradients, unit vectors
          ``(-dI/dx, -dI/dy, 1)/norm`` (components in [-1, 1], as the Tanh output).
        """
        import torch
        import torch.nn.functional as F

        task = TASKS[self.check_dataset(dataset)]
        if task.kind == "classification":
            return labels.long() % task.outputs
        if dataset == "room_layout":
            out = torch.randn((inputs.shape[0], task.outputs), generator=generator)
            return out.to(inputs.device, inputs.dtype)
        luminance = inputs.mean(dim=1, keepdim=True)  # (B,1,H,W)
        if dataset == "segmentsemantic":
            flat = luminance.flatten().float().cpu()
            flat = flat[:: max(1, flat.numel() // 1_000_000)]  # torch.quantile caps its input size
            edges = torch.quantile(flat, torch.linspace(0, 1, task.outputs + 1)[1:-1]).to(luminance.device)
            return torch.bucketize(luminance[:, 0].contiguous(), edges.to(luminance.dtype)).long()
        if dataset == "autoencoder":
            return inputs.detach().clone()
        # normal
        padded = F.pad(luminance, (1, 1, 1, 1), mode="replicate")
        dx = (padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]) / 2
        dy = (padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]) / 2
        normal = torch.cat([-dx, -dy, torch.ones_like(dx)], dim=1)
        return (normal / normal.norm(dim=1, keepdim=True)).detach()

    # -- ground truth ---------------------------------------------------------------------------
    def configure(self, benchmark: Path | None = None, ground_truth: Path | None = None) -> None:
        if benchmark is not None:
            self._merge(self._read_pth(Path(benchmark).expanduser()))
        if ground_truth is not None:
            self._merge(self._read_csv(Path(ground_truth).expanduser()))
        found = {name for tasks in self._truth.values() for fields in tasks.values() for name in fields}
        extra = tuple(f for f in BEST_EPOCH_FIELDS if f in found)
        if extra:  # result columns for them; a run without a best-epoch file keeps its CSV's schema
            self.gt_fields = (*type(self).gt_fields, *extra)

    def ground_truth(self, arch: ArchRef, dataset: str) -> Mapping[str, float]:
        self.check_dataset(dataset)
        return dict(self._truth.get(self._canonical(arch.key), {}).get(dataset, {}))

    def _merge(self, table: dict[str, dict[str, dict[str, float]]]) -> None:
        for arch, tasks in table.items():
            for task, fields in tasks.items():
                self._truth.setdefault(arch, {}).setdefault(task, {}).update(fields)

    def _read_csv(self, path: Path) -> dict:
        if not path.is_file():
            raise NasproxError(missing(f"TransNAS ground-truth CSV not found: {path}", "transnas-csv"))
        table: dict[str, dict[str, dict[str, float]]] = {}
        try:
            with open(path, newline="") as fh:
                self._read_csv_rows(path, csv.DictReader(fh), table)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise NasproxError(f"cannot read {path} as a CSV ({exc.__class__.__name__}: {exc})") from None
        if not table:
            raise NasproxError(f"{path}: no {self.name} architecture strings found")
        return table

    def _read_csv_rows(self, path: Path, reader: csv.DictReader, table: dict) -> None:
        columns = reader.fieldnames or []
        arch_col = next((c for c in ("tnb_arch_str", "arch", "arch_str") if c in columns), None)
        task_cols = {t: (f"val_{t}", f"test_{t}") for t in TASKS}
        best_cols = {  # task -> (column, field) of the best-epoch metrics the file has
            task: [
                (f"{task}.{split}_{metric}", best_epoch_field(split, metric))
                for metric in metrics
                for split in ("valid", "test")
                if f"{task}.{split}_{metric}" in columns
            ]
            for task, metrics in BEST_EPOCH_METRICS.items()
        }
        has_best = any(best_cols.values())
        if arch_col is None or not (has_best or any(v in columns for v, _ in task_cols.values())):
            raise NasproxError(
                f"{path}: expected a 'tnb_arch_str' (or 'arch') column and 'val_<task>' or "
                "'<task>.valid_<metric>' columns"
            )
        for row in reader:
            if None in row or None in row.values():  # a ragged row, e.g. the cut last line of a truncated file
                cells = len(columns) + len(row.get(None) or []) - sum(v is None for v in row.values())
                raise NasproxError(f"{path}: line {reader.line_num} has {cells} cells, the header has {len(columns)}")
            try:
                key = self._canonical(row[arch_col])
            except NasproxError:
                continue  # rows of the other space (a merged CSV) are skipped
            for task, (vcol, tcol) in task_cols.items():
                fields = {}
                for col, name in ((vcol, "valid_metric"), (tcol, "test_metric"), *best_cols[task]):
                    value = _to_float(row.get(col))
                    if value is not None:
                        fields[name] = value
                if fields:
                    table.setdefault(key, {})[task] = fields

    def _read_pth(self, path: Path) -> dict:
        import torch

        if path.is_dir():
            found = sorted(path.glob("transnas-bench*.pth"))
            if not found:
                raise NasproxError(missing(f"no transnas-bench*.pth in {path}", "transnas"))
            path = found[0]
        if not path.is_file():
            raise NasproxError(missing(f"TransNAS-Bench-101 benchmark file not found: {path}", "transnas"))
        try:
            database = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # older pickles may hold objects the safe loader refuses
            log.warning("%s: safe load failed, loading it as a full pickle (only use files you trust)", path)
            try:
                database = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc:
                raise NasproxError(
                    f"cannot read {path} as a TransNAS-Bench-101 .pth: {exc.__class__.__name__}: {exc}"
                ) from None
        if not isinstance(database, dict) or "data" not in database:
            raise NasproxError(f"{path} is not a TransNAS-Bench-101 API file (no 'data' entry)")
        archs = database["data"].get(self.space_tag)
        if not archs:
            raise NasproxError(f"{path} has no '{self.space_tag}' search space")
        table: dict[str, dict[str, dict[str, float]]] = {}
        for arch, tasks in archs.items():
            key = self._canonical(arch)
            for task, result in tasks.items():
                if task not in TASKS or not isinstance(result, dict):
                    continue
                fields = _final_metrics(result.get("metrics", {}), TASKS[task])
                if fields:
                    table.setdefault(key, {})[task] = fields
        return table


def _final_metrics(metrics: Mapping[str, list], task: Task) -> dict[str, float]:
    """Final-epoch valid/test metric and loss (NASLib queries TransNAS with mode='final')."""
    out: dict[str, float] = {}
    for field, names in (("metric", task.metric), ("loss", task.loss)):
        for name in names:
            if name in metrics:
                suffix = name.split("_", 1)[1]  # valid_top1 / val_ssim -> top1 / ssim
                for split, stored in (("valid", name), ("test", f"test_{suffix}")):
                    value = _last(metrics.get(stored))
                    if value is not None:
                        out[f"{split}_{field}"] = value
                break
    return out


def _last(values) -> float | None:
    if values is None:
        return None
    if isinstance(values, (list, tuple)):
        if not values:
            return None
        values = values[-1]
    return _to_float(values)


def _to_float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_op_tuple(text: str) -> tuple[int, ...] | None:
    """'(1, 0, 2, ...)' or '[1,0,2,...]' -> tuple of ints, else None."""
    text = text.strip()
    if not (text[:1] in "([" and text[-1:] in ")]"):
        return None
    try:
        return tuple(int(p) for p in text[1:-1].split(",") if p.strip())
    except ValueError:
        return None
