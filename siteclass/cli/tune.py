"""CLI command of the tune stage (thin: flags → ``siteclass.tuning.tune``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import ConfigOption, app, default_help, settings_from


@app.command()
def tune(
    data: Annotated[Path, typer.Option("--data", "-d", help="Dataset folder with train.parquet and val.parquet.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="hybrid, ensemble, linear, fasttext, transformer, zeroshot, or "
                                              "package.module:Class. Default: [train] model.")] = None,
    trials: Annotated[int | None, typer.Option("--trials", "-n", help=default_help("tune.trials", "Trials in the study in total "
                                                                      "(a resumed study counts earlier ones)."))] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", "-p", help=default_help("tune.parallel", "Trials run at once (processes)."))] = None,
    metric: Annotated[str | None, typer.Option("--metric", help=default_help("tune.metric", "Validation metric to optimise (macro_f1, "
                                                                "accuracy, log_loss, …)."))] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help=default_help("tune.timeout_s", "Stop starting trials after N seconds."))] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Study folder: study.db, best.toml, best_model/, "
                                                          "report.html. An existing study there is resumed.")] = Path("tune"),
    config: ConfigOption = None,
) -> None:
    """Search hyperparameters with Optuna (TPE + median pruning); resumable, parallel, with a report."""
    from siteclass.tuning import tune as run_tune

    settings = settings_from(config, **{"tune.timeout_s": timeout})
    result = run_tune(data, model=model, trials=trials, parallel=parallel, out=out, settings=settings,
                        metric=metric)
    typer.echo(f"best {result.metric}={result.best_value:.4f} (trial {result.best_trial}; "
               f"{result.n_complete} complete, {result.n_pruned} pruned, {result.n_failed} failed)")
    typer.echo(f"best params: {result.best_params}")
    for key in ("best_config", "best_model", "report"):
        if key in result.files:
            typer.echo(f"{key.replace('_', ' ')}: {result.files[key]}")
