"""Real image batches (CIFAR-10/100 python batches, ImageNet16 batches, or an ``.npz`` with x/y).

Batches are drawn without replacement by a seeded permutation, so the same seed gives the same
images in the same order on every machine. Normalisation follows the benchmarks' own pipelines
(PROXY_SPEC §1.3). Random crop/flip augmentation (the foresight pipeline) is opt-in.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nasprox.core import NasproxError
from nasprox.core.sources import dataset_hint

log = logging.getLogger("nasprox.data")

# mean/std per normalisation family (fractions of 255)
NORMALISATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet16": ((122.68 / 255, 116.66 / 255, 104.01 / 255), (63.22 / 255, 61.26 / 255, 65.09 / 255)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "taskonomy": ((0.5224, 0.5222, 0.5221), (0.2234, 0.2235, 0.2236)),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
DATASET_NORM = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16"}


@dataclass
class ImageSource:
    """Images as uint8 NHWC plus integer labels, and a description for provenance."""

    x: np.ndarray
    y: np.ndarray
    description: str
    # False: the file gave no labels and ``y`` numbers the images (one per class), taken modulo the class count
    labels_given: bool = True
    # what was converted on reading (layout, value range), one line each for the user
    notes: tuple[str, ...] = ()

    def check_labels(self, num_classes: int, dataset: str) -> None:
        """Refuse given labels outside ``0..num_classes-1``: taken modulo they would silently be other classes."""
        if not self.labels_given or len(self.y) == 0:
            return
        low, high = int(self.y.min()), int(self.y.max())
        if low < 0 or high >= num_classes:
            raise NasproxError(
                f"{self.description}: labels range {low}..{high}, but {dataset} has classes 0..{num_classes - 1}; "
                f"give images of {dataset} (or an .npz without 'y': one image per class, numbered in order)"
            )


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except Exception as exc:  # corrupt or foreign file
        raise NasproxError(f"cannot read image batch {path}: {exc.__class__.__name__}: {exc}") from None


def _from_npz(path: Path, height: int) -> ImageSource:
    """``x`` (N,H,W,C uint8) and ``y``; or per-resolution ``x16``/``x32`` arrays; no ``y``: one image per class.

    Other layouts and value ranges are converted, each with a note: channels first (N,C,H,W), floats in
    [0, 1] (scaled by 255) or in [0, 255], integers of another dtype in 0..255. Anything else is refused:
    negative values (already normalised images would be normalised twice) or values above 255.
    """
    try:
        data = np.load(path)
        key = f"x{height}" if f"x{height}" in data.files else "x"
        x = data[key]
        labels_given = "y" in data.files
        y = data["y"] if labels_given else np.arange(len(x))
    except Exception as exc:
        raise NasproxError(
            f"cannot read images from {path}: expected an .npz with arrays 'x' and 'y' ({exc})"
        ) from None
    if x.ndim != 4:
        raise NasproxError(f"{path}: '{key}' must be N x H x W x C uint8 images, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise NasproxError(f"{path}: 'y' must hold one integer label per image ({len(x)}), got {y.dtype} {y.shape}")
    notes = []
    if x.shape[-1] != 3 and x.shape[1] == 3:
        notes.append(f"{path.name}: '{key}' is channels-first {x.shape}; read as N x H x W x C")
        x = x.transpose(0, 2, 3, 1)
    x, note = _as_uint8(x, path, key)
    notes += [note] if note else []
    return ImageSource(
        np.ascontiguousarray(x), np.asarray(y, dtype=np.int64), f"npz:{path.name}", labels_given, tuple(notes)
    )


def _as_uint8(x: np.ndarray, path: Path, key: str) -> tuple[np.ndarray, str]:
    """Pixels as uint8 0..255 (what normalisation expects) and a note when they were stored otherwise."""
    if x.dtype == np.uint8:
        return x, ""
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise NasproxError(f"{path}: '{key}' holds {x.dtype}, not image pixels (expected uint8 0..255)")
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if not np.isfinite([low, high]).all() or low < 0 or high > 255:
        raise NasproxError(
            f"{path}: '{key}' values range {low:g}..{high:g}; expected raw pixels in 0..255 (uint8) or 0..1 "
            "(float), not images normalised already"
        )
    if np.issubdtype(x.dtype, np.floating) and high <= 1.0:
        return np.rint(x * 255.0).astype(np.uint8), f"{path.name}: '{key}' is {x.dtype} in 0..1; scaled by 255"
    return np.rint(x).astype(np.uint8), f"{path.name}: '{key}' is {x.dtype} in 0..255; read as uint8 pixels"


def _from_cifar_dir(root: Path, dataset: str) -> ImageSource | None:
    """CIFAR python batches: cifar-10-batches-py/data_batch_* or cifar-100-python/train."""
    if dataset == "cifar10":
        for d in (root, root / "cifar-10-batches-py"):
            files = sorted(d.glob("data_batch_*"))
            if files:
                parts = [_unpickle(f) for f in files]
                x = np.concatenate([p["data"] for p in parts]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                y = np.concatenate([np.asarray(p["labels"]) for p in parts])
                return ImageSource(np.ascontiguousarray(x), y.astype(np.int64), f"cifar10-train:{d}")
    if dataset == "cifar100":
        for d in (root, root / "cifar-100-python"):
            if (d / "train").is_file():
                p = _unpickle(d / "train")
                x = np.asarray(p["data"]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                return ImageSource(
                    np.ascontiguousarray(x), np.asarray(p["fine_labels"], np.int64), f"cifar100-train:{d}"
                )
    if dataset == "ImageNet16-120":
        for d in (root, root / "ImageNet16"):
            files = sorted(d.glob("train_data_batch_*"))
            if files:
                parts = [_unpickle(f) for f in files]
                x = np.concatenate([p["data"] for p in parts]).reshape(-1, 3, 16, 16).transpose(0, 2, 3, 1)
                y = np.concatenate([np.asarray(p["labels"]) for p in parts]) - 1  # labels are 1-based
                keep = y < 120  # ImageNet16-120 = the first 120 classes
                return ImageSource(np.ascontiguousarray(x[keep]), y[keep].astype(np.int64), f"imagenet16-120-train:{d}")
    return None


def load_image_source(dataset: str, data_root: str | Path, height: int = 32) -> ImageSource:
    root = Path(data_root)
    if not root.exists():
        raise NasproxError(f"data root {root} does not exist; {dataset_hint(dataset)}")
    if root.is_file():
        return _from_npz(root, height)
    found = _from_cifar_dir(root, dataset)
    if found is None:
        npz = sorted(root.glob("*.npz"))
        if len(npz) == 1:
            return _from_npz(npz[0], height)
        raise NasproxError(
            f"no {dataset} images under {root} (looked for CIFAR python batches, ImageNet16 train_data_batch_*, "
            f"or one .npz); {dataset_hint(dataset)}"
        )
    return found


class ImageStream:
    """An endless, seeded stream of normalised image batches on ``device``."""

    def __init__(
        self,
        source: ImageSource | None,
        batch_size: int,
        seed: int,
        *,
        shape=(3, 32, 32),
        norm: str = "cifar10",
        augment: bool = False,
        num_classes: int | None = None,
        device="cpu",
    ):
        if batch_size < 1:
            raise NasproxError(f"batch size must be >= 1, got {batch_size}")
        self.source, self.batch_size, self.shape = source, batch_size, tuple(shape)
        self.augment, self.num_classes, self.device = augment, num_classes, torch.device(device)
        self._rng = np.random.default_rng(seed)
        self._gen = torch.Generator().manual_seed(seed)
        if norm not in NORMALISATION:
            raise NasproxError(f"unknown image normalisation '{norm}' (known: {', '.join(NORMALISATION)})")
        mean, std = NORMALISATION[norm]
        self._mean = torch.tensor(mean).view(1, 3, 1, 1)
        self._std = torch.tensor(std).view(1, 3, 1, 1)
        self._order: np.ndarray = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.description = source.description if source is not None else "synthetic:gaussian"

    def _indices(self) -> np.ndarray:
        assert self.source is not None  # only next() calls this, after its synthetic branch
        n = len(self.source.x)
        out = []
        need = self.batch_size
        while need:
            if self._pos >= len(self._order):
                self._order, self._pos = self._rng.permutation(n), 0
            take = self._order[self._pos : self._pos + need]
            self._pos += len(take)
            need -= len(take)
            out.append(take)
        return np.concatenate(out)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.source is None:
            x = torch.randn((self.batch_size, *self.shape), generator=self._gen)
            classes = self.num_classes or 10
            y = torch.randint(0, classes, (self.batch_size,), generator=self._gen)
            return x.to(self.device), y.to(self.device)
        idx = self._indices()
        x = torch.from_numpy(self.source.x[idx]).permute(0, 3, 1, 2).float().div_(255.0)
        y = torch.from_numpy(self.source.y[idx])
        if self.num_classes:  # only labels the file did not give (check_labels refuses given ones out of range)
            y = y % self.num_classes  # e.g. 1000 one-per-class ImageNet images fed to a 120-way head
        c, h, w = self.shape
        if x.shape[1] != c:
            raise NasproxError(f"images have {x.shape[1]} channels, the network expects {c}")
        if self.augment:
            x = self._augment(x)
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self._mean) / self._std
        return x.to(self.device), y.to(self.device)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """RandomCrop(size, padding=size//8) + RandomHorizontalFlip, seeded."""
        n, _, h, w = x.shape
        pad = max(h // 8, 1)
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = self._rng.integers(0, 2 * pad + 1, n)
        dx = self._rng.integers(0, 2 * pad + 1, n)
        flip = self._rng.random(n) < 0.5
        out = torch.empty_like(x)
        for i in range(n):
            crop = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
            out[i] = crop.flip(-1) if flip[i] else crop
        return out


def image_batches(
    dataset: str,
    batch_size: int,
    seed: int,
    *,
    shape=(3, 32, 32),
    data_root=None,
    synthetic: bool = False,
    augment: bool = False,
    num_classes: int | None = None,
    norm: str | None = None,
    device="cpu",
) -> ImageStream:
    """A seeded stream of batches for ``dataset``: real images from ``data_root`` or Gaussian noise."""
    if synthetic:
        source = None
    elif data_root is None:
        raise NasproxError(
            f"no input data: give --data-root, or --synthetic for Gaussian inputs; {dataset_hint(dataset)}"
        )
    else:
        source = load_image_source(dataset, data_root, shape[-2])
    norm = norm or DATASET_NORM.get(dataset, "cifar10")
    return ImageStream(
        source, batch_size, seed, shape=shape, norm=norm, augment=augment, num_classes=num_classes, device=device
    )
