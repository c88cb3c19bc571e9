"""``nasprox select-init``: rank activation x initialisation pairs by NEAR (NEAR paper Tables 7-8)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, emit_table, markdown_is_md, user_errors
from nasprox.core import NasproxError

EXAMPLES = """
Examples:

  nasprox select-init --data ../shared/data/inputs/cifar10_test_1000_from_jpg.npz --output-size 10 \\
      --hidden 64,64 --repetitions 8

  nasprox select-init --data ../shared/data/inputs/cifar10_test_1000_from_jpg.npz --model cnn \\
      --activation relu,silu,stanh --init kaiming_uniform,stanh --proxy grad_norm --format csv --out grid.csv
"""


class TableFormat(str, Enum):
    md = "md"
    markdown = "markdown"  # synonym of md (markdown_is_md maps it)
    csv = "csv"


class ModelKind(str, Enum):
    mlp = "mlp"
    cnn = "cnn"


def _names(text: str) -> tuple[str, ...]:
    return tuple(p.strip().lower() for p in text.split(",") if p.strip())


def _image_inputs(path: Path, limit: int | None):
    """Image NPZ -> (N, C, H, W) float in [0, 1], channel-standardised, and labels."""
    import numpy as np
    import torch

    try:
        data = np.load(path)
        x = data["x"]
    except Exception as exc:
        raise NasproxError(
            f"--model cnn needs an image .npz with an array 'x' ({exc.__class__.__name__}: {exc})".splitlines()[0]
        ) from None
    if x.ndim != 4:
        raise NasproxError(f"{path}: 'x' must be N x H x W x C images for --model cnn, got shape {x.shape}")
    if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    x = torch.from_numpy(np.ascontiguousarray(x[:limit])).float() / (255.0 if x.dtype == np.uint8 else 1.0)
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    y = (
        torch.from_numpy(np.unique(data["y"][:limit], return_inverse=True)[1].astype(np.int64))
        if "y" in data.files
        else None
    )
    return x, y


@user_errors
def select_init(
    data: Annotated[Path, typer.Option(help="input data: CSV / NPY features or an image NPZ (flattened for the MLP)")],
    output_size: Annotated[int, typer.Option(help="width of the output layer (classes)")] = 10,
    model: Annotated[ModelKind, typer.Option(help="mlp, or a small CNN on image NPZ data")] = ModelKind.mlp,
    hidden: Annotated[str, typer.Option(help="MLP hidden sizes, comma-separated")] = "64,64",
    activation: Annotated[
        str, typer.Option(help="activations, comma-separated")
    ] = "relu,silu,tanh,tanhshrink,gelu,stanh",
    init: Annotated[
        str, typer.Option(help="initialisations: kaiming_uniform, xavier_uniform, uniform, stanh, default")
    ] = "kaiming_uniform,xavier_uniform,uniform,stanh",
    proxy: Annotated[
        list[str], typer.Option("--proxy", "-p", help="further proxies to report (repeatable or comma-separated)")
    ] = [],
    repetitions: Annotated[int, typer.Option(help="networks per pair (mean and std over them)")] = 8,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column holding labels")] = None,
    limit: Annotated[Optional[int], typer.Option(help="use only the first N samples")] = 500,
    batch_size: Annotated[int, typer.Option(help="batch size of the further proxies")] = 64,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="table format (markdown = md)", callback=markdown_is_md)
    ] = TableFormat.md,
    out: Annotated[Optional[Path], typer.Option(help="write the table here instead of stdout")] = None,
    plugin: Plugins = [],
) -> None:
    """Score one network under every activation x initialisation pair; rank pairs by mean NEAR."""
    from nasprox.core import PROXIES
    from nasprox.search.initgrid import GridSpec, score_grid
    from nasprox.search.mlp import load_features

    if output_size < 1 or batch_size < 1:
        raise NasproxError("--output-size and --batch-size must be >= 1")
    if limit is not None and limit < 2:
        raise NasproxError("--limit must be >= 2")
    proxies = tuple(PROXIES.select(proxy)) if proxy else ()
    if model is ModelKind.cnn:
        if data.suffix.lower() != ".npz":
            raise NasproxError("--model cnn needs an image .npz")
        if not data.is_file():
            raise NasproxError(f"data file {data} does not exist")
        inputs, labels = _image_inputs(data, limit)
        spec = GridSpec("cnn", tuple(inputs.shape[1:]), output_size)
    else:
        try:
            widths = tuple(int(h) for h in hidden.split(",") if h.strip())
        except ValueError:
            raise NasproxError(f"--hidden must be comma-separated integers, not '{hidden}'") from None
        inputs, labels, _ = load_features(data, label_column=label_column, limit=limit)
        if any(w < 1 for w in widths) or not widths:
            raise NasproxError("--hidden needs at least one size >= 1")
        if len(inputs) < max(widths + (output_size,)):
            raise NasproxError(
                f"NEAR needs at least as many samples as the widest layer ({max(widths)}); have {len(inputs)}"
            )
        spec = GridSpec("mlp", (inputs.shape[1],), output_size, widths)
    table = score_grid(
        spec,
        inputs,
        labels,
        activations=_names(activation),
        inits=_names(init),
        repetitions=repetitions,
        proxies=proxies,
        seed=seed,
        batch_size=batch_size,
    )
    body = " -> ".join(map(str, spec.hidden)) if spec.model == "mlp" else f"width {spec.cnn_width}"
    header = (
        f"{spec.model} {list(spec.input_shape)} -> {body} -> {output_size}; {repetitions} repetitions; "
        f"ranked by mean NEAR (higher = better)"
    )
    emit_table(table, fmt.value, header, out)


def register(app: typer.Typer) -> None:
    app.command(name="select-init", epilog=EXAMPLES)(select_init)
