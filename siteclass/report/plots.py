"""Figures of the evaluate and tune reports, drawn with matplotlib's object API (no pyplot state, thread-safe)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def confusion_matrix_png(cm: np.ndarray, classes: Sequence[str], out: str | Path, title: str = "",
                         xlabel: str = "predicted class", ylabel: str = "true class (rows in the data)") -> Path:
    """Row-normalised confusion matrix, readable with 40+ classes.

    Colour is the share of each true class (row) predicted as each class (column), on a square-root scale so
    small confusions still show. A bar strip on top shows, per predicted class, predicted count ÷ true count:
    a column the model leans toward stands out both as a dark column and as a bar far above 1.
    """
    from matplotlib.colors import PowerNorm

    k = len(classes)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    side = max(6.0, 0.26 * k + 3.5)
    fig = _figure(side + 1.2, side + 1.6)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 7], width_ratios=[30, 1])
    ax_bar = fig.add_subplot(grid[0, 0])
    ax = fig.add_subplot(grid[1, 0], sharex=ax_bar)
    cax = fig.add_subplot(grid[1, 1])

    import matplotlib

    # rows of classes absent from the data: grey, not "never right"
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    shown = np.ma.masked_where(np.broadcast_to(rows == 0, norm.shape), norm)
    image = ax.imshow(shown, cmap=cmap, norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0), aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, cax=cax, label="share of the true class (row)")
    fontsize = 9 if k <= 20 else 7 if k <= 45 else 5
    labels = [_short(c) for c in classes]
    ax.set_xticks(range(k), labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(k), [f"{lab} ({int(n)})" for lab, n in zip(labels, rows[:, 0])], fontsize=fontsize)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if k <= 15:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, f"{norm[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=7,
                            color="black" if norm[i, j] > 0.5 else "white")

    true_counts = cm.sum(axis=1).astype(np.float64)
    pred_counts = cm.sum(axis=0).astype(np.float64)
    ratio = np.divide(pred_counts, true_counts, out=np.full(k, np.nan), where=true_counts > 0)
    over = np.nan_to_num(ratio, nan=0.0) > 1.5
    ax_bar.bar(range(k), np.nan_to_num(ratio, nan=0.0), color=np.where(over, "#d62728", "#7f7f7f"))
    ax_bar.axhline(1.0, color="black", linewidth=0.8)
    ax_bar.set_ylabel("pred ÷ true", fontsize=8)
    ax_bar.tick_params(axis="x", labelbottom=False)
    ax_bar.set_title(title or f"Confusion matrix, row-normalised ({k} classes, n={int(cm.sum())})")
    fig.savefig(out)
    return Path(out)


def coverage_png(points: Sequence[dict[str, float]], out: str | Path) -> Path:
    """Left: accuracy against coverage as the minimum confidence rises. Right: both against the threshold."""
    fig = _figure(11, 4.5)
    ax, ax2 = fig.subplots(1, 2)
    cov = np.array([p["coverage"] for p in points], dtype=np.float64)
    acc = np.array([p["accuracy"] for p in points], dtype=np.float64)
    thr = np.array([p["threshold"] for p in points], dtype=np.float64)
    ok = ~np.isnan(acc)
    ax.plot(cov[ok], acc[ok], marker="o", markersize=3)
    step = max(1, int(ok.sum()) // 5)
    for i in np.flatnonzero(ok)[::step]:
        ax.annotate(f"≥{thr[i]:.2f}", (cov[i], acc[i]), fontsize=7, textcoords="offset points", xytext=(4, -10))
    if ok.any():
        lo_x, lo_y = float(cov[ok].min()), float(acc[ok].min())
        ax.set_xlim(max(0.0, lo_x - 0.05), 1.01)
        ax.set_ylim(max(0.0, lo_y - 0.05), 1.01)
    ax.set_xlabel("coverage (share of rows answered)")
    ax.set_ylabel("accuracy of the answered rows")
    ax.grid(alpha=0.3)
    ax.set_title("Accuracy vs coverage")
    ax2.plot(thr, cov, label="coverage", marker="o", markersize=3)
    ax2.plot(thr[ok], acc[ok], label="accuracy of answered rows", marker="o", markersize=3)
    ax2.set_xlabel("--min-confidence threshold")
    ax2.set_ylim(0, 1.02)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    ax2.set_title("Coverage and accuracy by threshold")
    fig.savefig(out)
    return Path(out)


def reliability_png(bins: Mapping[str, Sequence[dict[str, float]]], out: str | Path) -> Path:
    """Reliability diagram: accuracy against mean confidence per bin, one line per named variant."""
    fig = _figure(5.5, 4.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfect calibration")
    for name, rows in bins.items():
        xs = [b["confidence"] for b in rows if b["count"]]
        ys = [b["accuracy"] for b in rows if b["count"]]
        ax.plot(xs, ys, marker="o", markersize=4, label=name)
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Reliability")
    fig.savefig(out)
    return Path(out)


def objective_png(values: Sequence[float | None], states: Sequence[str], metric: str, maximize: bool,
                  out: str | Path) -> Path:
    """Objective of each trial (pruned trials grey) and the best-so-far line."""
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    best: list[float] = []
    current: float | None = None
    for v, s in zip(values, states):
        if s == "COMPLETE" and v is not None:
            current = v if current is None else (max(current, v) if maximize else min(current, v))
        best.append(np.nan if current is None else current)
    xs = np.arange(len(values))
    for state, colour in (("COMPLETE", "#1f77b4"), ("PRUNED", "#bbbbbb"), ("FAIL", "#d62728")):
        pts = [(x, v) for x, v, s in zip(xs, values, states) if s == state and v is not None]
        if pts:
            ax.scatter(*zip(*pts), color=colour, label=state.lower(), zorder=3)
    ax.plot(xs, best, color="#ff7f0e", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Objective over trials ({metric})")
    fig.savefig(out)
    return Path(out)


def importance_png(importance: dict[str, float], out: str | Path) -> Path:
    """Horizontal bars of parameter importance (largest on top)."""
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig = _figure(6, max(2.5, 0.5 * len(items) + 1.5))
    ax = fig.add_subplot()
    ax.barh([k for k, _ in items], [v for _, v in items], color="#2ca02c")
    ax.set_xlabel("importance (fANOVA share of objective variance)")
    ax.set_title("Parameter importance")
    fig.savefig(out)
    return Path(out)


def training_curves_png(history: Sequence[Mapping[str, float]], out: str | Path) -> Path:
    """Training loss (left axis) and every validation metric (right axis) by epoch, from ``metrics.jsonl``."""
    fig = _figure(7.0, 3.6)
    ax = fig.add_subplot()
    epochs = [float(h["epoch"]) for h in history]
    ax.plot(epochs, [float(h.get("loss", float("nan"))) for h in history], "o-", color="#444", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    metrics = sorted({k for h in history for k in h if k.startswith("val_") and k != "val_loss"})
    if metrics:
        right = ax.twinx()
        for name in metrics:
            right.plot(epochs, [float(h.get(name, float("nan"))) for h in history], "s--", label=name[4:])
        right.set_ylabel("validation")
        right.legend(loc="lower right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(out)
    return Path(out)
