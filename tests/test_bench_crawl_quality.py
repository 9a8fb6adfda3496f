"""bench/crawl_quality.py: its options, and a small real run (crawl → dataset → train → evaluate, both extractors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import crawl_quality


@pytest.mark.parametrize(("args", "says"), [(["--extractors", "fast"], "two of fast, exact"),
                                            (["--extractors", "fast,quick"], "two of fast, exact"),
                                            (["--limit", "10"], "100 sites or more")])
def test_bad_options_are_usage_errors(args: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        crawl_quality.main(args)
    assert exit_info.value.code == 2
    assert says in capsys.readouterr().err


def test_missing_table_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(crawl_quality, "DATA", tmp_path / "absent.parquet")
    assert crawl_quality.main(["--limit", "100"]) == 2
    assert "absent.parquet is missing" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.realdata
def test_small_run_crawls_both_ways_and_compares(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not crawl_quality.DATA.is_file():
        pytest.skip(f"{crawl_quality.DATA} is absent (the shared Crunchbase table)")
    monkeypatch.setattr(crawl_quality, "OUT", tmp_path)
    assert crawl_quality.main(["--limit", "120"]) == 0
    report = json.loads((tmp_path / "crawl_quality.json").read_text())
    fast, exact = report["results"]
    assert (fast["extractor"], exact["extractor"]) == ("fast", "exact")
    for r in (fast, exact):  # every rendered site crawled and kept, the test split scored
        assert r["dataset"]["rows_in"] == 120 and r["dataset"]["drops"]["crawl_failed"] == 0
        assert r["n_test"] > 0 and 0.0 < r["macro_f1"] <= 1.0 and 0.0 < r["accuracy"] <= 1.0
    agreement = report["text_agreement"]
    assert agreement["sites"] == 120 and agreement["median"] == 1.0
    assert report["met"] == (abs(fast["macro_f1"] - exact["macro_f1"]) <= crawl_quality.TOLERANCE
                             and abs(fast["accuracy"] - exact["accuracy"]) <= crawl_quality.TOLERANCE)
