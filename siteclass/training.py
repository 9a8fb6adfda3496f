"""The train stage: a dataset folder in, a saved model folder out.

    import siteclass
    result = siteclass.train("ds/", model="fasttext", out="model/", epochs=5)  # keyword overrides of [train]
    result.metrics   # validation accuracy / macro-F1 (single-label) or P@1 / macro-F1 (multi-label)

Reads ``DS/train.parquet`` and ``DS/val.parquet`` (a ``weight`` column, when present, weights the rows — the
dataset's class weights), trains the model named by ``model`` (``linear``, ``fasttext``, ``transformer``,
``zeroshot``, or any model ``siteclass.models.registry.model_class`` finds), calibrates its temperature on the validation split, and saves the model folder with a model card
(data fingerprint, settings, validation metrics, training time) and ``settings.toml``.

Checkpoints of torch models go to ``OUT/checkpoints``; ``resume=True`` continues a killed run from there. Models
that report epochs (``epoch_callbacks``) log each epoch's loss and validation metrics to ``OUT/metrics.jsonl`` and,
with the ``tensorboard`` extra, to ``OUT/tensorboard/`` (``siteclass.training_log``).
Also runnable as a module, so multi-process training is plain torchrun::

    torchrun --nproc_per_node 2 -m siteclass.training --data ds/ --model fasttext --out model/
    torchrun --nproc_per_node 2 --max-restarts 3 -m siteclass.training ...   # elastic: restarts resume

(rank 0 writes the model; a model with the ``distributed`` capability trains on every rank, each on its share of
each batch, and a restarted group resumes from the last checkpoint by itself; any other model is fitted by rank 0
alone while the other ranks wait).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from siteclass.config import TrainSettings, save_settings, settings_dict, validation_problems
from siteclass.data.io import Split, read_split
from siteclass.errors import InputError
from siteclass.models.base import load_model
from siteclass.training_log import EpochLog

CHECKPOINTS = "checkpoints"


@dataclass
class TrainResult:
    out: Path
    model: Any
    metrics: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    data_fingerprint: str = ""
    rank: int = 0


# ----------------------------------------------------------------------------------------------- data
def load_split(data: str | Path, split: str) -> Split:
    """``DS/<split>.parquet`` as records, labels and row weights (:func:`siteclass.data.io.read_split`); a
    validation split may be empty, a training split may not. Train and tune take dataset folders only."""
    folder = Path(data)
    if not folder.is_dir():
        raise InputError(f"dataset folder {folder} does not exist or is not a folder; pass the folder `siteclass "
                         "dataset build --out` wrote (with train.parquet and val.parquet)")
    return read_split(folder, split, allow_empty=split != "train")


def fingerprint(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------- settings
def resolve_settings(settings: TrainSettings | None, model: str | None, overrides: dict[str, Any]) -> TrainSettings:
    """Settings ← model name ← keyword overrides (a [train] key, a key of the model's params, or dotted)."""
    from siteclass.models.registry import model_class

    data = settings_dict(settings or TrainSettings.model_validate({}))
    if model is not None:
        data["model"] = model
    name = data["model"]
    model_class(name)  # an unknown model fails here, naming the choices
    tables = TrainSettings.model_tables()
    for key, value in overrides.items():
        if value is None:
            continue
        if "." in key:
            section, leaf = key.split(".", 1)
            data.setdefault(section, {})[leaf] = value
        elif key in TrainSettings.model_fields and key not in tables:
            data[key] = value
        elif name in tables and key in type(getattr(TrainSettings.model_validate({}), name)).model_fields:
            data[name][key] = value
        elif name not in tables:  # a model from another package: its hyperparameters go in [train] params
            data.setdefault("params", {})[key] = value
        else:
            raise InputError(f"unknown training setting {key!r} for model {name!r}")
    try:
        return TrainSettings.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"invalid training settings: {validation_problems(exc)}") from exc


# ----------------------------------------------------------------------------------------------- train
def val_metrics(model: Any, split: Split) -> dict[str, float]:
    """Accuracy + macro-F1 (single-label) or P@1 + macro/micro-F1 (multi-label) on a labelled split."""
    from siteclass.metrics import classification_metrics

    proba = model.predict_proba(split.records)
    return classification_metrics(model.encode(split.labels), proba, model.multi_label_, threshold=0.5)


def _distributed_world(timeout_s: float) -> tuple[bool, int, int]:
    """(distributed, rank, world size). Torch is imported only under torchrun (``WORLD_SIZE`` > 1), so a model
    that needs no torch trains on an install without it."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False, 0, 1
    from siteclass.models.torchloop import dist_info, init_distributed

    distributed = init_distributed(timeout_s)
    rank, world = dist_info()
    return distributed, rank, world


def _barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def train(
    data: str | Path,
    model: str | None = None,
    out: str | Path = "model",
    settings: TrainSettings | None = None,
    resume: bool = False,
    progress: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Train a model on dataset folder *data* and save it to *out*; see the module docstring."""
    from siteclass.models.registry import build_model

    s = resolve_settings(settings, model, overrides)
    data, out = Path(data), Path(out)
    train_split, val_split = load_split(data, "train"), load_split(data, "val")
    if not train_split.records:
        raise InputError(f"{data / 'train.parquet'} has no rows")
    distributed, rank, world = _distributed_world(s.dist_timeout_s)
    if os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") not in ("", "0"):
        resume = True  # an elastic restart continues from the last checkpoint
    clf = build_model(s)
    started = time.perf_counter()
    if distributed and not clf.distributed and rank != 0:  # rank 0 alone fits a model without DDP support
        _barrier()
        return TrainResult(out=out, model=None, rank=rank)
    log = EpochLog(out, resume=resume) if clf.epoch_callbacks and rank == 0 else None
    try:
        clf.fit(
            train_split.records,
            train_split.labels,
            X_val=val_split.records or None,
            y_val=val_split.labels or None,
            sample_weight=train_split.weights,
            **clf.fit_options(checkpoint_dir=out / CHECKPOINTS, resume=resume, progress=progress, epoch_callback=log),
        )
    finally:
        if log is not None:
            log.close()
    seconds = time.perf_counter() - started
    result = TrainResult(out=out, model=clf, train_seconds=round(seconds, 3), rank=rank)
    if rank == 0:
        if s.calibrate and val_split.records:
            clf.calibrate(val_split.records, val_split.labels)
        metrics = val_metrics(clf, val_split) if val_split.records else {}
        result.metrics = metrics
        result.data_fingerprint = fingerprint(data / "train.parquet", data / "val.parquet")
        card = {
            "data": str(data),
            "data_fingerprint": "sha256:" + result.data_fingerprint,
            "n_val": len(val_split.records),
            "metrics": metrics,
            "settings": settings_dict(s),
            "world_size": world,
            "train_seconds": round(seconds, 3),
        }
        if s.refit and val_split.records:  # the choices made on val, then one more fit on train + val
            card["metrics_note"] = "validation metrics of the fit on train alone, before the refit on train + val"
            refit(data, s, out, card=card, chosen=clf)
            result.model = load_model(out)
        else:
            clf.save(out, card=card)
            save_settings(s, out, section="train")
        if not s.keep_checkpoints:
            shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    if distributed:
        _barrier()
    return result


def refit(data: str | Path, settings: TrainSettings, out: str | Path, card: dict[str, Any] | None = None,
          chosen: Any = None) -> Path:
    """Fit *settings* again on train + val and save to *out*, keeping what was chosen on val while it was held out:
    *chosen* is the model fitted on train with val held out (its ``refit_params`` and ``carry_choices``: epochs,
    blend weights, thresholds, the calibration temperature); without one, that fit is made here first, as
    ``siteclass train`` makes it. ``siteclass train --refit`` and ``siteclass tune`` (its best trial) both end
    here. The model card says which rows it saw."""
    from siteclass.models.registry import build_model

    data = Path(data)
    tr, va = load_split(data, "train"), load_split(data, "val")
    if chosen is None:
        chosen = build_model(settings)
        chosen.fit(tr.records, tr.labels, X_val=va.records or None, y_val=va.labels or None,
                   sample_weight=tr.weights, **chosen.fit_options(progress=False))
        if settings.calibrate and va.records:
            chosen.calibrate(va.records, va.labels)
    settings = resolve_settings(settings, None, chosen.refit_params())
    clf = build_model(settings)
    weights = None
    if tr.weights is not None or va.weights is not None:
        import numpy as np

        weights = np.concatenate([w if w is not None else np.ones(len(s.records), dtype=np.float32)
                                  for s, w in ((tr, tr.weights), (va, va.weights))])
    clf.fit(tr.records + va.records, tr.labels + va.labels, sample_weight=weights,
            **clf.fit_options(progress=False))
    clf.carry_choices(chosen)
    clf.card_["n_val"] = 0
    clf.card_["trained_on"] = f"train + val ({len(tr.records)} + {len(va.records)} rows)"
    clf.save(out, card={**(card or {}), "trained_on": clf.card_["trained_on"], "n_val": 0, "data": str(data),
                        "refit_params": settings_dict(settings).get(settings.model, settings.params)})
    save_settings(settings, out, section="train")
    return Path(out)


# ----------------------------------------------------------------------------------------------- torchrun
def main(argv: list[str] | None = None) -> int:
    """``python -m siteclass.training`` (and ``torchrun -m siteclass.training``): the flags of ``siteclass train``."""
    from siteclass.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m siteclass.training", description="Train a siteclass model.")
    parser.add_argument("--data", required=True, help="dataset folder with train.parquet and val.parquet")
    parser.add_argument("--model", default=None, help="linear, fasttext, transformer, zeroshot or package.module:Class")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--config", default=None, help="TOML settings file with a [train] table")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    parser.add_argument("--refit", action="store_true", default=None,
                        help="choose on val, then fit again on train + val with those choices")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None, help="checkpoint every N steps")
    parser.add_argument("--device", default=None, help="auto, cpu or cuda")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from siteclass.errors import SiteclassError

    try:
        settings = load_settings(args.config).train
        overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed, "refit": args.refit,
                     "checkpoint_every_steps": args.checkpoint_every, "device": args.device}
        result = train(args.data, model=args.model, out=args.out, settings=settings, resume=args.resume,
                       progress=not args.no_progress, **overrides)
    except SiteclassError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        if "torch.distributed" in sys.modules:  # never import torch only to find no process group
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
    if result.rank == 0:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        print(f"model saved to {result.out} ({result.train_seconds:.1f} s); validation: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
