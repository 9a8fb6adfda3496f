"""siteclass tune: search space, a real parallel study with the linear model, resume after a killed run, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siteclass.cli import run
from siteclass.config import DEFAULT_SEARCH_SPACES, TuneSettings, load_settings
from siteclass.errors import InputError
from siteclass.tuning import search_space, tune

ROOT = Path(__file__).resolve().parents[1]
WORDS = {
    "bakery": ["bread", "cake", "pastry", "oven", "flour", "croissant"],
    "law firm": ["attorney", "legal", "court", "counsel", "litigation", "lawyer"],
    "plumbing": ["pipe", "drain", "leak", "boiler", "faucet", "plumber"],
    "software": ["cloud", "api", "saas", "platform", "developer", "code"],
}
COMMON = ["we", "our", "team", "customers", "quality", "local", "service", "since", "family", "call", "today"]


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    classes = list(WORDS)
    rows = []
    for i in range(n):
        c, other = classes[i % 4], classes[(i + 1 + int(rng.integers(3))) % 4]
        words = [*rng.choice(WORDS[c], int(rng.integers(1, 3))), *rng.choice(WORDS[other], int(rng.integers(0, 3))),
                 *rng.choice(COMMON, 5)]
        rows.append({"id": f"{seed}-{i}", "domain": f"site{seed}x{i}.com", "name": f"Company {i}",
                     "text": " ".join(rng.permutation(words)), "label": c})
    return rows


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tune_ds")
    for split, n, seed in (("train", 120, 11), ("val", 60, 12), ("test", 60, 13)):
        pq.write_table(pa.Table.from_pylist(_rows(n, seed)), folder / f"{split}.parquet")
    return folder


@pytest.fixture(scope="module")
def linear() -> None:
    pytest.importorskip("siteclass.models.linear", reason="siteclass.models.linear not written yet")


FAST_CONFIG = """
[train.linear]
min_df = 1
max_features = 5000
max_iter = 300
[tune.search_space.linear]
C = { type = "float", low = 0.3, high = 30.0, log = true }
char_ngrams = { type = "categorical", choices = [[2, 3], [3, 4]] }
"""


def _linear_settings(tmp_path: Path, **tune: Any) -> Any:
    """Small, fast linear models on the tiny dataset (min_df 1: its vocabulary is small)."""
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG)
    return load_settings(cfg, {f"tune.{k}": v for k, v in tune.items()})


# ----------------------------------------------------------------------------------------------- search space
def test_search_space_defaults_and_override() -> None:
    assert set(DEFAULT_SEARCH_SPACES) == {"linear", "fasttext", "ensemble", "hybrid", "transformer", "zeroshot"}
    ft = search_space("fasttext", TuneSettings())
    assert (ft["lr"]["low"], ft["lr"]["high"], ft["lr"]["log"]) == (0.01, 1.0, True)
    assert (ft["dim"]["low"], ft["dim"]["high"]) == (100, 200)
    assert (ft["word_ngrams"]["low"], ft["word_ngrams"]["high"]) == (1, 3)
    assert set(search_space("transformer", TuneSettings())) == {"lr", "dropout", "pages", "pooling"}
    s = load_settings(None, {"tune.search_space": {"linear": {"C": {"type": "float", "low": 1, "high": 2},
                                                              "min_df": {"type": "fixed", "value": 1}}}})
    space = search_space("linear", s.tune)
    assert space["C"] == {"type": "float", "low": 1, "high": 2}
    assert space["min_df"]["value"] == 1 and "word_ngrams" in space


def test_search_space_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[tune.search_space.fasttext]\nepochs = { type = "int", low = 2, high = 3 }\n')
    assert search_space("fasttext", load_settings(cfg).tune)["epochs"] == {"type": "int", "low": 2, "high": 3}


@pytest.mark.parametrize(("spec", "match"), [
    ({"linear": {"nope": {"type": "float", "low": 1, "high": 2}}}, "no parameter 'nope'"),
    ({"linear": {"C": {"type": "float", "low": 3, "high": 2}}}, "low <= high"),
    ({"linear": {"C": {"type": "uniform"}}}, "type = float"),
    ({"linear": {"word_ngrams": {"type": "categorical", "choices": []}}}, "non-empty"),
    ({"svm": {}}, "unknown model"),
])
def test_search_space_errors(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        search_space("linear", load_settings(None, {"tune.search_space": spec}).tune)


def test_suggest_decodes_list_choices() -> None:
    import optuna

    from siteclass.tuning import _suggest

    space = search_space("linear", TuneSettings())
    trial = optuna.trial.FixedTrial({"C": 2.5, "word_ngrams": "[1, 3]", "char_ngrams": "[2, 5]"})
    assert _suggest(trial, space) == {"C": 2.5, "word_ngrams": [1, 3], "char_ngrams": [2, 5]}


# ----------------------------------------------------------------------------------------------- a real study
def test_tune_linear_parallel(ds: Path, tmp_path: Path, linear: None) -> None:
    import optuna

    from siteclass.models.base import load_model

    out = tmp_path / "tune"
    result = tune(ds, model="linear", trials=4, parallel=2, out=out,
                  settings=_linear_settings(tmp_path, pruner_startup_trials=1))
    assert result.n_complete + result.n_pruned == 4 and result.n_failed == 0
    for name in ("study.db", "best.toml", "trials.csv", "objective.png", "report.html", "summary.json",
                 "settings.toml"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["worker_pids"]) == 2  # trials really ran in two worker processes
    assert os.getpid() not in summary["worker_pids"]
    study = optuna.load_study(study_name="siteclass", storage=f"sqlite:///{out / 'study.db'}")
    for t in study.trials:
        assert 1 <= len(t.intermediate_values) <= 3  # reported at 25%, 50%, 100% of the training split
        assert t.state.name != "PRUNED" or len(t.intermediate_values) < 3
    assert result.best_value == max(t.value for t in study.trials if t.state.name == "COMPLETE")
    # best.toml is a config file train accepts, holding the best values
    best = load_settings(out / "best.toml")
    assert best.train.model == "linear"
    c_value = best.train.linear.C
    assert c_value == pytest.approx(result.best_params["C"])
    assert list(best.train.linear.word_ngrams) == result.best_params["word_ngrams"]
    # the best model, refit on train+val
    model = load_model(out / "best_model")
    assert model.model_type == "linear" and model.card_["n_train"] == 180
    # its temperature is the one val gave the best settings fitted on train (the trial's fit saw the same rows in
    # another order: lbfgs lands within ~1e-5)
    assert model.temperature_ == pytest.approx(study.best_trial.user_attrs["temperature"], rel=1e-3)
    assert model.predict({"text": "fresh bread and cake from our oven"}) == "bakery"
    html = (out / "report.html").read_text()
    assert re.search(r'src="data:image/png;base64,', html) and "best.toml" in html
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 5


def test_tuned_ensemble_keeps_the_blend_val_chose(ds: Path, tmp_path: Path) -> None:
    """The best settings are fitted as ``train --refit`` fits them: val chooses the members' weights (a trial's
    fit never sees val), the refit on train + val keeps them."""
    from siteclass.models.base import load_model
    from siteclass.models.registry import build_model
    from siteclass.training import load_split

    cfg = tmp_path / "ens.toml"
    cfg.write_text('[train.ensemble]\nmin_df = 1\nmax_features = 5000\nn_jobs = 1\n'
                   '[tune.search_space.ensemble]\nC_svm = { type = "float", low = 0.05, high = 0.5, log = true }\n'
                   'C_lr = { type = "fixed", value = 4.0 }\nC_nb = { type = "fixed", value = 0.1 }\n')
    settings = load_settings(cfg, {"tune.prune_fractions": [1.0]})
    out = tmp_path / "tune"
    result = tune(ds, model="ensemble", trials=2, parallel=1, out=out, settings=settings)
    model = load_model(out / "best_model")
    assert model.card_["n_train"] == 180 and "train + val" in model.card_["trained_on"]
    best = load_settings(out / "best.toml").train
    chosen = build_model(best)
    train, val = load_split(ds, "train"), load_split(ds, "val")
    chosen.fit(train.records, train.labels, X_val=val.records, y_val=val.labels)
    assert set(chosen.card_["blend"]) == {"svm", "lr", "nbsvm", "bias"}
    assert model.card_["blend"] == chosen.card_["blend"]
    assert best.ensemble.C_svm == pytest.approx(result.best_params["C_svm"])


def test_resume_after_killing_a_tune_subprocess(ds: Path, tmp_path: Path, linear: None) -> None:
    import optuna

    out = tmp_path / "tune"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST_CONFIG.replace("[tune.search_space.linear]", "[tune]\nretrain = false\n[tune.search_space.linear]"))
    cmd = [sys.executable, "-m", "siteclass", "tune", "--data", str(ds), "--model", "linear", "--trials", "200",
           "--out", str(out), "--config", str(cfg)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    storage = f"sqlite:///{out / 'study.db'}"
    finished = 0
    deadline = time.monotonic() + 300  # generous: CI machines can be slow and busy
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            # read-only SQL: optuna.load_study here would race the subprocess's own schema set-up (both stamp
            # the alembic version of a new database; the loser fails with a UNIQUE constraint error)
            finished = _finished_trials(out / "study.db")
            if finished >= 1:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert finished, proc.stderr.read().decode() if proc.stderr else ""
    before = {t.number: (t.state, t.value, t.params) for t in
              optuna.load_study(study_name="siteclass", storage=storage).trials}
    running = [n for n, (state, _, _) in before.items() if state.name == "RUNNING"]
    done = sum(state.name in ("COMPLETE", "PRUNED") for state, _, _ in before.values())
    assert done < 200

    # resume through the CLI: the study continues to done + 2 finished trials, earlier trials kept
    assert run(["tune", "--data", str(ds), "--model", "linear", "--trials", str(done + 2), "--out", str(out),
                "--config", str(cfg)]) == 0
    after = optuna.load_study(study_name="siteclass", storage=storage).trials
    by_number = {t.number: t for t in after}
    for n, (state, value, params) in before.items():
        if state.name in ("COMPLETE", "PRUNED"):
            assert by_number[n].state == state and by_number[n].value == value and by_number[n].params == params
    for n in running:  # a trial cut by the kill is failed and its parameters tried again
        assert by_number[n].state.name == "FAIL"
        if before[n][2]:  # (unless the kill came before it drew any) the drawn ones are kept; a kill between two
            # draws leaves the rest to be drawn by the retry
            assert any(t.user_attrs.get("retry_of") == n and before[n][2].items() <= t.params.items() for t in after)
    assert not any(t.state.name == "RUNNING" for t in after)
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in after) == done + 2
    assert json.loads((out / "summary.json").read_text())["recovered_trials"] == len(running)


# ----------------------------------------------------------------------------------------------- CLI errors
def test_cli_tune_user_errors(ds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["tune", "--data", str(ds), "--model", "svm", "--out", str(tmp_path / "t")]) == 2
    assert "svm" in capsys.readouterr().err
    assert run(["tune", "--data", str(tmp_path / "nowhere"), "--model", "linear", "--out", str(tmp_path / "t")]) == 2
    assert "train.parquet" in capsys.readouterr().err
    assert run(["tune", "--data", str(ds), "--model", "linear", "--metric", "auc", "--out", str(tmp_path / "t")]) == 2
    assert "auc" in capsys.readouterr().err
    assert run(["tune", "--help"]) == 0


def _finished_trials(db: Path) -> int:
    """Finished trials in an optuna SQLite study, read without writing (0 while the schema is not there yet)."""
    import sqlite3
    from contextlib import closing

    if not db.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            row = con.execute("SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL')").fetchone()
    except sqlite3.Error:  # the study is being created
        return 0
    return int(row[0])



def test_importance_needs_enough_finished_trials(recwarn: pytest.WarningsRecorder) -> None:
    """optuna answers equal importances (and a warning) when too few trials finished: no information, no figure;
    with enough varied trials the importances come back and the one parameter that matters leads."""
    import optuna

    from siteclass.report.tune import _importance

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    few = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    few.optimize(lambda t: t.suggest_float("a", 0, 1) + 0 * t.suggest_float("b", 0, 1), n_trials=1)
    assert _importance(few) == {}
    assert not [w for w in recwarn if "importances" in str(w.message)]
    many = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    many.optimize(lambda t: 10 * t.suggest_float("a", 0, 1) + 0.01 * t.suggest_float("b", 0, 1), n_trials=30)
    importance = _importance(many)
    assert set(importance) == {"a", "b"} and importance["a"] > importance["b"]
