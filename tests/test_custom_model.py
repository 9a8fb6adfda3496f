"""A model from outside siteclass through every stage, with no siteclass file touched.

``tests/custom_model/tiny.py`` defines ``TinyClassifier`` (nearest centroid over hashed word counts). It is named
by import path (``--model custom_model.tiny:TinyClassifier``) or by an entry point name, takes its
hyperparameters from ``[train] params``, and tunes over its class's ``search_space``. Then: train and evaluate
with the CLI, tune with trials in worker processes, batch predict over a crawl folder, serve with the model in a
worker thread and in a child process, and predict on Spark (local mode).

What a user must do, and these tests do: the module must be importable wherever the model is used. The saved
``config.json`` names the class (``model_class = "custom_model.tiny:TinyClassifier"``), and every separate process
imports it again — tune's workers, the server's model process, Spark's Python workers. Here ``tests/`` goes on
``PYTHONPATH`` (Spark: also ``spark.executorEnv.PYTHONPATH``, through the running context's environment); an
installed package needs nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from siteclass.cli import run
from siteclass.config import Settings, TuneSettings
from siteclass.errors import InputError
from siteclass.models import registry
from siteclass.models.base import load_model
from siteclass.records import site_record

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from custom_model.tiny import TinyClassifier  # noqa: E402  (tests/ on the path first)
from stage_data import (  # noqa: E402
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

TINY = "custom_model.tiny:TinyClassifier"
pytestmark = pytest.mark.filterwarnings("ignore:Target and region quantiles:UserWarning")  # optuna, 2 trials
CONFIG = """
[train]
params = { dim = 128, scale = 8.0 }

[tune]
prune_fractions = [0.5, 1.0]

[tune.search_space."custom_model.tiny:TinyClassifier"]
dim = { type = "fixed", value = 64 }
"""



# ----------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def pythonpath() -> Iterator[str]:
    """``tests/`` on PYTHONPATH for every process started from here: the one thing a user of a model from another
    package must arrange (or install the package) — the processes that load the model import its module."""
    value = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", value)
        yield value


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("custom_ds"))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("custom_cfg") / "siteclass.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(ds: Path, config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("custom_model") / "model"
    assert run(["train", "--data", str(ds), "--model", TINY, "--out", str(out), "--config", str(config),
                "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("custom_crawl") / "crawl"
    return folder, write_crawl(folder, 40)



# ----------------------------------------------------------------------------------------------- train, evaluate
def test_train_builds_it_from_train_params(trained: Path, ds: Path) -> None:
    config = json.loads((trained / "config.json").read_text(encoding="utf-8"))
    assert config["model_class"] == TINY and config["model_type"] == TinyClassifier.model_type
    assert config["params"] == {"dim": 128, "scale": 8.0, "max_pages": 3}  # [train] params over the defaults
    assert config["temperature"] != 1.0  # calibrated on val, as every model is
    assert set(config["card"]["metrics"]) >= {"accuracy", "macro_f1"}
    settings = (trained / "settings.toml").read_text(encoding="utf-8")
    assert TINY in settings and "dim = 128" in settings
    model = load_model(trained)
    assert type(model) is TinyClassifier and model.classes_ == sorted(WORDS)
    assert accuracy(model, pq.read_table(ds / "test.parquet").to_pylist()) >= 0.9


def test_evaluate_with_the_cli(trained: Path, ds: Path, tmp_path: Path) -> None:
    assert_evaluates(trained, ds, tmp_path / "report")


def test_a_process_loads_it_only_with_its_module_on_the_path(trained: Path, ds: Path, tmp_path: Path,
                                                              pythonpath: str) -> None:
    """The real CLI in a separate process: without the module importable, a clear error naming the class path;
    with it on PYTHONPATH, the model loads and evaluates."""
    command = [sys.executable, "-m", "siteclass", "evaluate", "--model", str(trained), "--data", str(ds)]
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    without = subprocess.run(command, capture_output=True, text=True, env=bare, cwd=tmp_path, timeout=120)
    assert without.returncode == 2, without.stderr
    assert f"cannot import {TINY}" in without.stderr and "No module named 'custom_model'" in without.stderr
    with_path = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), cwd=tmp_path,
                               timeout=120)
    assert with_path.returncode == 0, with_path.stderr
    assert "accuracy=" in with_path.stdout


# ----------------------------------------------------------------------------------------------- tune
@pytest.fixture(scope="module")
def tuned(ds: Path, config: Path, tmp_path_factory: pytest.TempPathFactory, pythonpath: str) -> Path:
    out = tmp_path_factory.mktemp("custom_tune") / "tune"
    assert run(["tune", "--data", str(ds), "--model", TINY, "--trials", "2", "--parallel", "2", "--out", str(out),
                "--config", str(config)]) == 0
    return out


def _best_trial(out: Path) -> Any:
    import optuna

    return optuna.load_study(study_name="siteclass", storage=f"sqlite:///{out / 'study.db'}").best_trial


def test_tune_two_trials_in_worker_processes(tuned: Path) -> None:
    import optuna

    study = optuna.load_study(study_name="siteclass", storage=f"sqlite:///{tuned / 'study.db'}")
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 2 and all(t.state.name in ("COMPLETE", "PRUNED") for t in finished)
    assert {t.user_attrs["pid"] for t in finished}.isdisjoint({os.getpid()})  # fitted in the worker processes
    for t in finished:
        assert set(t.params) == {"scale"}  # dim is fixed by [tune.search_space."custom_model.tiny:…"]
        assert 2.0 <= t.params["scale"] <= 30.0  # the class's search_space
    model = json.loads((tuned / "best_model" / "config.json").read_text(encoding="utf-8"))
    assert model["model_class"] == TINY and model["params"]["dim"] == 64
    assert model["params"]["scale"] == pytest.approx(_best_trial(tuned).params["scale"])


def test_best_toml_trains_the_best_params(tuned: Path, ds: Path, tmp_path: Path) -> None:
    best = tuned / "best.toml"
    assert TINY in best.read_text(encoding="utf-8")
    assert run(["train", "--data", str(ds), "--out", str(tmp_path / "m"), "--config", str(best), "--no-progress"]) == 0
    params = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))["params"]
    assert params["dim"] == 64 and params["scale"] == pytest.approx(_best_trial(tuned).params["scale"])


def test_search_space_from_the_class_and_from_settings() -> None:
    from siteclass.tuning import search_space

    assert search_space(TINY, TuneSettings()) == TinyClassifier.search_space
    override = TuneSettings.model_validate({"search_space": {TINY: {"scale": {"type": "fixed", "value": 3.0}}}})
    assert search_space(TINY, override) == {**TinyClassifier.search_space, "scale": {"type": "fixed", "value": 3.0}}
    bad = TuneSettings.model_validate({"search_space": {TINY: {"alpha": {"type": "fixed", "value": 1}}}})
    with pytest.raises(InputError, match="has no parameter 'alpha'"):
        search_space(TINY, bad)


# ----------------------------------------------------------------------------------------------- batch predict
def test_batch_predict_over_a_crawl_folder(trained: Path, crawl: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    assert_predicts_crawl(trained, crawl, tmp_path / "pred.parquet")


# ----------------------------------------------------------------------------------------------- serve
@pytest.mark.parametrize("inference", ["thread", "process"])
def test_serve(trained: Path, inference: str, pythonpath: str) -> None:
    pytest.importorskip("fastapi")
    from siteclass.serve.app import create_app

    model = load_model(trained)
    record = site_record(PAGES["name"], PAGES["url"], PAGES["pages"])
    expected = model.predict_top_k([record], k=3)[0]
    settings = Settings()
    settings.serve.inference = inference  # type: ignore[assignment]
    settings.serve.top_k = 3

    async def go() -> None:
        app = create_app(trained, settings)
        async with running(app) as client:
            info = (await client.get("/v1/model")).json()
            assert info["inference"] == inference and info["model_type"] == TinyClassifier.model_type
            assert info["labels"] == model.classes_
            process = app.state.serve.process
            if inference == "process":  # the model runs in a child: a fresh interpreter that imported the module
                assert process is not None and process.pid not in (None, os.getpid())
            else:
                assert process is None
            await assert_serves(client, expected)

    asyncio.run(go())


def test_a_model_process_without_the_module_keeps_the_server_unready(trained: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The requirement the other tests meet: without the module on its path, the model process cannot load the
    model, and /readyz says why (the class path and the import error)."""
    pytest.importorskip("fastapi")
    from siteclass.serve.app import create_app

    monkeypatch.delenv("PYTHONPATH", raising=False)
    settings = Settings()
    settings.serve.inference = "process"

    async def go() -> None:
        app = create_app(trained, settings)
        async with running(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert f"cannot import {TINY}" in ready.text and "No module named 'custom_model'" in ready.text
            assert (await client.post("/v1/predict/pages", json=PAGES)).status_code == 503

    asyncio.run(go())


# ----------------------------------------------------------------------------------------------- Spark
@pytest.mark.slow  # it starts Spark (a JVM)
def test_spark_predict_gives_the_local_predictions(trained: Path, crawl: tuple[Path, dict[str, str]],
                                                   tmp_path: Path, pythonpath: str) -> None:
    pytest.importorskip("pyspark")
    from siteclass.data.spark import spark_session
    from siteclass.prediction import predict_crawl

    folder, truth = crawl
    settings = Settings()
    to_spark = local_then_spark(settings)
    local, spark_out = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    predict_crawl(folder, local, str(trained), settings)
    to_spark()
    # A session started earlier in this test process kept the environment it started with: give its Python
    # workers the module's folder as spark.executorEnv.PYTHONPATH does (a new JVM inherits PYTHONPATH anyway).
    environment = spark_session(settings.spark).sparkContext.environment
    before = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = pythonpath
    try:
        result = predict_crawl(folder, spark_out, str(trained), settings)
    finally:
        if before is None:
            environment.pop("PYTHONPATH", None)
        else:
            environment["PYTHONPATH"] = before
    assert result.n_sites == 40 and result.n_predicted == len(truth)
    b = assert_same_predictions(local, spark_out, 40)
    assert np.mean([r["label"] == truth[r["site_id"]] for r in b if r["status"] == "ok"]) >= 0.9


# ----------------------------------------------------------------------------------------------- names
def test_an_entry_point_name_works(ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[project.entry-points."siteclass.models"] tiny = "custom_model.tiny:TinyClassifier"`` of an installed
    package (the lookup of installed entry points replaced: nothing can be installed here)."""
    from siteclass.tuning import search_space

    monkeypatch.setattr(registry, "_entry_points", lambda: {"tiny": TINY})
    assert registry.model_class("tiny") is TinyClassifier
    assert "tiny" in registry.model_names() and registry.is_model_name("tiny")
    assert search_space("tiny", TuneSettings()) == TinyClassifier.search_space
    out = tmp_path / "model"
    assert run(["train", "--data", str(ds), "--model", "tiny", "--out", str(out), "--no-progress"]) == 0
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["model_class"] == TINY  # the saved model names the class, so loading needs no entry point
    monkeypatch.setattr(registry, "_entry_points", dict)
    assert type(load_model(out)) is TinyClassifier


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_such_model", "unknown model 'no_such_model'; choose one of linear, fasttext"),
        ("custom_model.tiny:NoSuchClass", "cannot import custom_model.tiny:NoSuchClass"),
        ("custom_model.no_such_module:TinyClassifier", "cannot import custom_model.no_such_module"),
        ("custom_model.tiny:_WORD", "is not a siteclass Classifier subclass"),
        ("collections:OrderedDict", "is not a siteclass Classifier subclass"),
    ],
)
def test_an_unknown_model_or_a_non_classifier_is_a_clear_input_error(
    name: str, message: str, ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        registry.model_class(name)
    assert run(["train", "--data", str(ds), "--model", name, "--out", str(tmp_path / "m"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_hyperparameter_it_does_not_take_is_a_clear_input_error(ds: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``--epochs`` is a torch models' flag: for this model it lands in [train] params, which it does not take."""
    assert run(["train", "--data", str(ds), "--model", TINY, "--out", str(tmp_path / "m"), "--epochs", "3",
                "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "[train] params has 'epochs', which TinyClassifier does not take" in err
    assert "['dim', 'max_pages', 'scale']" in err
