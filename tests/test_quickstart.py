"""The main job, end to end, on the embedded demo: what `make demo` runs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from siteclass.demo import labels_csv, sites_csv


@pytest.mark.slow
def test_quickstart_runs_every_stage(tmp_path: Path) -> None:
    from siteclass.quickstart import run_quickstart

    out = tmp_path / "qs"
    summary = run_quickstart(out)

    n_sites = sum(1 for _ in sites_csv().open(encoding="utf-8")) - 1
    sites = pq.read_table(out / "crawl" / "sites.parquet").to_pylist()
    assert len(sites) == n_sites
    assert sum(s["status"] == "ok" for s in sites) >= n_sites - 2
    assert summary["crawl"]["pages"] >= 4 * n_sites

    labels = {line.split(",")[-1].strip() for line in labels_csv().open(encoding="utf-8")} - {"label"}
    assert set(json.loads((out / "dataset" / "labels.json").read_text())) == labels
    for name in ("config.json", "labels.json", "model.safetensors", "README.md", "settings.toml"):
        assert (out / "model" / name).is_file(), name
    assert not list((out / "model").rglob("*.pkl"))

    metrics = json.loads((out / "report" / "metrics.json").read_text())
    assert metrics["n"] > 0
    # 16 industries: chance is ~0.06; the demo model must be far above it.
    assert metrics["accuracy"] > 0.5
    assert (out / "report" / "report.html").stat().st_size > 10_000

    answer = summary["serve"]
    assert answer["status"] == "ok"
    assert answer["industries"] and answer["industries"][0]["label"] in labels
    probs = [i["probability"] for i in answer["industries"]]
    assert probs == sorted(probs, reverse=True)
    assert answer["pages"] and answer["pages"][0]["url"].startswith("http://")


@pytest.mark.slow
def test_quickstart_trains_the_model_it_is_given(tmp_path: Path) -> None:
    """`siteclass quickstart --model ensemble`: the run an install without the torch and onnx extras can make."""
    from siteclass.cli import run
    from siteclass.config import TrainSettings

    assert TrainSettings().model == "hybrid"  # what a plain quickstart trains
    assert run(["quickstart", "--model", "ensemble", "--out", str(tmp_path / "qs")]) == 0
    config = json.loads((tmp_path / "qs" / "model" / "config.json").read_text())
    assert config["model_type"] == "ensemble"
    assert json.loads((tmp_path / "qs" / "report" / "metrics.json").read_text())["accuracy"] > 0.5


def test_quickstart_refuses_an_unknown_model_before_any_work(tmp_path: Path) -> None:
    from siteclass.cli import run

    assert run(["quickstart", "--model", "nosuch", "--out", str(tmp_path / "qs")]) == 2
    assert not (tmp_path / "qs").exists()
