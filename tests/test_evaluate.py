"""siteclass evaluate / compare / calibrate end to end, with real (small) models on a tiny generated dataset."""

from __future__ import annotations

import csv
import inspect
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siteclass.cli import run
from siteclass.errors import InputError
from siteclass.evaluation import apply_min_confidence, calibrate, compare, evaluate
from siteclass.models.base import Classifier
from siteclass.models.registry import MODEL_CLASSES
from siteclass.records import record_text

CLASSES = ["bakery", "law firm", "plumbing", "software"]
WORDS = {
    "bakery": ["bread", "cake", "pastry", "oven", "flour", "croissant"],
    "law firm": ["attorney", "legal", "court", "counsel", "litigation", "lawyer"],
    "plumbing": ["pipe", "drain", "leak", "boiler", "faucet", "plumber"],
    "software": ["cloud", "api", "saas", "platform", "developer", "code"],
}
COMMON = ["we", "our", "team", "customers", "quality", "local", "service", "since", "family", "call", "today"]


class KeywordNB(Classifier):
    """Multinomial naive Bayes on lower-cased words; one-vs-rest log-odds when multi-label.

    ``sharpness`` multiplies the logits: above 1 the model is overconfident (what calibration must fix).
    """

    model_type = "keyword_nb"

    def __init__(self, alpha: float = 1.0, sharpness: float = 1.0) -> None:
        self.alpha = alpha
        self.sharpness = sharpness

    def _counts(self, records: list[dict[str, Any]]) -> np.ndarray:
        X = np.zeros((len(records), len(self.vocab_)))
        for i, r in enumerate(records):
            for w in record_text(r).lower().split():
                j = self.vocab_.get(w)
                if j is not None:
                    X[i, j] += 1
        return X

    def _fit(self, records: list[dict[str, Any]], Y: np.ndarray, *, val: Any, sample_weight: Any,
             **options: Any) -> None:
        self.vocab_ = {w: i for i, w in enumerate(sorted({w for r in records for w in record_text(r).lower().split()}))}
        X = self._counts(records)
        T = Y if self.multi_label_ else np.eye(len(self.classes_))[Y]
        pos = T.T @ X + self.alpha
        neg = (1 - T).T @ X + self.alpha
        self.logp_ = np.log(pos / pos.sum(1, keepdims=True))
        self.logn_ = np.log(neg / neg.sum(1, keepdims=True))
        prior = T.mean(0).clip(1e-3, 1 - 1e-3)
        self.prior_ = np.log(prior) - (np.log(1 - prior) if self.multi_label_ else 0.0)

    def _logits(self, records: list[dict[str, Any]]) -> np.ndarray:
        X = self._counts(records)
        z = X @ self.logp_.T + self.prior_
        if self.multi_label_:
            z = z - X @ self.logn_.T
        return np.asarray(self.sharpness * z)

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"logp": self.logp_, "logn": self.logn_, "prior": self.prior_}, {"vocab": list(self.vocab_)}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.logp_, self.logn_, self.prior_ = arrays["logp"], arrays["logn"], arrays["prior"]
        self.vocab_ = {w: i for i, w in enumerate(extra["vocab"])}


def make_rows(n: int, seed: int, multi: bool = False) -> list[dict[str, Any]]:
    """Rows in the dataset schema; each text mixes words of its class, common words and a confusing class."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        c = CLASSES[i % len(CLASSES)]
        other = CLASSES[(i + 1 + int(rng.integers(3))) % len(CLASSES)]
        words = [*rng.choice(WORDS[c], int(rng.integers(1, 3))), *rng.choice(WORDS[other], int(rng.integers(0, 3))),
                 *rng.choice(COMMON, 5)]
        label: Any = c
        if multi:
            label = [c, other] if rng.random() < 0.4 else [c]
            if len(label) == 2:
                words += list(rng.choice(WORDS[other], 2))
        rows.append({"id": f"r{seed}-{i}", "domain": f"site{i}.com", "name": f"Company {i}",
                     "text": " ".join(rng.permutation(words)), "label": label})
    return rows


def write_ds(folder: Path, multi: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", 160, 1), ("val", 80, 2), ("test", 80, 3)):
        pq.write_table(pa.Table.from_pylist(make_rows(n, seed, multi)), folder / f"{split}.parquet")
    return folder


def fit(rows: list[dict[str, Any]], **params: Any) -> KeywordNB:
    return KeywordNB(**params).fit([{k: v for k, v in r.items() if k != "label"} for r in rows],
                                   [r["label"] for r in rows])


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ds(tmp_path_factory.mktemp("ds"))


@pytest.fixture(scope="module")
def ds_multi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ds(tmp_path_factory.mktemp("ds_multi"), multi=True)


@pytest.fixture()
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let load_model() find KeywordNB, so saved folders of it load like any siteclass model."""
    monkeypatch.setitem(MODEL_CLASSES, KeywordNB.model_type, f"{__name__}:KeywordNB")


def _table(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


# ----------------------------------------------------------------------------------------------- evaluate
def test_evaluate_single_label_writes_every_file(ds: Path, tmp_path: Path) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    model = fit(_table(ds / "train.parquet"))
    out = tmp_path / "report"
    result = evaluate(model, ds / "test.parquet", out=out)
    for name in ("metrics.json", "per_class.csv", "confusion_matrix.png", "confusion_matrix.csv",
                 "top_confusions.json", "coverage.csv", "accuracy_coverage.png", "reliability.png",
                 "report.html", "settings.toml"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    for key in ("n", "accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "top_k_accuracy",
                "cohen_kappa", "cohen_kappa_ci95", "log_loss", "ece"):
        assert key in m, key
    assert set(m["top_k_accuracy"]) == {"1", "3", "5"}
    assert m["top_k_accuracy"]["5"] == 1.0  # 4 classes
    assert m["top_k_accuracy"]["1"] == pytest.approx(m["accuracy"])
    lo, hi = m["cohen_kappa_ci95"]
    assert lo < m["cohen_kappa"] < hi

    # agrees with scikit-learn on the model's own predictions
    test = _table(ds / "test.parquet")
    truth = [r["label"] for r in test]
    pred = model.predict([{k: v for k, v in r.items() if k != "label"} for r in test])
    assert m["n"] == len(test)
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, pred))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert 0.3 < m["accuracy"] < 1.0  # a real, imperfect model: there are confusions to report

    with (out / "per_class.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["class"] for r in rows] == CLASSES
    for r in rows:
        assert int(r["tp"]) + int(r["fn"]) == int(r["support"])
        assert sum(int(r[k]) for k in ("tp", "fp", "fn", "tn")) == len(test)
        assert {"precision", "recall", "specificity", "npv", "f1"} <= set(r)
    with (out / "confusion_matrix.csv").open() as fh:
        cm = list(csv.reader(fh))
    assert cm[0][1:] == CLASSES
    assert sum(int(v) for row in cm[1:] for v in row[1:]) == len(test)

    confusions = json.loads((out / "top_confusions.json").read_text())
    assert confusions and confusions[0]["count"] >= confusions[-1]["count"]
    ex = confusions[0]["examples"][0]
    assert ex["true"] == confusions[0]["true"] != ex["predicted"] == confusions[0]["predicted"]
    assert ex["name"] and ex["domain"] and ex["snippet"]

    html = (out / "report.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "Per-class statistics" in html and "specificity" in html and ex["name"] in html
    for png in ("confusion_matrix.png", "accuracy_coverage.png", "reliability.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.report == out / "report.html"


def test_evaluate_multilabel(ds_multi: Path, tmp_path: Path) -> None:
    model = fit(_table(ds_multi / "train.parquet"))
    assert model.multi_label_
    result = evaluate(model, ds_multi / "test.parquet", out=tmp_path / "r")
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["multi_label"] is True
    for key in ("p_at_1", "micro_f1_ovr", "macro_f1_ovr", "accuracy", "macro_f1", "cohen_kappa", "log_loss"):
        assert key in m, key
    test = _table(ds_multi / "test.parquet")
    proba = model.predict_proba([{k: v for k, v in r.items() if k != "label"} for r in test])
    hits = [model.classes_[int(p.argmax())] in r["label"] for p, r in zip(proba, test)]
    assert m["p_at_1"] == pytest.approx(np.mean(hits))
    # micro F1 of the one-vs-rest decisions, recomputed from model.predict
    pred = model.predict([{k: v for k, v in r.items() if k != "label"} for r in test])
    tp = sum(len(set(p) & set(r["label"])) for p, r in zip(pred, test))
    fp = sum(len(set(p) - set(r["label"])) for p, r in zip(pred, test))
    fn = sum(len(set(r["label"]) - set(p)) for p, r in zip(pred, test))
    assert m["micro_f1_ovr"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert result.per_class[0]["support"] == sum(model.classes_[0] in r["label"] for r in test)
    assert len(re.findall(r"data:image/png;base64,", (tmp_path / "r" / "report.html").read_text())) == 3


def test_unknown_true_label_counts_as_an_error(ds: Path) -> None:
    model = fit(_table(ds / "train.parquet"))
    rows = _table(ds / "test.parquet")[:20]
    rows[0] = {**rows[0], "label": "winery"}
    with pytest.warns(UserWarning, match="1 of the .* labels .* not classes of the model .*winery"):
        result = evaluate(model, rows)
    assert result.metrics["n_unknown_labels"] == 1
    assert result.classes[-1] == "winery"
    assert result.per_class[-1]["support"] == 1 and result.per_class[-1]["tp"] == 0


def test_labels_that_share_nothing_with_the_model_are_refused(ds: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:

    model = fit(_table(ds / "train.parquet"))
    model.save(tmp_path / "m")
    rows = [{**r, "label": f"other-{r['label']}"} for r in _table(ds / "test.parquet")[:10]]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "alien.parquet")
    with pytest.raises(InputError, match="share nothing with the model's classes"):
        evaluate(model, rows)
    assert run(["evaluate", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "alien.parquet")]) == 2
    err = capsys.readouterr().err
    assert "other-" in err and "alien.parquet" in err and len(err.strip().splitlines()) == 1


def test_confusion_png_scales_to_many_classes(tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    from siteclass.report.plots import confusion_matrix_png

    k = 42
    rng = np.random.default_rng(0)
    cm = np.diag(rng.integers(5, 20, k))
    cm[:, 7] += 4  # a model leaning toward class 7
    path = confusion_matrix_png(cm, [f"industry number {i}" for i in range(k)], tmp_path / "cm.png")
    h, w = mpimg.imread(path).shape[:2]
    assert w >= 1400 and h >= 1400  # ≥ ~30 px per class row/column


def test_public_api_is_callable_even_after_the_stage_modules_are_imported(ds: Path) -> None:
    import siteclass
    import siteclass.evaluation as module
    import siteclass.prediction
    import siteclass.training
    import siteclass.tuning

    result = siteclass.evaluate(fit(_table(ds / "train.parquet")), _table(ds / "test.parquet"))
    assert isinstance(result, module.EvaluationResult) and result.metrics["n"] == 80
    for name in ("train", "evaluate", "tune", "predict"):
        assert inspect.isfunction(getattr(siteclass, name)), name


def test_apply_min_confidence_is_shared() -> None:
    from siteclass import metrics

    assert apply_min_confidence is metrics.apply_min_confidence
    assert apply_min_confidence([("a", 0.4), ("b", 0.35)], 0.5).label == "unknown"


# ----------------------------------------------------------------------------------------------- compare / calibrate
def test_compare(ds: Path, tmp_path: Path, registered: None) -> None:
    train = _table(ds / "train.parquet")
    fit(train).save(tmp_path / "a")
    fit(train[:40], alpha=5.0).save(tmp_path / "b")
    table = compare([tmp_path / "a", tmp_path / "b"], ds / "test.parquet")
    assert [r["model"] for r in table] == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert table[0]["accuracy"] == pytest.approx(evaluate(tmp_path / "a", ds / "test.parquet").metrics["accuracy"])
    assert {"macro_f1", "top_3", "ece", "log_loss", "cohen_kappa"} <= set(table[0])


def test_compare_out_writes_csv_json_and_one_html_report(ds: Path, tmp_path: Path, registered: None,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import base64

    train = _table(ds / "train.parquet")
    fit(train).save(tmp_path / "good")
    fit(train[:40], alpha=5.0, sharpness=6.0).save(tmp_path / "small")
    out = tmp_path / "cmp"
    assert run(["evaluate", "--compare", str(tmp_path / "good"), str(tmp_path / "small"),
                "--data", str(ds / "test.parquet"), "--out", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    with (out / "compare.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == ["good", "small"]
    direct = [evaluate(tmp_path / m, ds / "test.parquet") for m in ("good", "small")]
    for row, res in zip(rows, direct):
        assert float(row["macro_f1"]) == pytest.approx(res.metrics["macro_f1"])
    data = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in data["models"]] == ["good", "small"]
    classes = {r["class"] for r in data["per_class_f1"]}
    assert classes == set(direct[0].classes)
    for r in data["per_class_f1"]:
        for name, res in zip(("good", "small"), direct):
            expected = next(p["f1"] for p in res.per_class if p["class"] == r["class"])
            assert r["f1"][name] == pytest.approx(expected)
    assert set(data["reliability"]) == {"good", "small"} and all(data["reliability"].values())
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Per-class F1" in html and "good" in html and "small" in html
    for r in data["per_class_f1"]:
        assert f">{r['class']}<" in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 1 and base64.b64decode(images[0])[:4] == b"\x89PNG"
    assert not re.search(r'(src|href)="(?!data:)', html)  # self-contained
    assert (out / "reliability.png").read_bytes()[:4] == b"\x89PNG" and (out / "settings.toml").is_file()
    # the same folder twice: numbered names, not one overwriting the other
    compare([tmp_path / "good", tmp_path / "good"], ds / "test.parquet", out=tmp_path / "twice")
    twice = json.loads((tmp_path / "twice" / "compare.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in twice["models"]] == ["1. good", "2. good"]


def test_calibrate_lowers_ece_of_an_overconfident_model(ds: Path, tmp_path: Path, registered: None) -> None:
    folder = tmp_path / "m"
    fit(_table(ds / "train.parquet"), sharpness=6.0).save(folder)
    before_test = evaluate(folder, ds / "test.parquet").metrics
    r = calibrate(folder, ds)  # a dataset folder: its val split
    assert r["temperature_after"] > 1.5  # overconfident → T > 1 softens it
    assert r["ece_after"] < r["ece_before"]
    assert r["log_loss_after"] < r["log_loss_before"]
    after = evaluate(folder, ds / "test.parquet", out=tmp_path / "rep").metrics  # saved in place, reloaded
    assert after["temperature"] == pytest.approx(r["temperature_after"])
    assert after["ece"] < before_test["ece"]
    assert after["ece_uncalibrated"] == pytest.approx(before_test["ece"])
    assert after["accuracy"] == pytest.approx(before_test["accuracy"])  # T never changes the argmax
    assert "before (temperature 1)" in (tmp_path / "rep" / "report.html").read_text()


# ----------------------------------------------------------------------------------------------- CLI
def test_cli_commands_and_exit_codes(ds: Path, tmp_path: Path, registered: None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m"
    fit(_table(ds / "train.parquet"), sharpness=4.0).save(model)
    assert run(["evaluate", "--model", str(model), "--data", str(ds / "test.parquet"), "--out",
                str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "macro_f1=" in out and f"report: {tmp_path / 'rep' / 'report.html'}" in out
    assert run(["evaluate", "--compare", str(model), str(model), "--data", str(ds / "test.parquet")]) == 0
    assert "macro_f1" in capsys.readouterr().out
    assert run(["calibrate", "--model", str(model), "--data", str(ds / "val.parquet")]) == 0
    assert "ECE" in capsys.readouterr().out
    # user errors: exit 2 with a message naming the input
    assert run(["evaluate", "--model", str(tmp_path / "nope"), "--data", str(ds / "test.parquet")]) == 2
    assert "nope" in capsys.readouterr().err
    assert run(["evaluate", "--model", str(model), "--data", str(tmp_path / "missing.parquet")]) == 2
    assert "missing.parquet" in capsys.readouterr().err
    pq.write_table(pa.Table.from_pylist([{"text": "bread"}]), tmp_path / "nolabel.parquet")
    assert run(["evaluate", "--model", str(model), "--data", str(tmp_path / "nolabel.parquet")]) == 2
    assert "'label'" in capsys.readouterr().err
    assert run(["evaluate", "--data", str(ds / "test.parquet")]) == 2
    assert run(["evaluate", "--help"]) == 0


def test_evaluate_input_errors(tmp_path: Path, ds: Path) -> None:
    model = fit(_table(ds / "train.parquet"))
    with pytest.raises(InputError, match="format"):
        (tmp_path / "x.txt").write_text("a")
        evaluate(model, tmp_path / "x.txt")
    with pytest.raises(InputError, match="no rows"):
        evaluate(model, [])


def test_linear_model_end_to_end(ds: Path, tmp_path: Path) -> None:
    linear = pytest.importorskip("siteclass.models.linear", reason="siteclass.models.linear not written yet")
    train, val = _table(ds / "train.parquet"), _table(ds / "val.parquet")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "label"} for r in rows]  # noqa: E731
    model = linear.LinearClassifier().fit(strip(train), [r["label"] for r in train])
    model.calibrate(strip(val), [r["label"] for r in val])
    model.save(tmp_path / "lin")
    result = evaluate(tmp_path / "lin", ds / "test.parquet", out=tmp_path / "rep")
    assert result.metrics["model_type"] == "linear"
    assert result.metrics["accuracy"] > 0.5
    assert (tmp_path / "rep" / "report.html").is_file()
