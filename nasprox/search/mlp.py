"""MLP / small-CNN builders, the activation and initialisation grids of NEAR's hyper-parameter study,
and feature loading for MLP experiments (NEAR paper §4.3-4.4, PROXY_SPEC §5.1).

Activations: ReLU, SiLU, Tanh, Tanhshrink, GELU and sTanh(x) = 1.59223·tanh(x), the scaled tanh of
the NEAR authors' machine-learning-potential work. 1.59223 is close to 1/sqrt(E[tanh(z)^2]) = 1.5925
for z ~ N(0, 1), i.e. the factor that keeps a unit-variance Gaussian pre-activation at unit output
variance.

Initialisations (weights; biases as stated):
- ``kaiming_uniform``: PyTorch's ``nn.init.kaiming_uniform_`` (a=0, fan_in, leaky_relu gain), bias 0.
- ``xavier_uniform``: ``nn.init.xavier_uniform_`` (gain 1), bias 0.
- ``uniform``: U(-1, 1) weights and biases (the unscaled textbook scheme, no fan-in scaling).
- ``stanh``: the sTanh-tailored scheme, U(-sqrt(3/fan_in), sqrt(3/fan_in)) so that Var(w) = 1/fan_in,
  bias 0. With sTanh keeping unit variance through the activation this keeps every layer's
  pre-activation at unit variance. [UNRESOLVED] The NEAR paper's appendix text for this scheme could
  not be retrieved through our search tools; this is our derivation from the sTanh scaling above.
- ``default``: leave PyTorch's own default (``reset_parameters``) untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasprox.core import NasproxError

STANH_SCALE = 1.59223


class STanh(nn.Module):
    """Scaled tanh, 1.59223·tanh(x). Not a class of ``torch.nn.modules.activation``, so NEAR's hook
    rule (b) would miss it; the ``weight = None`` attribute makes rule (a) hook it, like the reference
    hooks any weighted module (PROXY_SPEC §5.1)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = None  # makes NEAR hook this module (it hooks modules with a `weight` attribute)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return STANH_SCALE * torch.tanh(x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "tanhshrink": nn.Tanhshrink,
    "gelu": nn.GELU,
    "stanh": STanh,
}


def _uniform_fan_in(weight: torch.Tensor) -> None:
    fan_in = weight.shape[1] * (math.prod(weight.shape[2:]) if weight.dim() > 2 else 1)
    bound = math.sqrt(3.0 / fan_in)
    nn.init.uniform_(weight, -bound, bound)


def _init_weight(kind: str, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    if kind == "kaiming_uniform":
        nn.init.kaiming_uniform_(weight)
    elif kind == "xavier_uniform":
        nn.init.xavier_uniform_(weight)
    elif kind == "uniform":
        nn.init.uniform_(weight, -1.0, 1.0)
        if bias is not None:
            nn.init.uniform_(bias, -1.0, 1.0)
        return
    elif kind == "stanh":
        _uniform_fan_in(weight)
    if bias is not None:
        nn.init.zeros_(bias)


INITS = ("kaiming_uniform", "xavier_uniform", "uniform", "stanh", "default")


def apply_init(model: nn.Module, kind: str) -> nn.Module:
    """Initialise every Linear/Conv2d of ``model`` in place with scheme ``kind`` (see module doc)."""
    if kind not in INITS:
        raise NasproxError(f"unknown initialisation '{kind}' (choose from {', '.join(INITS)})")
    if kind == "default":
        return model
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                _init_weight(kind, module.weight, module.bias)
    return model


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name.lower()]()
    except KeyError:
        raise NasproxError(f"unknown activation '{name}' (choose from {', '.join(ACTIVATIONS)})") from None


def build_mlp(input_size: int, hidden: list[int], output_size: int, act: str = "relu") -> nn.Sequential:
    """Linear -> act -> ... -> Linear; PyTorch default init. NEAR hooks 2 modules per hidden layer
    (the Linear output, then the activation output), so hidden layer ``l`` is hooked index ``2l``
    (pre-activation) and ``2l + 1`` (post-activation)."""
    if input_size < 1 or output_size < 1 or any(h < 1 for h in hidden):
        raise NasproxError(f"layer sizes must be >= 1 (input {input_size}, hidden {hidden}, output {output_size})")
    layers: list[nn.Module] = []
    width = input_size
    for h in hidden:
        layers += [nn.Linear(width, h), activation(act)]
        width = h
    layers.append(nn.Linear(width, output_size))
    return nn.Sequential(*layers)


def build_small_cnn(in_channels: int, num_classes: int, act: str = "relu", width: int = 16) -> nn.Sequential:
    """Conv3x3(C->w) -> act -> Conv3x3/2(w->2w) -> act -> global average pool -> Linear(2w->K)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        activation(act),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
        activation(act),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, num_classes),
    )


# -- data -------------------------------------------------------------------------------------
def load_features(
    path: Path, label_column: str | None = None, limit: int | None = None, standardize: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """Feature rows (N, F) float32 and optional integer labels from a CSV, NPY or image NPZ.

    - CSV: every numeric column except ``label_column`` (which becomes the labels);
    - NPY: a 2-D array (N, F) (higher-rank arrays are flattened per row);
    - NPZ: array ``x`` (images are flattened per sample, pixels scaled to [0, 1]) and ``y`` if present.
    With ``standardize`` each feature is z-scored (constant features become 0), as usual for MLP inputs.
    """
    path = Path(path)
    if not path.is_file():
        raise NasproxError(f"data file {path} does not exist")
    labels = None
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pandas as pd

            frame = pd.read_csv(path)
            if label_column is not None:
                if label_column not in frame.columns:
                    raise NasproxError(f"{path}: no column '{label_column}' (columns: {', '.join(frame.columns)})")
                labels = frame.pop(label_column).to_numpy()
            numeric = frame.select_dtypes("number")
            if numeric.shape[1] == 0:
                raise NasproxError(f"{path}: no numeric feature columns")
            x = numeric.to_numpy(dtype=np.float64)
        elif suffix == ".npy":
            x = np.load(path).astype(np.float64)
        elif suffix == ".npz":
            data = np.load(path)
            if "x" not in data.files:
                raise NasproxError(f"{path}: expected an array 'x' (found {', '.join(data.files)})")
            x = data["x"]
            scale = 255.0 if x.dtype == np.uint8 else 1.0
            x = x.astype(np.float64) / scale
            if "y" in data.files:
                labels = data["y"]
        else:
            raise NasproxError(f"{path}: unsupported data format '{suffix}' (use .csv, .npy or .npz)")
    except NasproxError:
        raise
    except Exception as exc:  # unreadable file
        raise NasproxError(f"cannot read {path}: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    if x.ndim < 2 or len(x) < 2:
        raise NasproxError(f"{path}: need at least 2 samples with features, got shape {x.shape}")
    x = x.reshape(len(x), -1)
    if limit is not None:
        x = x[:limit]
        labels = labels[:limit] if labels is not None else None
    if not np.isfinite(x).all():
        raise NasproxError(f"{path}: features contain NaN or inf")
    if standardize:
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    y = None
    if labels is not None:
        _, codes = np.unique(np.asarray(labels), return_inverse=True)  # any label type -> 0..K-1
        y = torch.from_numpy(codes.astype(np.int64))
    return torch.from_numpy(x.astype(np.float32)), y, f"{path.name}:{len(x)}x{x.shape[1]}"
