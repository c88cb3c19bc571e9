"""``nasprox ensemble``: rank aggregates of several proxies, written as a pseudo-proxy in the result schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nasprox.cli._common import Plugins, user_errors


@user_errors
def ensemble(
    results: Annotated[list[Path], typer.Argument(help="result CSV files written by `nasprox score`")],
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="output CSV (same schema; input rows plus the aggregate rows); default: <first input>_ensemble.csv next to it",
        ),
    ] = None,
    proxies: Annotated[
        Optional[str],
        typer.Option(help="members, comma-separated (default: every proxy in the results with a registry direction)"),
    ] = None,
    method: Annotated[
        list[str],
        typer.Option(
            help="rank-mean | geo-mean | log-rank | borda | greedy (repeatable: one pseudo-proxy each; default rank-mean)"
        ),
    ] = [],
    recipe: Annotated[
        Optional[str],
        typer.Option(
            help="a published aggregate with fixed members and method: az_nas (AZ-NAS: log-rank of az_expressivity, "
            "az_progressivity, az_trainability, az_complexity), vkdnw_agg (VKDNW_agg: vkdnw_single, jacob_cov, "
            "az_expressivity, az_trainability, az_complexity), vkdnw_agg_mbv2 (the VKDNW MobileNetV2 search's), "
            "az_near_meco (nasprox's label-free rule: the four AZ-NAS components, near, meco_opt; log-rank); "
            "a member at -inf ranks lowest, as the authors rank it"
        ),
    ] = None,
    sign: Annotated[
        list[str],
        typer.Option(help="direction of a member, NAME=+1 or NAME=-1 (needed for raw proxies such as l2_norm, plain)"),
    ] = [],
    name: Annotated[
        Optional[str],
        typer.Option(
            help="proxy name of the aggregate (default e.g. 'ensemble:rank-mean(near+zico)'); the sidecar says what it is"
        ),
    ] = None,
    base: Annotated[str, typer.Option(help="aggregation used inside --method greedy")] = "rank-mean",
    select_labels: Annotated[
        int, typer.Option(min=3, help="greedy: labelled archs that choose the subset (removed from the output)")
    ] = 100,
    seed: Annotated[int, typer.Option(help="greedy: seed of the labelled split")] = 0,
    target: Annotated[
        Optional[str], typer.Option(help="greedy: ground-truth column without gt_ (default: the space's)")
    ] = None,
    only_ensemble: Annotated[bool, typer.Option(help="write only the aggregate rows, not the input rows")] = False,
    force: Annotated[bool, typer.Option(help="replace --out if it exists")] = False,
    plugin: Plugins = [],
) -> None:
    """Aggregate several proxies' ranks into one pseudo-proxy (training-free unless --method greedy).

    Ranks per proxy (1 = worst), each proxy oriented by its registry direction; rank-mean averages
    them, geo-mean takes their geometric mean, log-rank sums log(rank/n) (AZ-NAS), borda counts
    the architectures beaten. greedy picks the subset on a seeded labelled split and removes those
    architectures from the output. Architectures missing a member value are not ranked and get an
    'undefined' row (counted on stderr). The output is a result CSV: `correlate`, `report`,
    `search` and `pareto` read it unchanged; `<out>.provenance.json` records members, signs, seeds.

    Examples:

      nasprox ensemble results/tss_c10.csv --proxies near,meco_opt,zico,synflow --method rank-mean --out results/tss_c10_ens.csv

      nasprox ensemble results/tss_c10.csv --method rank-mean --method log-rank --method borda --out results/ens.csv

      nasprox ensemble results/tss_c10.csv --method greedy --select-labels 100 --seed 0 --out results/ens_greedy.csv

      nasprox ensemble results/suite.csv --proxies synflow,l2_norm --sign l2_norm=+1 --out results/ens.csv

      nasprox ensemble results/azvk.csv --recipe az_nas --out results/azvk_az.csv
    """
    from nasprox.core import NasproxError
    from nasprox.predict.ensemble import build_ensembles, parse_signs, write_rows
    from nasprox.storage.provenance import file_checksums, write_provenance

    if out is None:
        out = results[0].with_name(results[0].stem + "_ensemble.csv")
    sidecar = Path(str(out) + ".provenance.json")
    if out.exists() and not force:
        raise NasproxError(f"{out} exists; use --force to replace it")
    if out.resolve() in {p.resolve() for p in results}:
        raise NasproxError(f"--out {out} is one of the inputs")
    members = [p.strip() for p in proxies.split(",") if p.strip()] if proxies else None
    result = build_ensembles(
        results,
        proxies=members,
        methods=method,
        signs=parse_signs(sign),
        name=name,
        base=base,
        select_labels=select_labels,
        seed=seed,
        target=target,
        only_ensemble=only_ensemble,
        recipe_name=recipe,
    )
    for line in result.messages:
        typer.echo(line, err=True)
    write_rows(result, out)
    if sidecar.exists():
        sidecar.unlink()
    config = {
        "command": "ensemble",
        "results": [str(p) for p in results],
        "proxies": members,
        "methods": method,
        "recipe": recipe,
        "signs": sign,
        "name": name,
        "base": base,
        "select_labels": select_labels,
        "seed": seed,
        "target": target,
        "only_ensemble": only_ensemble,
    }
    write_provenance(
        out, config, extra={"inputs": file_checksums({str(p): str(p) for p in results}), "ensembles": result.info}
    )
    for entry in result.info:
        typer.echo(
            f"{entry['space']}/{entry['dataset']}: {entry['proxy']} over {entry['n_ranked']} archs"
            + (f" ({entry['n_undefined']} undefined)" if entry["n_undefined"] else ""),
            err=True,
        )
    typer.echo(f"wrote {out} ({len(result.rows)} rows) and {sidecar.name}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(ensemble)
