"""The loop's hand-over: a consensus.csv as the labels of `siteclass dataset build`, and --min-share there."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from labels_helpers import prediction_rows, read_csv, write_crawl, write_csv, write_predictions

from siteclass.cli import run
from siteclass.data import read_split

WORDS = [f"{a}{b}" for a in ("lum", "kor", "vex", "tal", "mir", "qua", "zen", "pol") for b in ("a", "o", "is", "um")]


def _text(seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(60))


@pytest.fixture
def loop(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    """A crawl of 30 sites, its predictions, and the queue of all 30 (the sites labellers then judge)."""
    preds = prediction_rows(30, seed=3)
    sites = [{"id": r["site_id"], "name": f"Co {i}", "url": r["url"],
              "pages": [("/", f"Home {i}", _text(i)), ("/about", f"About {i}", _text(100 + i))]}
             for i, r in enumerate(preds)]
    crawl = write_crawl(tmp_path / "crawl", sites)
    pred_path = write_predictions(tmp_path / "pred.parquet", preds)
    assert run(["labels", "queue", "-p", str(pred_path), "-n", "30", "--crawl", str(crawl),
                "--out", str(tmp_path / "queue.csv")]) == 0
    return crawl, tmp_path / "queue.csv", preds


def test_consensus_is_a_labels_file_and_min_share_filters(loop: tuple[Path, Path, list[dict]],
                                                          tmp_path: Path) -> None:
    crawl, queue, _ = loop
    queued = read_csv(queue)
    judgements = []
    for i, q in enumerate(queued):
        # items by site id for even rows, by URL spelled differently for odd rows
        item = q["site_id"] if i % 2 == 0 else q["url"].replace("https://www.", "http://")
        # two classes among the agreed items: a one-class dataset is refused by `dataset build` (nothing to learn)
        agreed = "Bakery" if i % 2 == 0 else "Florist"
        labels = [agreed] * 3 if i < 10 else ["Bakery", "Bakery", "Florist"] if i < 20 else ["Bakery", "Florist"]
        judgements += [{"item": item, "labeller": f"ann{k}", "label": lab} for k, lab in enumerate(labels)]
    path = write_csv(tmp_path / "judgements.csv", judgements)
    assert run(["labels", "agree", str(path), "--out", str(tmp_path / "agree")]) == 0
    consensus = tmp_path / "agree" / "consensus.csv"
    statuses = [r["status"] for r in read_csv(consensus)]
    assert (statuses.count("agreed"), statuses.count("majority"), statuses.count("tie")) == (10, 10, 10)

    assert run(["dataset", "build", "--crawl", str(crawl), "--labels", str(consensus), "--split", "1,0,0",
                "--no-dedup", "--out", str(tmp_path / "ds-all"), "-q"]) == 0
    stats = json.loads((tmp_path / "ds-all" / "stats.json").read_text())
    assert stats["rows_out"] == 30 and stats["labels_missing_from_crawl"]["count"] == 0
    assert stats["label_key"] == "item"

    # 0.67 keeps 3/3 and 2/3 (0.6667, compared at two decimals) and drops the 1/2 ties
    assert run(["dataset", "build", "--crawl", str(crawl), "--labels", str(consensus), "--split", "1,0,0",
                "--no-dedup", "--min-share", "0.67", "--out", str(tmp_path / "ds"), "-q"]) == 0
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["rows_out"] == 20
    assert stats["labels_below_min_share"] == {"min_share": 0.67, "count": 10}
    kept = {r["id"] for r in read_split(tmp_path / "ds", "train").records}
    assert kept == {q["site_id"] for q in queued[:20]}
    assert run(["dataset", "build", "--crawl", str(crawl), "--labels", str(consensus), "--split", "1,0,0",
                "--no-dedup", "--min-share", "1", "--out", str(tmp_path / "ds1"), "-q"]) == 0
    assert json.loads((tmp_path / "ds1" / "stats.json").read_text())["rows_out"] == 10


def test_min_share_needs_a_share_column(loop: tuple[Path, Path, list[dict]], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    crawl, _, preds = loop
    labels = write_csv(tmp_path / "labels.csv", [{"id": r["site_id"], "label": "Bakery"} for r in preds])
    code = run(["dataset", "build", "--crawl", str(crawl), "--labels", str(labels), "--min-share", "0.67",
                "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "--min-share 0.67 needs a 'share' column in" in err and str(labels) in err
    table = write_csv(tmp_path / "table.csv", [{"text": "x" * 40, "label": "A", "share": 1}])
    code = run(["dataset", "build", "--table", str(table), "--text", "text", "--label", "label",
                "--min-share", "0.5", "--out", str(tmp_path / "ds2")])
    assert code == 2 and "applies to a --labels file" in capsys.readouterr().err
