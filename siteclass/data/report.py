"""What a build reports: labels.json, stats.json, class_distribution.png and the terminal summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from siteclass.config import DatasetSettings
from siteclass.data import rows as R
from siteclass.data.split import SPLIT_NAMES

if TYPE_CHECKING:
    from siteclass.data.balance import Plan
    from siteclass.data.build import Builder
    from siteclass.data.sources import CrawlSource, TableSource


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def write_reports(out: Path, b: Builder, plan: Plan, counts: dict[str, Counter[str]],
                  source: TableSource | CrawlSource, s: DatasetSettings) -> dict[str, Any]:
    splits = np.asarray(b.splits, dtype=np.int64)
    rows_per_split = {name: int(plan.copies[splits == i].sum()) if len(splits) else 0
                      for i, name in enumerate(SPLIT_NAMES)}
    drops = {reason: int(b.drops.get(reason, 0)) for reason in R.DROP_REASONS}
    rows_out = sum(rows_per_split.values())
    stats: dict[str, Any] = {
        "source": "crawl" if source.site_mode else "table",
        "rows_in": b.rows_in,
        "rows_out": rows_out,
        "rows_dropped": sum(drops.values()),
        "rows_added_by_upsampling": plan.upsampled_added,
        "drops": drops,
        "drop_reasons": {k: R.DROP_HELP[k] for k in R.DROP_REASONS},
        "dropped_classes": dict(sorted(plan.dropped_classes.items())),
        "rows_per_split": rows_per_split,
        "class_counts": {name: dict(sorted(counts[name].items())) for name in SPLIT_NAMES},
        "labels": plan.labels,
        "multi_label": source.multi_label,
        "split": list(s.split),
        "balance": s.balance,
        "min_chars": s.min_chars,
        "min_per_class": s.min_per_class,
        "dedup_threshold": s.dedup_threshold if s.dedup else None,
    }
    if source.site_mode:
        stats["pages_in"] = b.pages_in
        stats["page_drops"] = {k: int(b.page_drops.get(k, 0)) for k in
                               (R.PAGE_EMPTY, R.PAGE_DUP_SITE, R.PAGE_DUP_ACROSS, R.PAGE_BEYOND)}
        stats["crawl_failed_by_status"] = dict(sorted(b.crawl_status.items()))
    stats.update(source.extra)
    _dump(out / "labels.json", plan.labels)
    _dump(out / "stats.json", stats)
    plot_distribution(stats["class_counts"], out / "class_distribution.png")
    return stats


def plot_distribution(class_counts: dict[str, dict[str, int]], path: Path) -> None:
    """Horizontal bars: rows per class, one bar per split (deterministic PNG: no date/software metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({lab for c in class_counts.values() for lab in c})
    height = max(2.5, 0.28 * len(labels) * 1.0 + 1.2)
    fig, ax = plt.subplots(figsize=(8, min(height, 60)), dpi=80)
    bar = 0.8 / 3
    for j, name in enumerate(SPLIT_NAMES):
        ys = [i + (j - 1) * bar for i in range(len(labels))]
        ax.barh(ys, [class_counts[name].get(lab, 0) for lab in labels], height=bar, label=name)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([lab[:40] for lab in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title("Class distribution per split")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def print_summary(stats: dict[str, Any], out: Path) -> None:
    """Rich table of rows in/out and every drop with its reason."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dataset {out}", show_header=True)
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_row("rows in", str(stats["rows_in"]))
    for reason, n in stats["drops"].items():
        if n:
            table.add_row(f"dropped: {stats['drop_reasons'][reason]}", str(n))
    if stats.get("rows_added_by_upsampling"):
        table.add_row("added by upsampling", str(stats["rows_added_by_upsampling"]))
    for name, n in stats["rows_per_split"].items():
        table.add_row(f"rows out: {name}", str(n))
    for reason, n in stats.get("page_drops", {}).items():
        if n:
            table.add_row(f"pages dropped: {reason}", str(n))
    console = Console(stderr=False)
    console.print(table)
    if stats["dropped_classes"]:
        console.print("classes dropped (below --min-per-class): "
                      + ", ".join(f"{k} ({v})" for k, v in stats["dropped_classes"].items()))
    missing = stats.get("labels_missing_from_crawl")
    if missing and missing["count"]:
        console.print(f"labels for sites missing from the crawl: {missing['count']} "
                      f"(e.g. {', '.join(missing['keys'][:5])}; all listed in stats.json)")
    console.print(f"{len(stats['labels'])} labels{' (multi-label)' if stats['multi_label'] else ''} → {out}")
