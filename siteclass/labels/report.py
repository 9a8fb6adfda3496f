"""report.html of `siteclass labels agree`: one self-contained page (the evaluate report's style).

Agreement summary, the labellers and groups tables, a label × label confusion of judgements against the
consensus (items with at least two judgements) as an embedded picture, and the tied items.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

OTHER = "(other)"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def confusion(con: Any, limit: int) -> tuple[np.ndarray, list[str]]:
    """Judgements (columns) against the consensus label (rows), on items with ≥ 2 judgements; the *limit* most
    judged labels, the rest lumped as ``(other)``."""
    pairs = con.execute("""SELECT c.label AS agreed, j.label AS judged, count(*) AS n
                           FROM j JOIN consensus c ON c.item = j.item WHERE c.status <> 'single'
                           GROUP BY ALL""").fetchall()
    totals: dict[str, int] = {}
    for a, b, n in pairs:
        totals[b] = totals.get(b, 0) + n
        totals.setdefault(a, 0)
    ordered = sorted(totals, key=lambda lab: (-totals[lab], lab))
    if len(ordered) > limit:
        ordered = [*ordered[: limit - 1], OTHER]
    index = {lab: i for i, lab in enumerate(ordered)}
    other = index.get(OTHER, -1)
    cm = np.zeros((len(ordered), len(ordered)), dtype=np.int64)
    for a, b, n in pairs:
        cm[index.get(a, other), index.get(b, other)] += n
    return cm, ordered


def tie_rows(con: Any, limit: int) -> list[dict[str, Any]]:
    """The first *limit* tied items (by item) with their votes, chosen label and deciding labeller."""
    rows = con.execute(f"""
        SELECT c.item, c.label, c.decided_by, c.gold, c.judgements,
               string_agg(v.label || ' ×' || v.v, ', ' ORDER BY v.v DESC, v.label) AS votes
        FROM consensus c JOIN votes v ON v.item = c.item
        WHERE c.status = 'tie' GROUP BY ALL ORDER BY c.item LIMIT {int(limit)}""").fetchall()
    return [{"item": r[0], "label": r[1], "decided_by": r[2], "gold": r[3] or "", "judgements": r[4],
             "votes": r[5]} for r in rows]


def write_report(con: Any, out: Path, agreement: dict[str, Any], tie_items: int, confusion_labels: int,
                 has_gold: bool, max_seconds: float | None) -> dict[str, Path]:
    from siteclass.report import embed_png, render_html
    from siteclass.report.plots import confusion_matrix_png

    files: dict[str, Path] = {}
    cm, classes = confusion(con, confusion_labels)
    images: dict[str, str] = {}
    if cm.sum() > 0:
        files["confusion_png"] = confusion_matrix_png(
            cm, classes, out / "confusion.png",
            title=f"Judgements against the consensus ({len(classes)} labels, {int(cm.sum())} judgements on items "
                  f"judged at least twice)",
            xlabel="label judged", ylabel="consensus label (judgements on its items)")
        images["confusion"] = embed_png(files["confusion_png"])
    counts = agreement["counts"]
    per_label = sorted(agreement["per_label"].items(), key=lambda kv: (-kv[1]["judgements"], kv[0]))
    files["report"] = render_html(
        "labels.html.j2", out / "report.html", a=agreement, counts=counts, per_label=per_label,
        labellers=_read_csv(out / "labellers.csv"), groups=_read_csv(out / "groups.csv"), images=images,
        ties=tie_rows(con, tie_items), tie_limit=tie_items, has_gold=has_gold, max_seconds=max_seconds)
    return files
