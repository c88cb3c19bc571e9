"""``nasprox layersize``: NEAR's MLP layer-size estimation (PROXY_SPEC §5.1), greedy layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, user_errors
from nasprox.core import NasproxError

EXAMPLES = """
Examples:

  nasprox layersize --data ../shared/data/inputs/cifar10_test_1000_from_jpg.npz --output-size 10 \\
      --hidden-layers 2 --activation silu --sizes 8,16,32,64,128,256 --repetitions 4 --plot sizes.png

  nasprox layersize --data features.csv --label-column energy --output-size 1 --hidden-layers 3 \\
      --sizes 10,20,40,80,160,320 --threshold 0.005
"""


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise NasproxError(f"--sizes must be comma-separated integers, not '{text}'") from None
    return sizes


@user_errors
def layersize(
    data: Annotated[
        Path, typer.Option(help="input features: CSV (numeric columns), NPY (N x F) or an image NPZ (flattened)")
    ],
    output_size: Annotated[int, typer.Option(help="width of the output layer")],
    hidden_layers: Annotated[int, typer.Option(help="number of hidden layers to size")] = 1,
    sizes: Annotated[str, typer.Option(help="candidate sizes, comma-separated")] = "8,16,32,64,128,256",
    activation: Annotated[str, typer.Option(help="relu | silu | tanh | tanhshrink | gelu | stanh")] = "relu",
    input_size: Annotated[
        Optional[int], typer.Option(help="check the data has this many features (default: inferred)")
    ] = None,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column to leave out of the features")] = None,
    repetitions: Annotated[int, typer.Option(help="NEAR repetitions per size (paper: 400 for MLPs)")] = 4,
    threshold: Annotated[float, typer.Option(help="slope threshold t: s* = t^(1/(γ-1)) (paper 0.005)")] = 0.005,
    module: Annotated[
        str, typer.Option(help="score the layer's 'post'-activation output or its 'pre'-activation (Linear) output")
    ] = "post",
    limit: Annotated[Optional[int], typer.Option(help="use only the first N samples")] = None,
    seed: Annotated[int, typer.Option(help="seed of model init and sample order")] = 0,
    plot: Annotated[
        Optional[Path], typer.Option(help="PNG/PDF of relative score vs size with the fit (NEAR Fig. A.4)")
    ] = None,
    plugin: Plugins = [],
) -> None:
    """Estimate hidden-layer sizes of an MLP with NEAR: fit a power law to score/size and stop where
    the slope falls to t of its value at size 1 (NEAR paper §4.3)."""
    from nasprox.search.layersize import estimate_mlp_sizes, param_count, plot_fits
    from nasprox.search.mlp import load_features

    if output_size < 1:
        raise NasproxError("--output-size must be >= 1")
    inputs, _, description = load_features(data, label_column=label_column, limit=limit)
    if input_size is not None and input_size != inputs.shape[1]:
        raise NasproxError(f"--input-size {input_size} but {data} has {inputs.shape[1]} features per sample")
    fits = estimate_mlp_sizes(
        inputs,
        output_size,
        hidden_layers,
        _sizes(sizes),
        activation=activation,
        repetitions=repetitions,
        threshold=threshold,
        module=module,
        seed=seed,
    )
    typer.echo(f"data {description}; activation {activation}; {repetitions} repetitions; threshold {threshold}")
    typer.echo("| layer | chosen size | estimate | alpha | beta | gamma | NEAR score per candidate size |")
    typer.echo("|---|---|---|---|---|---|---|")
    for fit in fits:
        per_size = ", ".join(f"{s}: {v:.2f}" for s, v in zip(fit.sizes, fit.scores))
        typer.echo(
            f"| {fit.layer + 1} | {fit.chosen} | {fit.estimate:.2f} | {fit.alpha:.4g} | {fit.beta:.4g} | "
            f"{fit.gamma:.4g} | {per_size} |"
        )
    chosen = [f.chosen for f in fits]
    typer.echo(
        f"chosen sizes: {','.join(map(str, chosen))} ({param_count(inputs.shape[1], chosen, output_size):,} parameters)"
    )
    if plot:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot_fits(fits, plot, title=f"{description}, {activation}")
        typer.echo(f"wrote {plot}", err=True)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(layersize)
