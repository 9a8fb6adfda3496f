"""Watching a training run: per-epoch loss and validation metrics, as the model trains.

``siteclass train`` hands an :class:`EpochLog` to every model with the ``epoch_callbacks`` capability. After each
epoch it appends one JSON line to ``OUT/metrics.jsonl`` (``{"epoch": 3, "loss": 0.41, "val_macro_f1": 0.62,
"seconds": 12.8}``) and, when the optional ``tensorboard`` package is installed (``pip install
'siteclass[tensorboard]'``), the same scalars to TensorBoard event files under ``OUT/tensorboard/``::

    tensorboard --logdir OUT/tensorboard        # then open http://127.0.0.1:6006

``siteclass evaluate --model OUT`` draws the curves of ``metrics.jsonl`` in its report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

METRICS_LOG = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


class EpochLog:
    """A per-epoch callback (``fit(epoch_callback=EpochLog(out))``) writing ``metrics.jsonl`` and TensorBoard."""

    def __init__(self, out: str | Path, resume: bool = False, tensorboard: bool = True) -> None:
        self.out = Path(out)
        self.path = self.out / METRICS_LOG
        self.out.mkdir(parents=True, exist_ok=True)
        if not resume:  # a fresh run starts a fresh log; a resumed one appends after the epochs it kept
            self.path.write_text("", encoding="utf-8")
        self._started = time.perf_counter()
        self._writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.out / TENSORBOARD_DIR))
            except ImportError:  # the tensorboard package is optional: metrics.jsonl alone
                self._writer = None

    def __call__(self, epoch: int, metrics: dict[str, float]) -> None:
        row: dict[str, Any] = {"epoch": int(epoch)}
        for key, value in metrics.items():
            name = key if key == "loss" or key.startswith("val_") else f"val_{key}"
            row[name] = float(value)
        row["seconds"] = round(time.perf_counter() - self._started, 3)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self._writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "seconds"):
                    self._writer.add_scalar(key.replace("val_", "val/", 1) if key.startswith("val_") else f"train/{key}",
                                            value, epoch)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics_log(model_dir: str | Path) -> list[dict[str, float]]:
    """The rows of ``MODEL/metrics.jsonl`` (empty when the model was trained without one); bad lines skipped."""
    path = Path(model_dir) / METRICS_LOG
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "epoch" in row:
            rows.append(row)
    return rows
