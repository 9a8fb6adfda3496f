"""CLI commands of the evaluate stage (thin: flags → stage function): evaluate, calibrate, tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from siteclass.charsets import use_encoding
from siteclass.cli.app import ConfigOption, EncodingOption, app, settings_from
from siteclass.errors import InputError


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "–" if v != v else f"{v:.4f}"
    return "" if v is None else str(v)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled split (DS/test.parquet, .csv, .jsonl) or a "
                                                            "dataset folder (its test split).")],
    models: Annotated[
        list[Path] | None,
        typer.Argument(help="Model folders to put side by side (with --compare).", show_default=False),
    ] = None,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model folder written by `siteclass train`.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (metrics.json, report.html, …; "
                                                                  "with --compare: compare.csv, compare.json, report.html).")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Compare the models given as arguments: "
                                                            "`--compare M1 M2 … --data FILE`.")] = False,
    encoding: EncodingOption = None,
    config: ConfigOption = None,
) -> None:
    """Score a model on a labelled split: metrics, per-class table, confusion matrix, calibration, HTML report."""
    settings = settings_from(config)
    with use_encoding(encoding):
        _evaluate(data, models, model, out, compare, settings)


def _evaluate(data: Path, models: list[Path] | None, model: Path | None, out: Path | None, compare: bool,
              settings: Any) -> None:
    from siteclass.evaluation import compare as run_compare
    from siteclass.evaluation import evaluate as run_evaluate

    if compare or (models and len(models) > 1):
        folders = [*(models or []), *([model] if model else [])]
        _print_table(run_compare(folders, data, settings=settings, out=out))
        if out is not None:
            typer.echo(f"report: {out / 'report.html'} (compare.csv, compare.json, reliability.png beside it)")
        return
    target = model or (models[0] if models else None)
    if target is None:
        raise InputError("no model given; pass --model MODEL_DIR (or --compare M1 M2 … to compare models)")
    result = run_evaluate(target, data, out=out, settings=settings)
    m = result.metrics
    lo, hi = m["cohen_kappa_ci95"]
    typer.echo(f"n={m['n']}  accuracy={m['accuracy']:.4f}  macro_f1={m['macro_f1']:.4f}  "
               f"weighted_f1={m['weighted_f1']:.4f}  kappa={m['cohen_kappa']:.4f} [{lo:.3f}, {hi:.3f}]")
    top = "  ".join(f"top{k}={v:.4f}" for k, v in m["top_k_accuracy"].items())
    typer.echo(f"{top}  log_loss={m['log_loss']:.4f}  ece={m['ece']:.4f}"
               + (f" (before calibration {m['ece_uncalibrated']:.4f})" if "ece_uncalibrated" in m else ""))
    if m.get("multi_label"):
        typer.echo(f"p_at_1={m['p_at_1']:.4f}  micro_f1_ovr={m['micro_f1_ovr']:.4f}  "
                   f"macro_f1_ovr={m['macro_f1_ovr']:.4f}")
    if result.report:
        typer.echo(f"report: {result.report}")


def _print_table(rows: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="siteclass evaluate --compare")
    for col in rows[0]:
        table.add_column(col, justify="left" if col in ("model", "model_type") else "right")
    for r in rows:
        table.add_row(*(_fmt(v) for v in r.values()))
    Console(width=200).print(table)


@app.command()
def calibrate(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder; its temperature is updated in place.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Validation split (DS/val.parquet) or a dataset folder "
                                                            "(its val split).")],
    encoding: EncodingOption = None,
    config: ConfigOption = None,
) -> None:
    """Fit temperature scaling on a validation split, save it in the model, print ECE before and after."""
    from siteclass.evaluation import calibrate as stage

    with use_encoding(encoding):
        r = stage(model, data, save=True, settings=settings_from(config))
    typer.echo(f"temperature {r['temperature_before']:.4f} → {r['temperature_after']:.4f} on {r['n']} rows")
    typer.echo(f"ECE {r['ece_before']:.4f} → {r['ece_after']:.4f}   "
               f"log loss {r['log_loss_before']:.4f} → {r['log_loss_after']:.4f}")
    typer.echo(f"saved: {model}")
