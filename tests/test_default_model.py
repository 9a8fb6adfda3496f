"""The default model (``[train] model``, today ``hybrid``) through every stage a user takes it through.

``siteclass train`` without ``--model`` trains it; then evaluate (ECE reported), tune, batch predict over a crawl
folder, serve with the model inline, in a worker thread and in a child process (the same answers as the model
itself), predict on Spark (local mode; the same rows as the local engine), and export, which refuses ONNX for a
model whose parts have no ONNX graph with a line that names the models that have one.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from stage_data import (
    PAGES,
    WORDS,
    accuracy,
    assert_evaluates,
    assert_predicts_crawl,
    assert_same_predictions,
    assert_serves,
    local_then_spark,
    running,
    write_crawl,
    write_dataset,
)

from siteclass.cli import run
from siteclass.config import Settings, TrainSettings
from siteclass.models.base import load_model
from siteclass.models.registry import model_class
from siteclass.records import site_record

DEFAULT = TrainSettings().model
pytestmark = pytest.mark.filterwarnings("ignore:Target and region quantiles:UserWarning")  # optuna, 2 trials


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("default_ds"))


@pytest.fixture(scope="module")
def trained(ds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default_model") / "model"
    assert run(["train", "--data", str(ds), "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("default_crawl") / "crawl"
    return folder, write_crawl(folder, 40)



def test_the_default_is_the_recommended_model() -> None:
    assert DEFAULT == "hybrid"  # README "Which model": the one model that passes every verdict of the bench


def test_train_without_model_trains_the_default(trained: Path, ds: Path) -> None:
    config = json.loads((trained / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == model_class(DEFAULT).model_type
    assert config["temperature"] != 1.0  # calibrated on val
    assert {p.name for p in trained.iterdir()} >= {"config.json", "labels.json", "model.safetensors", "README.md"}
    assert not [p for p in trained.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]
    model = load_model(trained)
    assert model.classes_ == sorted(WORDS)
    assert accuracy(model, pq.read_table(ds / "test.parquet").to_pylist()) >= 0.9


def test_evaluate_reports_calibration(trained: Path, ds: Path, tmp_path: Path) -> None:
    metrics = assert_evaluates(trained, ds, tmp_path / "report")
    assert 0.0 <= metrics["ece"] <= 1.0


def test_tune_two_trials(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    assert run(["tune", "--data", str(ds), "--model", DEFAULT, "--trials", "2", "--parallel", "1",
                "--out", str(out)]) == 0
    best = json.loads((out / "best_model" / "config.json").read_text(encoding="utf-8"))
    assert best["model_type"] == model_class(DEFAULT).model_type
    assert DEFAULT in (out / "best.toml").read_text(encoding="utf-8")


def test_batch_predict_over_a_crawl_folder(trained: Path, crawl: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    assert_predicts_crawl(trained, crawl, tmp_path / "pred.parquet")


@pytest.mark.parametrize("inference", ["inline", "thread", "process"])
def test_serve_answers_what_the_model_answers(trained: Path, inference: str) -> None:
    pytest.importorskip("fastapi")
    from siteclass.serve.app import create_app

    model = load_model(trained)
    expected = model.predict_top_k([site_record(PAGES["name"], PAGES["url"], PAGES["pages"])], k=3)[0]
    settings = Settings()
    settings.serve.inference = inference  # type: ignore[assignment]
    settings.serve.top_k = 3

    async def go() -> None:
        app = create_app(trained, settings)
        async with running(app) as client:
            info = (await client.get("/v1/model")).json()
            assert info["inference"] == inference and info["labels"] == model.classes_
            process = app.state.serve.process
            assert (process is not None and process.pid not in (None, os.getpid())) == (inference == "process")
            await assert_serves(client, expected)

    asyncio.run(go())


@pytest.mark.slow  # it starts Spark (a JVM)
def test_spark_predict_gives_the_local_predictions(trained: Path, crawl: tuple[Path, dict[str, str]],
                                                   tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from siteclass.prediction import predict_crawl

    folder, truth = crawl
    settings = Settings()
    to_spark = local_then_spark(settings)
    local, spark_out = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    predict_crawl(folder, local, str(trained), settings)
    to_spark()
    result = predict_crawl(folder, spark_out, str(trained), settings)
    assert result.n_sites == 40 and result.n_predicted == len(truth)
    assert_same_predictions(local, spark_out, 40)


def test_onnx_export_is_refused_with_the_models_that_have_it(trained: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    if model_class(DEFAULT).onnx_export:
        pytest.skip(f"{DEFAULT} exports to ONNX: tests/test_export.py covers it")
    assert run(["export", "--model", str(trained), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "onnx" in err[0].lower() and "zeroshot" in err[0], err
