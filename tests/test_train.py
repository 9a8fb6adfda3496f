"""The train stage: dataset folder → model folder (card, settings), CLI, python -m siteclass.training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siteclass.models.base import load_model
from siteclass.training import TrainResult, fingerprint, train

WORDS = {
    "bakery": "bread cake flour oven pastry croissant baker dough",
    "law": "attorney court lawyer legal litigation counsel contract trial",
    "software": "cloud code api developer platform saas app data",
}
NOISE = ["the", "and", "our", "we", "are", "best", "local", "team", "service", "quality", "customers", "since", "years"]


def make_dataset(folder: Path, n_train: int = 150, n_val: int = 45, multi: bool = False, weight: bool = False,
                 seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(WORDS)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_val)):
        rows = []
        for i in range(n):
            chosen = sorted(rng.choice(names, size=2 if multi and i % 3 == 0 else 1, replace=False).tolist())
            words = [w for c in chosen for w in rng.choice(WORDS[c].split(), size=4).tolist()]
            words += rng.choice(NOISE, size=6).tolist()
            rng.shuffle(words)
            row = {"id": f"{split}{i}", "domain": f"site{split}{i}.com", "name": f"Company {i}",
                   "text": " ".join(words), "label": chosen if multi else chosen[0]}
            if weight:
                row["weight"] = 3.0 if chosen[0] == "law" else 1.0
            rows.append(row)
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}.parquet")
    (folder / "labels.json").write_text(json.dumps(names))
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds") / "ds", weight=True)


@pytest.mark.parametrize("model", ["linear", "fasttext"])
def test_train_writes_a_complete_model_folder(dataset: Path, tmp_path: Path, model: str) -> None:
    overrides = {"epochs": 6, "dim": 16, "lr": 0.5} if model == "fasttext" else {"min_df": 1}
    result = train(dataset, model=model, out=tmp_path / "m", progress=False, **overrides)
    assert isinstance(result, TrainResult)
    out = tmp_path / "m"
    for name in ("config.json", "labels.json", "model.safetensors", "README.md", "settings.toml"):
        assert (out / name).is_file(), name
    assert not (out / "checkpoints").exists()
    assert result.metrics["accuracy"] > 0.9 and result.metrics["macro_f1"] > 0.9
    config = json.loads((out / "config.json").read_text())
    card = config["card"]
    assert card["data_fingerprint"] == "sha256:" + fingerprint(dataset / "train.parquet", dataset / "val.parquet")
    assert card["metrics"]["macro_f1"] == pytest.approx(result.metrics["macro_f1"])
    assert card["train_seconds"] > 0 and card["settings"]["model"] == model
    readme = (out / "README.md").read_text()
    assert "data fingerprint" in readme and "macro_f1" in readme
    assert config["temperature"] != 1.0  # calibrated on val
    from siteclass.config import read_saved_settings

    saved = read_saved_settings(out)
    assert saved.train.model == model
    loaded = load_model(out)
    val = pq.read_table(dataset / "val.parquet").to_pylist()
    assert loaded.predict(val[0]) in WORDS
    np.testing.assert_array_equal(loaded.predict_proba(val), result.model.predict_proba(val))


def test_train_multi_label(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "ds", multi=True, seed=1)
    result = train(ds, model="fasttext", out=tmp_path / "m", progress=False, epochs=6, dim=16, lr=0.5)
    assert result.model.multi_label_
    assert result.metrics["p_at_1"] > 0.9 and "macro_f1" in result.metrics


def test_bad_inputs_raise_input_errors(tmp_path: Path, dataset: Path) -> None:
    from siteclass.errors import InputError

    with pytest.raises(InputError, match="does not exist"):
        train(tmp_path / "nope", model="linear", out=tmp_path / "m")
    with pytest.raises(InputError, match="unknown training setting"):
        train(dataset, model="linear", out=tmp_path / "m", epochs=3)
    with pytest.raises(InputError, match=r"unknown model|invalid training settings"):
        train(dataset, model="bogus", out=tmp_path / "m")


def test_cli_train_smoke(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siteclass.cli import run

    config = tmp_path / "c.toml"
    config.write_text("[train.fasttext]\ndim = 16\nlr = 0.5\n")
    code = run(["train", "--data", str(dataset), "--model", "fasttext", "--out", str(tmp_path / "m"),
                "--config", str(config), "--epochs", "3", "--seed", "5", "--no-progress"])
    assert code == 0
    assert "validation" in capsys.readouterr().out
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["params"]["dim"] == 16 and saved["params"]["epochs"] == 3 and saved["params"]["seed"] == 5
    assert run(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["train", "--help"]) == 0


def test_training_is_logged_per_epoch_and_drawn_in_the_evaluate_report(dataset: Path, tmp_path: Path) -> None:
    """fastText reports each epoch: metrics.jsonl (loss + validation metrics), TensorBoard files, report curves."""
    from siteclass.evaluation import evaluate
    from siteclass.training_log import read_metrics_log

    out = tmp_path / "m"
    train(dataset, model="fasttext", out=out, progress=False, epochs=3, dim=16, early_stopping_patience=0)
    rows = read_metrics_log(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(r["loss"] > 0 and 0 <= r["val_macro_f1"] <= 1 and "val_accuracy" in r for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]  # it learns
    pytest.importorskip("tensorboard")
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    report = evaluate(out, dataset / "test.parquet", out=tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Training curves" in html and (tmp_path / "report" / "training_curves.png").is_file()
    assert "training_png" in report.files


def test_a_model_without_epochs_writes_no_training_log(dataset: Path, tmp_path: Path) -> None:
    train(dataset, model="linear", out=tmp_path / "m", progress=False, min_df=1)
    assert not (tmp_path / "m" / "metrics.jsonl").exists()


def test_refit_keeps_what_val_chose_and_fits_on_train_plus_val(dataset: Path, tmp_path: Path) -> None:
    """--refit: the best epoch and the temperature come from the fit with val held out; the saved model saw both."""
    import tomllib

    first = train(dataset, model="fasttext", out=tmp_path / "a", progress=False, epochs=8, dim=16, lr=0.05,
                  early_stopping_patience=1)
    best = first.model.card_["best_epoch"]
    out = tmp_path / "b"
    result = train(dataset, model="fasttext", out=out, progress=False, epochs=8, dim=16, lr=0.05,
                   early_stopping_patience=1, refit=True)
    saved = load_model(out)
    n_train, n_val = (pq.read_metadata(dataset / f"{s}.parquet").num_rows for s in ("train", "val"))
    assert saved.card_["n_train"] == n_train + n_val and saved.card_["n_val"] == 0
    assert saved.epochs == best and saved.card_["refit_params"]["epochs"] == best
    assert saved.temperature_ == pytest.approx(first.model.temperature_)
    assert tomllib.loads((out / "settings.toml").read_text())["train"]["fasttext"]["epochs"] == best
    assert "train + val" in (out / "README.md").read_text()
    assert result.metrics == first.metrics  # validation metrics are those of the fit on train alone
    assert result.model.predict({"text": "attorney court lawyer"}) == "law"


def test_progress_in_a_log_is_one_line_per_epoch(dataset: Path, tmp_path: Path) -> None:
    """stderr not a terminal (CI, `make demo > log`): no tqdm carriage-return frames, one plain line per epoch."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "siteclass", "train", "--data", str(dataset), "--model", "fasttext", "--epochs", "3",
         "--out", str(tmp_path / "model")],
        capture_output=True, timeout=600,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "\r" not in err and "\x1b[" not in err, err[:500]
    epoch_lines = [line for line in err.splitlines() if line.startswith("fasttext epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == [f"fasttext epoch {i}/3" for i in (1, 2, 3)], err
    assert all("loss=" in line for line in epoch_lines)


def test_linear_trains_where_torch_cannot_be_imported(dataset: Path, tmp_path: Path) -> None:
    """The core install has no torch: `siteclass train --model linear` must not import it (defect of #17)."""
    import subprocess
    import sys

    code = (
        "import importlib.abc, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):  # `import torch` raises ImportError, as without torch\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is not installed here')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from siteclass.cli import run\n"
        f"code = run(['train', '--data', {str(dataset)!r}, '--model', 'linear', '--out', {str(tmp_path / 'm')!r},"
        " '--no-progress'])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'torch'], 'torch was imported'\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in __import__("os").environ.items() if k != "WORLD_SIZE"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_model(tmp_path / "m").predict({"text": "attorney court lawyer legal"}) == "law"
