"""The classifier contract, checked on every model (the way scikit-learn's ``check_estimator`` works).

Every model of :data:`siteclass.models.registry.MODEL_CLASSES`, plus the model from outside siteclass in
``tests/custom_model/tiny.py``, goes through every function of :data:`CHECKS`: fit on a tiny generated dataset
(string labels, 4 classes; ``synthetic.synth``), predict, probabilities, multi-label, save → load, calibration,
determinism, hyperparameters, the unfitted error and the capability tags. A model registered later is checked with
its default hyperparameters until it gets small ones in :data:`SMALL`.

The ``transformer``, ``zeroshot`` and ``hybrid`` models run the real MiniLM encoder on CPU, with the smallest settings (32
tokens, frozen encoder, a few dozen records): they are marked ``slow``. Model-specific behaviour stays in each
model's own test file.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from synthetic import synth

from siteclass.errors import InputError, ModelError
from siteclass.models.base import Classifier, class_path, load_model
from siteclass.models.registry import MODEL_CLASSES, model_class

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # the model from outside siteclass: tests/custom_model/tiny.py
    sys.path.insert(0, str(TESTS))

TINY = "custom_model.tiny:TinyClassifier"

# The smallest settings with which each model still learns the synthetic data.
SMALL: dict[str, dict[str, Any]] = {
    "linear": {"C": 4.0, "max_features": 5000, "min_df": 1, "n_jobs": 1},
    "ensemble": {"max_features": 5000, "min_df": 1, "n_jobs": 1, "thresholds": "val"},
    "hybrid": {"max_features": 5000, "min_df": 1, "n_jobs": 1, "max_tokens": 32},
    "fasttext": {"dim": 16, "epochs": 8, "batch_size": 16, "lr": 0.5, "early_stopping_patience": 0, "seed": 1},
    "transformer": {"freeze_encoder": True, "max_tokens": 32, "pages": 1, "epochs": 8, "head_lr": 1e-2,
                    "batch_size": 8, "early_stopping_patience": 0, "seed": 1},
    "zeroshot": {"max_tokens": 32},
    TINY: {"dim": 128},
}
ENCODER_MODELS = {"transformer", "zeroshot", "hybrid"}  # the real MiniLM encoder on CPU: slow
READY_UNFITTED = {"zeroshot"}  # predicts with the bundled taxonomy before any fit, by design
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".npy", ".npz")
TAGS = ("onnx_export", "gil_bound", "checkpoints", "epoch_callbacks", "distributed")


@dataclass
class Subject:
    """One model under test: how to build it, its data, and its fits (made once, on first use)."""

    name: str
    params: dict[str, Any]
    n_train: int
    n_test: int
    fits: dict[str, Classifier] = field(default_factory=dict)

    @cached_property
    def cls(self) -> type[Classifier]:
        return model_class(self.name)

    @cached_property
    def data(self) -> tuple[list[dict], list[str], list[dict], list[str]]:
        X, y = synth(self.n_train, 0)
        Xt, yt = synth(self.n_test, 1)
        return X, y, Xt, yt

    @cached_property
    def multi_data(self) -> tuple[list[dict], list[list[str]], list[dict], list[list[str]]]:
        X, y = synth(self.n_train, 2, multi=True)
        Xt, yt = synth(self.n_test, 3, multi=True)
        return X, y, Xt, yt

    def new(self) -> Classifier:
        return self.cls(**self.params)

    def fit(self, X: Any, y: Any, **options: Any) -> Classifier:
        model = self.new()
        fitted = model.fit(X, y, **{**model.fit_options(progress=False), **options})
        assert fitted is model, "fit must return the model itself"
        return model

    @property
    def single(self) -> Classifier:
        """Fitted on single-label data (shared by the checks: a check that changes it works on a copy)."""
        if "single" not in self.fits:
            X, y, _, _ = self.data
            self.fits["single"] = self.fit(X, y)
        return self.fits["single"]

    @property
    def multi(self) -> Classifier:
        if "multi" not in self.fits:
            X, y, _, _ = self.multi_data
            self.fits["multi"] = self.fit(X, y)
        return self.fits["multi"]


def _subject(name: str) -> Subject:
    small = name in ENCODER_MODELS
    return Subject(name, SMALL.get(name, {}), n_train=40 if small else 200, n_test=24 if small else 60)


def _subject_params() -> list[Any]:
    names = [*MODEL_CLASSES, TINY]
    return [pytest.param(n, id=n.split(":")[-1], marks=[pytest.mark.slow] if n in ENCODER_MODELS else [])
            for n in names]


@pytest.fixture(scope="module", params=_subject_params())
def subject(request: pytest.FixtureRequest) -> Subject:
    return _subject(request.param)


# ----------------------------------------------------------------------------------------------- helpers
def _accuracy(pred: list[Any], truth: list[Any]) -> float:
    return float(np.mean([p == t for p, t in zip(pred, truth)]))


def _assert_same_proba(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def _saved_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _assert_no_pickle(folder: Path) -> None:
    files = _saved_files(folder)
    assert not [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES], [p.name for p in files]
    for p in files:
        if p.suffix == ".safetensors":  # an 8-byte header length first, which may start with 0x80
            continue
        head = p.read_bytes()[:2]
        assert not (len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5), f"{p} is a pickle"


def _value_of(spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind in ("float", "int"):
        return spec["low"]
    if kind == "categorical":
        return spec["choices"][0]
    return spec["value"]


class _Stop(Exception):
    """Raised by an epoch callback to stop a fit (as tune's pruning does)."""


# ----------------------------------------------------------------------------------------------- the checks
def check_fit_learns_string_classes(s: Subject, tmp_path: Path) -> None:
    model = s.single
    _, y, Xt, yt = s.data
    assert model.classes_ == sorted(set(y))
    assert all(type(c) is str for c in model.classes_)
    assert model.multi_label_ is False
    assert _accuracy(model.predict(Xt), yt) >= 0.75  # 4 classes: chance is 0.25


def check_predict_returns_string_labels(s: Subject, tmp_path: Path) -> None:
    _, _, Xt, _ = s.data
    pred = s.single.predict(Xt)
    assert isinstance(pred, list) and len(pred) == len(Xt)
    assert all(type(p) is str and p in s.single.classes_ for p in pred)


def check_single_record_gives_single_answer(s: Subject, tmp_path: Path) -> None:
    """One record in (a dict or a string), one answer out: a label, a probability row, a score row."""
    model = s.single
    _, _, Xt, _ = s.data
    text = "fresh bread and croissant from our oven pastry baker"
    for one in (Xt[0], text):
        label = model.predict(one)
        assert type(label) is str and label == model.predict([one])[0]
        proba = model.predict_proba(one)
        assert proba.shape == (len(model.classes_),)
        _assert_same_proba(proba, model.predict_proba([one])[0])
        assert model.decision_function(one).shape == (len(model.classes_),)
        assert model.classes_[int(proba.argmax())] == label


def check_top_k_of_a_batch(s: Subject, tmp_path: Path) -> None:
    model = s.single
    _, _, Xt, _ = s.data
    proba = model.predict_proba(Xt)
    pred = model.predict(Xt)
    top = model.predict_top_k(Xt, k=2)
    assert len(top) == len(Xt)
    for row, p, label in zip(top, proba, pred):
        assert len(row) == 2
        assert [type(lab) for lab, _ in row] == [str, str] and row[0][0] == label
        assert row[0][1] >= row[1][1]
        for lab, prob in row:
            assert prob == pytest.approx(p[model.classes_.index(lab)], abs=1e-12)
    assert all(len(row) == len(model.classes_) for row in model.predict_top_k(Xt[:3], k=99))  # k is capped


def check_top_k_of_a_single_record(s: Subject, tmp_path: Path) -> None:
    """One record in, one answer out: the record's (label, probability) list, as ``predict`` gives one label."""
    model = s.single
    _, _, Xt, _ = s.data
    top = model.predict_top_k(Xt[0], k=2)
    assert len(top) == 2 and all(isinstance(item, tuple) for item in top), top
    assert top == model.predict_top_k([Xt[0]], k=2)[0]
    assert top[0][0] == model.predict(Xt[0])


def check_top_k_follows_scores_when_probabilities_saturate(s: Subject, tmp_path: Path) -> None:
    """A tiny temperature drives a multi-label model's sigmoids to 1.0 together: top-k still ranks by score."""
    model = copy.deepcopy(s.multi)
    _, _, Xt, _ = s.multi_data
    model.temperature_ = 1e-6
    scores = model.decision_function(Xt)
    # (a model whose multi-label probabilities are a softmax, like zeroshot's, does not saturate: the order holds)
    k = min(3, len(model.classes_))
    for row, z in zip(model.predict_top_k(Xt, k=k), scores):
        assert [lab for lab, _ in row] == [model.classes_[j] for j in np.argsort(-z, kind="stable")[:k]]


def check_predict_proba_rows_sum_to_one(s: Subject, tmp_path: Path) -> None:
    model = s.single
    _, _, Xt, _ = s.data
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), len(model.classes_))
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert model.decision_function(Xt).shape == proba.shape
    assert model.predict_proba([]).shape == (0, len(model.classes_))


def check_proba_columns_follow_classes(s: Subject, tmp_path: Path) -> None:
    """Column j is the probability of ``classes_[j]``: the argmax names ``predict``'s label, and each class's own
    held-out records give its column the highest mean."""
    model = s.single
    _, _, Xt, yt = s.data
    proba = model.predict_proba(Xt)
    assert [model.classes_[j] for j in proba.argmax(axis=1)] == model.predict(Xt)
    truth = np.array(yt)
    for j, label in enumerate(model.classes_):
        mine = truth == label
        assert mine.any(), f"no held-out record of {label}"
        assert int(proba[mine].mean(axis=0).argmax()) == j, label


def check_input_forms_give_the_same_answer(s: Subject, tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow as pa

    model = s.single
    _, _, Xt, _ = s.data
    rows = Xt[:5]
    expected = model.predict_proba(rows)
    _assert_same_proba(model.predict_proba(pa.Table.from_pylist(rows)), expected)
    _assert_same_proba(model.predict_proba(pd.DataFrame(rows)), expected)
    texts = [r["text"] for r in rows]
    _assert_same_proba(model.predict_proba(texts), model.predict_proba([{"text": t} for t in texts]))


def check_multi_label_fit_predict(s: Subject, tmp_path: Path) -> None:
    model = s.multi
    _, y, Xt, yt = s.multi_data
    assert model.multi_label_ is True
    assert model.classes_ == sorted({lab for labels in y for lab in labels})
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), len(model.classes_))
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    pred = model.predict(Xt)
    assert len(pred) == len(Xt)
    assert all(isinstance(p, list) and p and all(lab in model.classes_ for lab in p) for p in pred)
    one = model.predict(Xt[0])
    assert isinstance(one, list) and one == pred[0]
    top1 = [model.classes_[j] for j in proba.argmax(axis=1)]
    assert np.mean([t in truth for t, truth in zip(top1, yt)]) >= 0.75


def _round_trip(model: Classifier, folder: Path, X: list[dict]) -> Classifier:
    model.save(folder)
    for name in ("config.json", "labels.json", "model.safetensors", "README.md"):
        assert (folder / name).is_file(), name
    _assert_no_pickle(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_class"] == class_path(type(model))
    assert model_class(config["model_class"]) is type(model)
    assert config["model_type"] == model.model_type
    assert json.loads((folder / "labels.json").read_text(encoding="utf-8")) == model.classes_
    loaded = load_model(folder)
    assert type(loaded) is type(model)
    assert loaded.classes_ == model.classes_ and loaded.multi_label_ == model.multi_label_
    assert loaded.temperature_ == model.temperature_
    assert loaded.get_params() == model.get_params()
    _assert_same_proba(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.predict(X) == model.predict(X)
    return loaded


def check_save_load_round_trip(s: Subject, tmp_path: Path) -> None:
    """Saved (calibrated: the temperature travels too) and loaded: the same class, labels, probabilities; no
    pickle anywhere in the folder; ``config.json`` names the class by import path."""
    _, _, Xt, yt = s.data
    model = copy.deepcopy(s.single).calibrate(Xt, yt)
    assert model.temperature_ != 1.0
    _round_trip(model, tmp_path / "single", Xt)


def check_save_load_round_trip_multi_label(s: Subject, tmp_path: Path) -> None:
    _, _, Xt, _ = s.multi_data
    loaded = _round_trip(s.multi, tmp_path / "multi", Xt)
    assert loaded.multi_label_ is True


def check_calibration(s: Subject, tmp_path: Path) -> None:
    """``calibrate`` fits the temperature on held-out data: probabilities change, the ranking does not."""
    for fitted, (_, _, Xt, yt) in ((s.single, s.data), (s.multi, s.multi_data)):
        model = copy.deepcopy(fitted)
        before = model.predict_proba(Xt)
        labels = model.predict(Xt)
        assert model.temperature_ == 1.0
        assert model.calibrate(Xt, yt) is model
        assert model.temperature_ > 0 and model.temperature_ != 1.0
        after = model.predict_proba(Xt)
        assert not np.allclose(after, before)
        for b, a in zip(before, after):  # each row keeps its ranking (sigmoids may saturate at 1.0: ties, no swaps)
            assert (np.diff(a[np.argsort(-b, kind="stable")]) <= 1e-12).all()
        if not model.multi_label_:
            np.testing.assert_array_equal(after.argmax(axis=1), before.argmax(axis=1))
            assert model.predict(Xt) == labels
        assert model.card_["temperature"] == model.temperature_


_FIT_ELSEWHERE = """
import json, sys
import numpy as np
paths, name, params, n_train, n_test, out = json.loads(sys.argv[1])
sys.path[:0] = paths
from synthetic import synth
from siteclass.models.registry import model_class
X, y = synth(n_train, 0)
Xt, _ = synth(n_test, 1)
model = model_class(name)(**params)
model.fit(X, y, **model.fit_options(progress=False))
np.save(out, model.predict_proba(Xt))
"""


def check_fit_is_deterministic(s: Subject, tmp_path: Path) -> None:
    """Same data, same hyperparameters (seed included): the same probabilities, whatever the process did before
    (a second fit here) and in another process (another ``PYTHONHASHSEED``, nothing loaded yet)."""
    X, y, Xt, _ = s.data
    expected = s.single.predict_proba(Xt)
    _assert_same_proba(s.fit(X, y).predict_proba(Xt), expected)
    out = tmp_path / "proba.npy"
    args = [[str(Path(__file__).parent), str(TESTS)], s.name, s.params, s.n_train, s.n_test, str(out)]
    subprocess.run([sys.executable, "-c", _FIT_ELSEWHERE, json.dumps(args)], check=True, timeout=300,
                   env={**os.environ, "PYTHONHASHSEED": "4242"})
    _assert_same_proba(np.load(out), expected)


def check_get_params_and_set_params(s: Subject, tmp_path: Path) -> None:
    signature = inspect.signature(s.cls.__init__)
    defaults = {k: p.default for k, p in signature.parameters.items() if k != "self" and p.default is not p.empty}
    fresh = s.cls()
    assert fresh.get_params() == defaults  # __init__ stores hyperparameters as given, nothing else
    expected = {**defaults, **s.params}
    assert s.single.get_params() == expected  # fit does not change hyperparameters
    clone = s.cls(**s.single.get_params())
    assert clone.get_params() == expected
    if s.name not in READY_UNFITTED:
        assert not hasattr(clone, "classes_")  # a clone carries no fitted state
    assert repr(s.single).startswith(f"{s.cls.__name__}(")
    other = s.cls()
    assert other.set_params(**s.params) is other and other.get_params() == expected
    with pytest.raises(InputError, match="no hyperparameter"):
        other.set_params(not_a_hyperparameter=1)


def check_unfitted_model_raises_model_error(s: Subject, tmp_path: Path) -> None:
    model = s.new()
    if s.name in READY_UNFITTED:  # by design: ready with its bundled labels before any fit
        assert type(model.predict("a bakery with fresh bread")) is str
        return
    for call in (lambda: model.predict("x"), lambda: model.predict_proba(["x"]),
                 lambda: model.predict_top_k(["x"]), lambda: model.decision_function(["x"]),
                 lambda: model.calibrate(["x", "y"], ["a", "b"]), lambda: model.save(tmp_path / "unfitted")):
        with pytest.raises(ModelError, match="not fitted"):
            call()
    assert not (tmp_path / "unfitted").exists()


def check_capability_tags_are_bools(s: Subject, tmp_path: Path) -> None:
    for tag in TAGS:
        assert type(getattr(s.cls, tag)) is bool, tag
    space = s.cls.search_space
    assert isinstance(space, dict) and all(isinstance(spec, dict) for spec in space.values())


def _fit_parameters(cls: type[Classifier]) -> set[str]:
    """Keyword options ``fit`` and ``_fit`` name explicitly (not through ``**options``)."""
    names: set[str] = set()
    for fn in (cls.fit, cls._fit):
        names |= {n for n, p in inspect.signature(fn).parameters.items() if p.kind is not p.VAR_KEYWORD}
    return names


def check_fit_options_follow_tags(s: Subject, tmp_path: Path) -> None:
    """``fit_options`` gives exactly the options the tags allow; a model whose fit names an option declares the
    tag (a tag left False would hide the capability from train and tune)."""
    model = s.new()

    def callback(epoch: int, metrics: dict[str, float]) -> None:
        return None

    options = model.fit_options(checkpoint_dir=tmp_path, resume=True, progress=False, epoch_callback=callback)
    allowed = {"progress"}
    if s.cls.checkpoints:
        allowed |= {"checkpoint_dir", "resume"}
    if s.cls.epoch_callbacks:
        allowed.add("epoch_callback")
    assert set(options) == allowed
    assert options["progress"] is False
    named = _fit_parameters(s.cls)
    assert ("checkpoint_dir" in named) <= s.cls.checkpoints
    assert ("epoch_callback" in named) <= s.cls.epoch_callbacks


def check_checkpoints_tag(s: Subject, tmp_path: Path) -> None:
    if not s.cls.checkpoints:
        assert "checkpoint_dir" not in s.new().fit_options(checkpoint_dir=tmp_path)
        return
    X, y, Xt, _ = s.data
    model = s.new()
    model.fit(X, y, **model.fit_options(checkpoint_dir=tmp_path / "ckpt", progress=False))
    assert _saved_files(tmp_path / "ckpt"), "a model with the checkpoints tag wrote no checkpoint"
    assert model.predict_proba(Xt).shape == (len(Xt), len(model.classes_))


def check_epoch_callbacks_tag(s: Subject, tmp_path: Path) -> None:
    if not s.cls.epoch_callbacks:
        return
    X, y, Xt, yt = s.data
    calls: list[tuple[int, dict[str, float]]] = []

    def record(epoch: int, metrics: dict[str, float]) -> None:
        calls.append((epoch, dict(metrics)))

    model = s.new()
    model.fit(X, y, X_val=Xt, y_val=yt, **model.fit_options(progress=False, epoch_callback=record))
    assert [e for e, _ in calls] == list(range(1, len(calls) + 1)) and calls
    assert all("macro_f1" in m and all(isinstance(v, float) for v in m.values()) for _, m in calls)

    def stop(epoch: int, metrics: dict[str, float]) -> None:
        raise _Stop(epoch)

    model = s.new()
    with pytest.raises(_Stop):  # tune prunes a trial this way
        model.fit(X, y, X_val=Xt, y_val=yt, **model.fit_options(progress=False, epoch_callback=stop))


def check_onnx_export_tag(s: Subject, tmp_path: Path) -> None:
    """A model without the tag is refused by ``siteclass export`` with a clear InputError (the export of the
    models with the tag is tested in tests/test_export.py)."""
    if s.cls.onnx_export:
        return
    from siteclass.export import export_onnx

    folder = s.single.save(tmp_path / "m")
    with pytest.raises(InputError, match="has no ONNX export"):
        export_onnx(folder)


def check_gil_bound_tag_drives_serve_auto(s: Subject, tmp_path: Path) -> None:
    """``[serve] inference = auto`` reads the class tag of a saved folder: a child process for a GIL-bound model."""
    pytest.importorskip("fastapi")
    from siteclass.serve.model_process import resolve_inference

    folder = s.single.save(tmp_path / "m")
    assert resolve_inference("auto", folder, 1) == ("process" if s.cls.gil_bound else "thread")


def check_search_space_builds_models(s: Subject, tmp_path: Path) -> None:
    """tune's space for the model is valid and every value it draws reaches the model's hyperparameters."""
    from siteclass.config import TrainSettings, TuneSettings
    from siteclass.models.registry import build_model
    from siteclass.tuning import _train_settings, search_space

    space = search_space(s.name, TuneSettings())
    assert space
    values = {k: _value_of(spec) for k, spec in space.items()}
    model = build_model(_train_settings(TrainSettings(), s.name, values))
    assert type(model) is s.cls
    got = model.get_params()
    for k, v in values.items():
        assert (list(got[k]) if isinstance(got[k], tuple) else got[k]) == v, k


CHECKS: list[Callable[[Subject, Path], None]] = [
    check_fit_learns_string_classes,
    check_predict_returns_string_labels,
    check_single_record_gives_single_answer,
    check_top_k_of_a_batch,
    check_top_k_of_a_single_record,
    check_predict_proba_rows_sum_to_one,
    check_top_k_follows_scores_when_probabilities_saturate,
    check_proba_columns_follow_classes,
    check_input_forms_give_the_same_answer,
    check_multi_label_fit_predict,
    check_save_load_round_trip,
    check_save_load_round_trip_multi_label,
    check_calibration,
    check_fit_is_deterministic,
    check_get_params_and_set_params,
    check_unfitted_model_raises_model_error,
    check_capability_tags_are_bools,
    check_fit_options_follow_tags,
    check_checkpoints_tag,
    check_epoch_callbacks_tag,
    check_onnx_export_tag,
    check_gil_bound_tag_drives_serve_auto,
    check_search_space_builds_models,
]

MODEL_DEFECTS: dict[tuple[str, Callable[[Subject, Path], None]], str] = {}  # (model, check) → a known defect


@pytest.mark.parametrize(
    "check", [pytest.param(c, id=c.__name__.removeprefix("check_")) for c in CHECKS]
)
def test_contract(subject: Subject, check: Callable[[Subject, Path], None], tmp_path: Path,
                  request: pytest.FixtureRequest) -> None:
    reason = MODEL_DEFECTS.get((subject.name, check))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason))
    check(subject, tmp_path)


def test_every_registered_model_is_checked_with_small_settings() -> None:
    """A model added to the registry gets small settings here (else it is checked with its defaults, slowly)."""
    assert set(MODEL_CLASSES) <= set(SMALL), sorted(set(MODEL_CLASSES) - set(SMALL))
