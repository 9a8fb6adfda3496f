"""`labels queue`: order of each strategy against a plain-Python reference, skips (--exclude, status), titles."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from labels_helpers import prediction_rows, read_csv, write_crawl, write_csv, write_predictions

from siteclass.cli import run
from siteclass.labels.queue import label_queue


def _margin(r: dict[str, Any]) -> float:
    p = [*sorted(r["probabilities"], reverse=True), 0.0]
    return p[0] - p[1]


def _entropy(r: dict[str, Any]) -> float:
    rest = max(0.0, 1.0 - sum(r["probabilities"]))
    return -sum(p * math.log(p) for p in [*r["probabilities"], rest] if p > 0)


def _diverse(rows: list[dict[str, Any]]) -> list[str]:
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (_margin(r), r["site_id"])):
        by_label[r["label"]].append(r)
    out = []
    for turn in range(max(len(v) for v in by_label.values())):
        this = [v[turn] for v in by_label.values() if len(v) > turn]
        out += [r["site_id"] for r in sorted(this, key=lambda r: (_margin(r), r["site_id"]))]
    return out


@pytest.fixture
def predictions(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    rows = prediction_rows(120, labels=4, seed=7, not_ok=10)
    rows[3]["probabilities"] = [0.5, 0.5, 0.0]  # an exact tie: margin 0, first in the margin queue
    rows[3]["probability"] = 0.5
    return write_predictions(tmp_path / "pred.parquet", rows), rows


@pytest.mark.parametrize("strategy", ["margin", "entropy", "diverse"])
def test_queue_order(predictions: tuple[Path, list[dict[str, Any]]], tmp_path: Path, strategy: str) -> None:
    path, rows = predictions
    ok = [r for r in rows if r["status"] == "ok"]
    out = tmp_path / f"{strategy}.csv"
    res = label_queue(path, out, budget=25, strategy=strategy)
    got = [r["site_id"] for r in read_csv(out)]
    if strategy == "margin":
        expected = [r["site_id"] for r in sorted(ok, key=lambda r: (_margin(r), r["site_id"]))]
    elif strategy == "entropy":
        expected = [r["site_id"] for r in sorted(ok, key=lambda r: (-_entropy(r), r["site_id"]))]
    else:
        expected = _diverse(ok)
    assert got == expected[:25]
    assert res.rows == 25 and res.counts["skipped_not_ok"] == 10 and res.counts["eligible"] == 110
    if strategy == "margin":
        assert got[0] == "s0003"
    if strategy == "diverse":  # the first round has one site per predicted label
        first = read_csv(out)[:4]
        assert len({r["label"] for r in first}) == 4
    assert out.with_name(f"{strategy}.settings.toml").is_file()


def test_queue_rows_and_format(predictions: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, rows = predictions
    out = tmp_path / "q.csv"
    label_queue(path, out, budget=5)
    by_id = {r["site_id"]: r for r in rows}
    for q in read_csv(out):
        src = by_id[q["site_id"]]
        assert list(q)[:6] == ["site_id", "url", "label", "probability", "labels", "probabilities"]
        assert q["labels"] == "|".join(src["labels"][:3])
        assert q["probabilities"] == "|".join(f"{p:.2f}" for p in src["probabilities"][:3])
        assert q["url"] == src["url"] and q["label"] == src["label"]
        assert float(q["margin"]) == pytest.approx(_margin(src), abs=1e-4)


def test_exclude_and_not_ok_skipped(predictions: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, rows = predictions
    first = label_queue(path, tmp_path / "q1.csv", budget=6)
    queued = [r["site_id"] for r in read_csv(first.out)]
    # judgements made on the first queue: by site id for three, by URL (other spelling) for the rest
    judged = [{"item": sid, "labeller": "ann", "label": "C0"} for sid in queued[:3]]
    judged += [{"item": rows[int(sid[1:])]["url"].replace("https://www.", "http://").rstrip("/"),
                "labeller": "ann", "label": "C1"} for sid in queued[3:]]
    labels_file = write_csv(tmp_path / "judged.csv", judged)
    second = label_queue(path, tmp_path / "q2.csv", budget=6, exclude=[labels_file])
    again = [r["site_id"] for r in read_csv(second.out)]
    assert not set(again) & set(queued)
    assert second.counts["skipped_excluded"] == 6
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (_margin(r), r["site_id"]))
    assert again == [r["site_id"] for r in ok if r["site_id"] not in queued][:6]
    failed = {r["site_id"] for r in rows if r["status"] != "ok"}
    everything = label_queue(path, tmp_path / "all.csv", budget=1000)
    assert everything.rows == 110 and not failed & {r["site_id"] for r in read_csv(everything.out)}


def test_crawl_titles(tmp_path: Path) -> None:
    rows = prediction_rows(6, seed=1)
    path = write_predictions(tmp_path / "pred.parquet", rows)
    sites = [{"id": r["site_id"], "name": f"Company {i}", "url": r["url"],
              "pages": [("/", f"Home {i}", "x"), ("/about", f"About {i}", "y"), ("/team", "", "z"),
                        ("/services", f"Services {i}", "w")]} for i, r in enumerate(rows)]
    crawl = write_crawl(tmp_path / "crawl", sites)
    assert run(["labels", "queue", "--predictions", str(path), "--budget", "3", "--crawl", str(crawl),
                "--out", str(tmp_path / "q.csv")]) == 0
    got = read_csv(tmp_path / "q.csv")
    assert len(got) == 3
    for q in got:
        i = int(q["site_id"][1:])
        assert q["name"] == f"Company {i}"
        assert q["titles"] == f"Home {i} | About {i} | Services {i}"  # crawl order, empty titles left out


def test_cli_queue_summary(predictions: tuple[Path, list[dict[str, Any]]], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = predictions
    assert run(["labels", "queue", "-p", str(path), "-n", "500", "--strategy", "entropy", "--top-k", "2",
                "--out", str(tmp_path / "q.csv")]) == 0
    out, err = capsys.readouterr()
    assert "110 sites queued (entropy) of 110 eligible; 120 in" in out and "10 not ok" in out
    assert "fewer sites than --budget 500" in err
    assert all(len(r["labels"].split("|")) == 2 for r in read_csv(tmp_path / "q.csv"))
