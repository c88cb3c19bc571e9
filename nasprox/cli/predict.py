"""``nasprox predict``: learned accuracy predictors on proxy values + architecture features, with learning curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, user_errors

SHOWN = ("spearman", "kendall", "spearman_top", "top_overlap", "pairwise_order", "ndcg_at_k", "precision_at_t")


def _pm(mean: float, std: float) -> str:
    if mean != mean:  # NaN
        return "nan"
    return f"{mean:.3f} ± {std:.3f}" if std == std else f"{mean:.3f}"


@user_errors
def predict(
    results: Annotated[
        list[Path], typer.Argument(help="result CSV files written by `nasprox score` (with ground truth)")
    ],
    train: Annotated[
        str, typer.Option(help="numbers of labelled training archs, comma-separated")
    ] = "20,50,100,200,1000",
    seeds: Annotated[
        int, typer.Option(min=1, help="seeded splits per training size (seeds first-seed .. first-seed+seeds-1)")
    ] = 10,
    first_seed: Annotated[int, typer.Option(help="first split seed")] = 0,
    model: Annotated[
        str, typer.Option(help="rf (random forest) | gb (gradient boosting) | et (extra trees), scikit-learn")
    ] = "rf",
    proxies: Annotated[
        Optional[str],
        typer.Option(
            help="proxy features, comma-separated, or 'none' (architecture features only); default: every proxy in the results except ensemble:* rows"
        ),
    ] = None,
    arch_features: Annotated[
        bool,
        typer.Option(
            "--arch-features/--no-arch-features",
            help="add the space's cheap architecture features (NB201: op/path/depth counts, cell #params/MACs)",
        ),
    ] = True,
    target: Annotated[
        Optional[str], typer.Option(help="ground-truth column without gt_ (default: the space's, e.g. test_acc)")
    ] = None,
    top: Annotated[str, typer.Option(help="top fraction for spearman_top and top_overlap")] = "10%",
    ndcg_k: Annotated[int, typer.Option(min=1, help="k of nDCG@k")] = 10,
    precision_t: Annotated[str, typer.Option(help="T of Precision@T: a count (10) or a share (5%)")] = "10",
    population: Annotated[str, typer.Option(help="all | unique (one arch per isomorphism class)")] = "all",
    out: Annotated[
        Optional[Path],
        typer.Option(help="CSV with one row per (N, seed, method): metrics and the training arch indices"),
    ] = None,
    plot: Annotated[Optional[Path], typer.Option(help="learning-curve figure (.png or .pdf)")] = None,
    importances: Annotated[
        int, typer.Option(min=0, help="print the N most important features (mean over seeds, largest training size)")
    ] = 0,
    plugin: Plugins = [],
) -> None:
    """Train a predictor on N labelled architectures, score the rest, report held-out ranking metrics.

    Features: proxy values plus the space's architecture features. For each training size N and
    seed, a seeded permutation of the architectures with ground truth gives N training archs and
    the rest as held-out; the model never sees held-out labels and every metric is on held-out
    archs only. Reported as mean ± std over seeds, next to the best single proxy chosen on the
    training labels. --out records every split (training arch indices); --plot draws the curves.

    Examples:

      nasprox predict results/tss_c10.csv --train 20,50,100,200,1000 --seeds 10 --model rf --plot curve.png

      nasprox predict results/tss_c10.csv --train 50,100 --model gb --no-arch-features --out runs.csv

      nasprox predict results/tss_c10.csv --proxies near,zico --importances 10
    """
    import numpy as np

    from nasprox.core import NasproxError
    from nasprox.predict.features import build_features
    from nasprox.predict.learn import MODELS, learning_curve
    from nasprox.report.tables import render
    from nasprox.stats import default_target, load_results, parse_fraction, parse_t, select_population, target_values

    if model not in MODELS:
        raise NasproxError(f"unknown model '{model}' (choose from {', '.join(MODELS)})")
    try:
        sizes = [int(s) for s in train.split(",") if s.strip()]
    except ValueError:
        raise NasproxError(f"cannot read --train '{train}' (use e.g. 20,50,100)") from None
    if not sizes or min(sizes) < 2:
        raise NasproxError("--train needs sizes >= 2")
    fraction, t_value = parse_fraction(top), parse_t(precision_t)
    table, pop = select_population(load_results(results), population)
    seed_list = list(range(first_seed, first_seed + seeds))
    all_runs, summaries, parts = [], {}, []
    for space, dataset, sub, present in table.groups():
        if proxies and proxies.strip().lower() == "none":
            names = []  # architecture features only
        elif proxies:
            names = [p.strip() for p in proxies.split(",") if p.strip()]
        else:
            names = [p for p in present if not p.startswith("ensemble:")]
        tgt = target or default_target(space)
        y_all = target_values(sub, space, tgt)
        keep = np.isfinite(y_all)
        if keep.sum() < 12:
            typer.echo(f"{space}/{dataset}: only {int(keep.sum())} archs with a finite {tgt}; skipped", err=True)
            continue
        sub = sub[keep]
        feats = build_features(sub, space, names, arch_features=arch_features)
        curve = learning_curve(
            feats.X,
            y_all[keep],
            feats.names,
            feats.n_proxy,
            sub["arch_index"].to_numpy(),
            train_sizes=sizes,
            seeds=seed_list,
            model=model,
            top=fraction,
            ndcg_k=ndcg_k,
            precision_t=t_value,
        )
        if curve.skipped:
            typer.echo(
                f"{space}/{dataset}: training size(s) {', '.join(map(str, curve.skipped))} skipped: "
                f"{len(sub)} archs with ground truth leave fewer than 10 held-out",
                err=True,
            )
        cell = f"{space}/{dataset}"
        summaries[cell] = curve.summary
        runs = curve.runs.assign(
            space=space, dataset=dataset, target=tgt, model=model, population=pop.label(space, dataset)
        )
        all_runs.append(runs)
        n_arch = feats.X.shape[1] - feats.n_proxy
        header = (
            f"{cell}: {MODELS[model]} on {feats.n_proxy} proxies ({', '.join(names) or 'none'})"
            f" + {n_arch} architecture features; target {tgt}; {len(sub)} archs with ground truth"
            f" ({int((~keep).sum())} without left out); {len(seed_list)} seeds; population {pop.label(space, dataset)}"
        )
        shown = curve.summary[["n_train", "method", "n_test"]].copy()
        for metric in SHOWN:
            shown[metric] = [_pm(m, s) for m, s in zip(curve.summary[f"{metric}_mean"], curve.summary[f"{metric}_std"])]
        if "chosen" in curve.summary:
            shown["chosen"] = curve.summary["chosen"].fillna("")
        parts.append(f"### {header}\n\n" + render(shown, "md"))
        if importances and len(curve.importances):
            last = curve.importances.iloc[-1].sort_values(ascending=False).head(importances)
            lines = "\n".join(f"| {k} | {v:.3f} |" for k, v in last.items())
            parts.append(
                f"feature importances at N={curve.importances.index[-1]} (mean over seeds):\n\n"
                f"| feature | importance |\n|---|---|\n{lines}\n"
            )
    if not parts:
        raise NasproxError("nothing to train on: no (space, dataset) with enough ground truth")
    typer.echo("\n".join(parts).rstrip("\n"))
    if out is not None:
        import pandas as pd

        from nasprox.storage.provenance import write_provenance

        frame = pd.concat(all_runs, ignore_index=True)
        lead = ["space", "dataset", "target", "model", "population", "n_train", "n_test", "seed", "method"]
        frame = frame[lead + [c for c in frame.columns if c not in lead and c != "method_kind"]]
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
        sidecar = Path(str(out) + ".provenance.json")
        if sidecar.exists():
            sidecar.unlink()
        write_provenance(
            out,
            {
                "command": "predict",
                "results": [str(p) for p in results],
                "train": sizes,
                "seeds": seed_list,
                "model": model,
                "proxies": proxies,
                "arch_features": arch_features,
                "target": target,
                "top": fraction,
                "ndcg_k": ndcg_k,
                "precision_t": t_value,
                "population": population,
            },
            extra={"split": "numpy.random.default_rng(seed).permutation(pool); first N train, rest held-out"},
        )
        typer.echo(f"wrote {out}", err=True)
    if plot is not None:
        from nasprox.predict.plots import learning_curve_plot

        learning_curve_plot(summaries, plot)
        typer.echo(f"wrote {plot}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(predict)
