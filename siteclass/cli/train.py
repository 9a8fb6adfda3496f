"""CLI commands of the train stage (thin: flags → stage function)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import ConfigOption, app, default_help, settings_from


@app.command("train")
def train_command(
    data: Annotated[Path, typer.Option("--data", "-d", help="Dataset folder with train.parquet and val.parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help=default_help("train.model", "hybrid, ensemble, linear, fasttext, transformer, zeroshot, or package.module:Class."))
    ] = None,
    config: ConfigOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run from OUT/checkpoints.")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", help=default_help("train.*.epochs", "Training epochs (torch models)."))] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help=default_help("train.*.batch_size", "Batch size (torch models)."))] = None,
    lr: Annotated[float | None, typer.Option("--lr", help=default_help("train.*.lr", "Learning rate (torch models)."))] = None,
    seed: Annotated[int | None, typer.Option("--seed", help=default_help("train.seed", "Random seed."))] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option("--checkpoint-every", help=default_help("train.checkpoint_every_steps", "Checkpoint every N steps (0: each epoch)."))
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help=default_help("train.device", "auto, cpu or cuda."))] = None,
    no_calibrate: Annotated[bool, typer.Option("--no-calibrate", help="Skip temperature calibration.")] = False,
    refit: Annotated[bool, typer.Option("--refit", help="Choose epochs, calibration and thresholds on val, then fit "
                                        "again on train + val with those choices (small datasets gain most).")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Train a model on a dataset folder and save it (model card, settings.toml) to OUT.

    Multi-process: `torchrun --nproc_per_node N -m siteclass.training --data DS --model fasttext --out MODEL`.
    """
    from siteclass.training import train

    settings = settings_from(
        config,
        **{"train.seed": seed, "train.checkpoint_every_steps": checkpoint_every, "train.device": device,
           "train.calibrate": False if no_calibrate else None, "train.refit": True if refit else None},
    ).train
    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr}
    result = train(data, model=model, out=out, settings=settings, resume=resume, progress=progress, **overrides)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
    typer.echo(f"model saved to {result.out} in {result.train_seconds:.1f} s; validation: {shown}")
