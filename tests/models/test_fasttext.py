"""The fasttext model on tiny synthetic data: hashing, losses, early stopping, what is its own.

The classifier contract (fit/predict/proba, multi-label, save/load, calibration, determinism, tags) is checked
for every model in test_contract.py.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from synthetic import synth

from siteclass.models.fasttext import FastTextClassifier, Hasher


def small() -> FastTextClassifier:
    return FastTextClassifier(dim=16, epochs=8, batch_size=16, lr=0.5, early_stopping_patience=0, seed=1)


@pytest.fixture(scope="module")
def single() -> tuple[FastTextClassifier, list[dict], list]:
    X, y = synth(240, 0)
    Xt, yt = synth(80, 1)
    return small().fit(X, y, progress=False), Xt, yt




def test_unseen_text_gives_prior_not_error(single) -> None:
    model, _, _ = single
    proba = model.predict_proba(["zzzz qqqq"])
    assert proba.shape == (1, 4) and np.isfinite(proba).all()




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
