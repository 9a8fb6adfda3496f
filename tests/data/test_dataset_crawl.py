"""Site datasets from a crawl folder: join with labels, pages, page-level near-duplicates, missing sites."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import words, write_crawl

from siteclass.cli import run
from siteclass.data import read_split
from siteclass.data.build import build_dataset


def _site(i: int, pages: list[tuple[str, str, str]] | None = None, host: str | None = None) -> dict:
    host = host or f"site{i}.com"
    if pages is None:
        pages = [("/", f"Site {i} home", words(100 + i)), ("/about", "About us", words(200 + i)),
                 ("/services", "Services", words(300 + i))]
    return {"id": f"s{i:03d}", "name": f"Site {i}", "url": f"https://www.{host}/", "pages": pages}


@pytest.fixture
def crawl_and_labels(tmp_path: Path) -> tuple[Path, Path]:
    privacy = words(424242, 60)
    sites = [_site(i) for i in range(40)]
    sites[1]["pages"].append(("/privacy", "Privacy", privacy))  # boilerplate shared across sites
    sites[2]["pages"].append(("/privacy", "Privacy", privacy))
    sites[3]["pages"].append(("/home", sites[3]["pages"][0][1], sites[3]["pages"][0][2]))  # same page twice
    sites[4]["pages"] = [("/", "For sale", words(777, 50))]
    sites[5]["pages"] = [("/", "For sale", words(777, 50))]  # parked twin: whole site a duplicate
    sites[6]["pages"] = []  # crawl failed
    sites[6]["status"] = "dns_error"
    sites[7]["pages"] = [("/", "", ""), ("/x", "Hi", "")]  # empty pages, too short
    sites[8]["pages"] = [("/", "", "")]  # only empty pages: no text
    sites += [_site(90, host="shop.example.co.uk"), _site(91, host="example.org")]
    crawl = write_crawl(tmp_path / "crawl", sites)
    labels = [{"id": s["id"], "label": "Retail" if i % 2 else "Software"} for i, s in enumerate(sites) if i != 9]
    labels[10]["label"] = "Retail;Software"  # a ';'-separated value: multi-label
    labels += [{"id": "ghost1", "label": "Retail"}, {"id": "ghost2", "label": "Software"}]
    path = tmp_path / "labels.csv"
    pq.write_table(pa.Table.from_pylist(labels), tmp_path / "labels.parquet")
    path.write_text("id,label\n" + "".join(f"{r['id']},{r['label']}\n" for r in labels), encoding="utf-8")
    return crawl, path


def test_site_dataset(crawl_and_labels: tuple[Path, Path], tmp_path: Path) -> None:
    crawl, labels = crawl_and_labels
    res = build_dataset(crawl=crawl, labels=labels, out=tmp_path / "ds", pages_per_site=3, min_chars=30)
    st = res.stats
    assert st["source"] == "crawl" and res.multi_label
    assert st["rows_in"] == 42
    d = st["drops"]
    assert d["no_label"] == 1 and d["crawl_failed"] == 1 and d["no_text"] == 1 and d["too_short"] == 1
    assert d["near_duplicate"] == 1  # site 5 is a copy of site 4
    assert st["crawl_failed_by_status"] == {"dns_error": 1}
    assert st["labels_missing_from_crawl"] == {"count": 2, "keys": ["ghost1", "ghost2"]}
    pd_ = st["page_drops"]
    assert pd_["duplicate_within_site"] == 1 and pd_["duplicate_across_sites"] == 2
    assert pd_["empty_page"] == 2
    assert st["rows_out"] == 42 - st["rows_dropped"]
    rows = {}
    for s in ("train", "val", "test"):
        split = read_split(tmp_path / "ds", s, allow_empty=True)
        rows.update({r["id"]: {**r, "label": label} for r, label in zip(split.records, split.labels)})
    assert len(rows) == st["rows_out"]
    s0 = rows["s000"]
    assert s0["domain"] == "site0.com" and s0["ext"] == "com" and s0["url"] == "https://www.site0.com/"
    assert [p["title"] for p in s0["pages"]] == ["Site 0 home", "About us", "Services"]  # crawl order
    assert s0["text"].startswith("Site 0 home\n") and s0["label"] == ["Software"]
    assert rows["s090"]["domain"] == "example.co.uk" and rows["s090"]["ext"] == "other"
    assert rows["s091"]["ext"] == "org"
    assert rows["s011"]["label"] == ["Retail", "Software"]  # labels[10] is site 11 (site 9 has none)
    assert len(rows["s003"]["pages"]) == 3 and "Privacy" not in [p["title"] for p in rows["s002"]["pages"]]
    assert pd_["beyond_pages_per_site"] == 1  # site 1's 4th page (its privacy page) with pages_per_site=3


def test_labels_by_url_and_cli_summary(crawl_and_labels: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    crawl, _ = crawl_and_labels
    labels = tmp_path / "by_url.csv"
    labels.write_text("url,label\nhttp://site0.com,Software\nsite1.com/,Retail\nhttps://gone.example.com,Retail\n",
                      encoding="utf-8")
    code = run(["dataset", "build", "--crawl", str(crawl), "--labels", str(labels), "--out", str(tmp_path / "ds"),
                "--split", "0,0,1", "--min-chars", "10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "labels for sites missing from the crawl: 1" in out and "no label" in out
    test = read_split(tmp_path / "ds", "test")
    assert sorted(r["id"] for r in test.records) == ["s000", "s001"]
    assert list(test.records[0])[:5] == ["id", "domain", "name", "url", "ext"]
    assert run(["dataset", "stats", str(tmp_path / "ds")]) == 0
    assert "rows in" in capsys.readouterr().out


def test_labels_without_key_column(crawl_and_labels: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    crawl, _ = crawl_and_labels
    bad = tmp_path / "bad.csv"
    bad.write_text("site,label\nx,Retail\n", encoding="utf-8")
    assert run(["dataset", "build", "--crawl", str(crawl), "--labels", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.csv needs an 'id', 'item' or 'url' column" in capsys.readouterr().err
