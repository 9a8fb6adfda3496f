"""Contract tests of the fasttext model on tiny synthetic data (fit, predict, multi-label, save/load)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from synthetic import CLASSES, synth

from siteclass.models.base import load_model
from siteclass.models.fasttext import FastTextClassifier, Hasher


def small() -> FastTextClassifier:
    return FastTextClassifier(dim=16, epochs=8, batch_size=16, lr=0.5, early_stopping_patience=0, seed=1)


@pytest.fixture(scope="module")
def single() -> tuple[FastTextClassifier, list[dict], list]:
    X, y = synth(240, 0)
    Xt, yt = synth(80, 1)
    return small().fit(X, y, progress=False), Xt, yt


def test_fit_predict_strings(single) -> None:
    model, Xt, yt = single
    pred = model.predict(Xt)
    assert all(isinstance(p, str) for p in pred)
    assert np.mean(np.array(pred) == np.array(yt)) > 0.9
    assert isinstance(model.predict(Xt[0]), str)
    assert isinstance(model.predict("fresh bread and croissant from our oven"), str)
    assert model.predict("fresh bread and croissant from our oven pastry baker") == "bakery"


def test_predict_proba_rows_sum_to_one(single) -> None:
    model, Xt, _ = single
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert model.classes_ == sorted(CLASSES)


def test_unseen_text_gives_prior_not_error(single) -> None:
    model, _, _ = single
    proba = model.predict_proba(["zzzz qqqq"])
    assert proba.shape == (1, 4) and np.isfinite(proba).all()


def test_save_load_round_trip(single, tmp_path) -> None:
    model, Xt, _ = single
    model.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"config.json", "labels.json", "model.safetensors", "README.md"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".pt", ".bin", ".joblib"))]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "fasttext"
    assert set(config["params"]) == set(model.get_params())
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, FastTextClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), model.predict_proba(Xt))
    assert loaded.predict(Xt) == model.predict(Xt)


def test_multi_label(tmp_path) -> None:
    X, y = synth(300, 2, multi=True)
    Xt, yt = synth(80, 3, multi=True)
    model = small().fit(X, y, progress=False)
    assert model.multi_label_
    proba = model.predict_proba(Xt)
    assert ((proba >= 0) & (proba <= 1)).all()
    pred = model.predict(Xt)
    assert all(isinstance(p, list) and p for p in pred)
    top = [model.classes_[j] for j in proba.argmax(axis=1)]
    assert np.mean([t in truth for t, truth in zip(top, yt)]) > 0.9
    model.save(tmp_path / "ml")
    np.testing.assert_array_equal(load_model(tmp_path / "ml").predict_proba(Xt), proba)


def test_ova_loss_and_char_ngrams() -> None:
    X, y = synth(200, 4)
    Xt, yt = synth(60, 5)
    model = FastTextClassifier(dim=16, epochs=8, batch_size=16, lr=0.5, loss="ova", use_char_ngrams=True,
                               char_ngrams=(3, 4), early_stopping_patience=0).fit(X, y, progress=False)
    assert np.mean(np.array(model.predict(Xt)) == np.array(yt)) > 0.9
    np.testing.assert_allclose(model.predict_proba(Xt).sum(axis=1), 1.0, atol=1e-9)


def test_validation_early_stopping_history() -> None:
    X, y = synth(200, 6)
    Xv, yv = synth(60, 7)
    model = FastTextClassifier(dim=16, epochs=6, batch_size=16, lr=0.5, early_stopping_patience=1)
    model.fit(X, y, X_val=Xv, y_val=yv, progress=False)
    history = model.card_["history"]
    assert 1 <= len(history) <= 6
    assert all("val_macro_f1" in h and "loss" in h for h in history)
    assert model.card_["best_epoch"] >= 1


def test_training_is_reproducible() -> None:
    X, y = synth(120, 8)
    a = small().fit(X, y, progress=False)
    b = small().fit(X, y, progress=False)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    np.testing.assert_array_equal(a.weight_, b.weight_)


def test_hashing_is_deterministic_across_processes() -> None:
    text = "Acme plumbing & heating: boiler repair, leak detection — Zürich"
    ptr, ids = Hasher(3, (3, 5), True, 2_000_000, 100).transform([text])
    code = (
        "from siteclass.models.fasttext import Hasher;"
        f"p, i = Hasher(3, (3, 5), True, 2_000_000, 100).transform([{text!r}]);"
        "print(','.join(map(str, i.tolist())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout.strip()
    assert out == ",".join(map(str, ids.tolist()))
    assert ptr.tolist() == [0, len(ids)]
    assert ((ids >= 0) & (ids < 2_000_000)).all()


def test_from_settings_uses_every_field() -> None:
    from siteclass.config import TrainSettings

    s = TrainSettings.model_validate({"seed": 7, "fasttext": {"dim": 32, "epochs": 3}})
    model = FastTextClassifier.from_settings(s)
    assert (model.dim, model.epochs, model.seed) == (32, 3, 7)
    assert set(s.fasttext.model_dump()) <= set(model.get_params())


def test_hash_cache_changes_nothing(monkeypatch) -> None:
    """Word hashes kept between calls (and the cache emptied when full) give the same features as a cold start."""
    import siteclass.models.fasttext as ft

    texts = ["Acme plumbing & heating: boiler repair — Zürich", "bread bread cakes", "", "x y z acme"]
    for args in [(2, (3, 5), False, 1 << 20, 50), (3, (2, 4), True, 1 << 16, 50)]:
        cold = [Hasher(*args).transform([t]) for t in texts] + [Hasher(*args).transform(texts)]
        cache: dict = {}
        warm = [Hasher(*args, cache=cache).transform([t]) for t in texts] + [Hasher(*args, cache=cache).transform(texts)]
        assert len(cache) > 5
        monkeypatch.setattr(ft, "_CACHE_WORDS", 3)
        small: dict = {}
        tight = [Hasher(*args, cache=small).transform([t]) for t in texts] + [Hasher(*args, cache=small).transform(texts)]
        monkeypatch.undo()
        assert len(small) < len(cache)
        for a, b, c in zip(cold, warm, tight):
            for x, y, z in zip(a, b, c):
                np.testing.assert_array_equal(x, y)
                np.testing.assert_array_equal(x, z)


def test_changing_char_ngram_settings_starts_a_new_hash_cache() -> None:
    model = FastTextClassifier(use_char_ngrams=False)
    text = ["acme plumbing heating"]
    plain = model._hasher().transform(text)
    model.use_char_ngrams, model.char_ngrams = True, (2, 4)
    with_chars = model._hasher().transform(text)
    fresh = Hasher(model.word_ngrams, (2, 4), True, model.buckets, model.max_tokens).transform(text)
    assert len(with_chars[1]) > len(plain[1])
    np.testing.assert_array_equal(with_chars[1], fresh[1])
