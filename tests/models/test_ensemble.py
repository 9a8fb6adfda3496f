"""Contract tests of the ``ensemble`` model (TF-IDF → SVM + LR per class, blended into one linear model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import CLASSES, synth

from siteclass.errors import InputError, ModelError
from siteclass.models.base import load_model
from siteclass.models.calibration import fit_blend
from siteclass.models.ensemble import (
    SparseEnsembleClassifier,
    fit_global_threshold,
    fit_shrunk_thresholds,
    fit_thresholds,
    nb_ratios,
)
from siteclass.models.registry import model_class
from siteclass.records import as_records, record_text


def small(**kw) -> SparseEnsembleClassifier:
    return SparseEnsembleClassifier(max_features=5000, min_df=1, n_jobs=1, **kw)


@pytest.fixture(scope="module")
def single() -> tuple[SparseEnsembleClassifier, list[dict], list]:
    X, y = synth(200, 0)
    Xv, yv = synth(60, 5)
    Xt, yt = synth(80, 1)
    return small().fit(X, y, X_val=Xv, y_val=yv).calibrate(Xv, yv), Xt, yt  # type: ignore[return-value]


def test_registered() -> None:
    assert model_class("ensemble") is SparseEnsembleClassifier


def test_fit_predict_proba(single) -> None:
    model, Xt, yt = single
    pred = model.predict(Xt)
    assert np.mean(np.array(pred) == np.array(yt)) > 0.9
    assert model.predict("fresh bread and croissant from our oven pastry baker") == "bakery"
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), len(CLASSES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert model.temperature_ != 1.0  # calibrated on val


def test_fixed_blend_is_the_weighted_members() -> None:
    """``blend = "fixed"``: the stored coefficients are the SVM's and the LR's blended with ``svm_weight`` on
    their temperature scales (no NB-SVM solved)."""
    X, y = synth(200, 0)
    Xv, yv = synth(60, 5)
    Xt, _ = synth(80, 1)
    model = small(blend="fixed").fit(X, y, X_val=Xv, y_val=yv)
    svm = small(blend="fixed", svm_weight=1.0).fit(X, y, X_val=Xv, y_val=yv)
    lr = small(blend="fixed", svm_weight=0.0).fit(X, y, X_val=Xv, y_val=yv)
    assert set(model._parts) == {"svm", "lr"}
    assert svm.card_["member_scales"] == model.card_["member_scales"] == lr.card_["member_scales"]
    blended = 0.5 * svm.decision_function(Xt) + 0.5 * lr.decision_function(Xt)
    np.testing.assert_allclose(model.decision_function(Xt), blended, rtol=1e-9, atol=1e-9)


def test_val_blend_weighs_the_members_as_fit_blend_does(single) -> None:
    """``blend = "val"`` (the default): SVM, LR and NB-SVM weighted by ``fit_blend`` on val, each val row weighted
    by its class's balanced weight; the saved coefficients are that weighted sum of the members'."""
    model, _, _ = single
    Xv, yv = synth(60, 5)
    parts = model._parts
    assert set(parts) == {"svm", "lr", "nbsvm"}
    Y = model.encode(yv)
    Z = model._transform([record_text(r, model.max_pages) for r in as_records(Xv)])
    members = [np.asarray(Z @ parts[k][0].T) + parts[k][1] for k in parts]
    counts = np.bincount(Y, minlength=len(model.classes_))
    w, _ = fit_blend(members, Y, False, sample_weight=(len(Y) / (len(counts) * counts))[Y])
    blend = model.card_["blend"]
    np.testing.assert_allclose([blend[k] for k in parts], w, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.coef_, sum(blend[k] * parts[k][0] for k in parts), atol=1e-12)
    np.testing.assert_allclose(model.intercept_, sum(blend[k] * parts[k][1] for k in parts), atol=1e-12)
    assert min(w) >= 0 and max(w) > 0


def test_balanced_blend_weights_rows_like_duplicates() -> None:
    """``fit_blend``'s ``sample_weight`` is a row's weight in the log-likelihood: weight 2 fits as the row twice."""
    rng = np.random.default_rng(0)
    members = [rng.normal(size=(40, 3)) for _ in range(2)]
    Y = rng.integers(0, 3, 40)
    members[0][np.arange(40), Y] += 1.0
    weight = np.where(np.arange(40) < 10, 2.0, 1.0)
    twice = np.r_[np.arange(40), np.arange(10)]
    got, _ = fit_blend(members, Y, False, sample_weight=weight)
    want, _ = fit_blend([m[twice] for m in members], Y[twice], False)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(got, fit_blend(members, Y, False)[0], rtol=1e-3)


def test_save_load_round_trip_without_pickle(single, tmp_path) -> None:
    model, Xt, _ = single
    model.save(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"config.json", "labels.json", "model.safetensors", "README.md", "vocabulary.json"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".pt", ".bin", ".joblib"))]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "ensemble"
    assert set(config["params"]) == set(model.get_params())
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, SparseEnsembleClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), model.predict_proba(Xt))
    assert loaded.temperature_ == model.temperature_


def test_multi_label_with_thresholds(tmp_path) -> None:
    X, y = synth(240, 2, multi=True)
    Xv, yv = synth(80, 4, multi=True)
    Xt, yt = synth(80, 3, multi=True)
    plain = small(thresholds="none").fit(X, y, X_val=Xv, y_val=yv)
    model = small(thresholds="val").fit(X, y, X_val=Xv, y_val=yv)
    assert model.multi_label_
    # after the blend, ONE threshold for all classes, then per-class ones shrunk toward it, folded into the
    # intercepts; nothing else changes
    np.testing.assert_allclose(model.coef_, plain.coef_)
    Zv, Yv = plain.decision_function(Xv), model.encode(yv)
    cut = fit_global_threshold(Zv, Yv)
    lam, per_class = fit_shrunk_thresholds(Zv - cut, Yv, model.seed)
    np.testing.assert_allclose(plain.intercept_ - model.intercept_, cut + per_class, atol=1e-12)
    assert model.card_["threshold"] == pytest.approx(1 / (1 + np.exp(-cut)))
    assert model.card_["class_threshold_shrink"] == lam
    proba = model.calibrate(Xv, yv).predict_proba(Xt)
    assert proba.shape == (len(Xt), len(CLASSES)) and np.all((proba >= 0) & (proba <= 1))
    pred = model.predict(Xt)
    assert all(isinstance(p, list) and p for p in pred)
    hits = np.mean([set(p) == set(t) for p, t in zip(pred, yt)])
    assert hits > 0.8
    model.save(tmp_path / "ml")
    np.testing.assert_array_equal(load_model(tmp_path / "ml").predict_proba(Xt), proba)


def test_fit_thresholds_maximise_f1() -> None:
    scores = np.array([[3.0], [2.0], [1.0], [0.0], [-1.0]])
    Y = np.array([[1], [1], [0], [1], [0]])
    # cuts after rows 1, 2, 4: F1 = 2/3, 0.8, 0.75 → the cut after the 4th row, between 0 and -1
    assert fit_thresholds(scores, Y)[0] == pytest.approx(-0.5)
    assert fit_thresholds(scores, np.zeros_like(Y))[0] == 0.0


def test_shrunk_thresholds_follow_what_cross_validation_supports() -> None:
    """Classes whose scores sit off zero by a constant: per-class thresholds pay on held-out halves, so the
    cross-validated shrinkage keeps most of them; scores that carry no class offset get (almost) none."""
    rng = np.random.default_rng(0)
    Y = (rng.random((2000, 4)) < [0.5, 0.2, 0.1, 0.05]).astype(np.int64)
    signal = np.where(Y == 1, 1.5, -1.5) + rng.normal(0, 1.0, Y.shape)
    offsets = np.array([0.0, 2.0, -2.0, 3.0])
    lam, shift = fit_shrunk_thresholds(signal + offsets, Y)
    assert lam >= 0.7
    np.testing.assert_allclose(shift, lam * fit_thresholds(signal + offsets, Y))
    assert np.corrcoef(shift, offsets)[0, 1] > 0.9
    _, shift0 = fit_shrunk_thresholds(signal[:, :1], Y[:, :1])  # a balanced class scored around 0
    assert np.abs(shift0).max() < 0.5


def test_nb_ratios_are_log_count_ratios_of_binarised_features() -> None:
    from scipy import sparse

    X = sparse.random(80, 40, density=0.2, format="csr", random_state=1)
    y = (np.arange(80) % 4 == 0).astype(int)
    present = (X > 0).astype(np.float64)
    p = np.asarray(present[y == 1].sum(axis=0)).ravel() + 1
    q = np.asarray(present[y == 0].sum(axis=0)).ravel() + 1
    np.testing.assert_allclose(nb_ratios(X, y), np.log((p / p.sum()) / (q / q.sum())))


def test_deterministic_with_a_seed() -> None:
    X, y = synth(150, 7)
    Xv, yv = synth(40, 8)
    a = small(seed=3).fit(X, y, X_val=Xv, y_val=yv)
    b = small(seed=3).fit(X, y, X_val=Xv, y_val=yv)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)


def test_without_val_and_bad_weight() -> None:
    X, y = synth(120, 9)
    model = small().fit(X, y)  # no val split: the fixed blend (the NB-SVM solved all the same, for a refit)
    assert model.card_["member_scales"]["lr"] == 1.0 and model.card_["member_scales"]["svm"] > 0
    assert set(model.card_["blend"]) == {"svm", "lr", "bias"} and set(model._parts) == {"svm", "lr", "nbsvm"}
    assert model.predict("attorney court lawyer legal litigation") == "law"
    with pytest.raises(InputError):
        small(svm_weight=1.5).fit(X, y)


def test_refit_carries_the_blend_val_chose() -> None:
    """train --refit: the model fitted on train + val (no val left: fixed blend) weighs its own members with the
    weights, bias and thresholds that val chose for the same settings; a pickled copy no longer holds them."""
    import pickle

    X, Y = synth(150, 0, multi=True)
    Xv, Yv = synth(60, 3, multi=True)
    chosen = small().fit(X, Y, X_val=Xv, y_val=Yv)
    refit = small().fit(X + Xv, Y + Yv)
    assert refit.card_["blend"] != chosen.card_["blend"]
    refit.carry_choices(chosen)
    assert refit.card_["blend"] == chosen.card_["blend"] and refit.card_["threshold"] == chosen.card_["threshold"]
    blend, parts = chosen.card_["blend"], refit._parts
    shift = np.asarray(chosen.card_.get("threshold_shift", 0.0))
    np.testing.assert_allclose(refit.coef_, sum(blend[k] * parts[k][0] for k in parts))
    np.testing.assert_allclose(refit.intercept_, sum(blend[k] * parts[k][1] for k in parts) + blend["bias"] - shift)
    copy = pickle.loads(pickle.dumps(refit))
    assert not hasattr(copy, "_parts")
    with pytest.raises(ModelError, match="fresh from fit"):
        copy.carry_choices(chosen)


def test_without_nb_member() -> None:
    X, y = synth(120, 9)
    Xv, yv = synth(40, 8)
    model = small(C_nb=0).fit(X, y, X_val=Xv, y_val=yv)
    assert set(model._parts) == {"svm", "lr"} and "nbsvm" not in model.card_["blend"]


@pytest.mark.slow
@pytest.mark.realdata
def test_beats_tuned_lr_on_crunchbase_single(crunchbase) -> None:
    """On the single-label task (``bench quality``'s seed-0 split: CRC-32 of the domain, 70/10/20), the ensemble's
    test macro-F1 beats anchor A (tuned TF-IDF + LogisticRegression, trained on the same rows) by ≥ 2 points.
    Measured: 0.493 vs 0.422 (+7.1 points; 0.470 before the NB-SVM member and the val-fitted blend); on a 4K-row
    sample the two were level (0.346 vs 0.353), so the test uses the whole task, where rare classes have enough rows
    to tell them apart (~2 minutes on 2 cores)."""
    import zlib

    import pyarrow.parquet as pq
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    cols = ["name", "domain", "description", "full_description", "industry_group_single"]
    parts: dict[str, tuple[list[str], list[str]]] = {s: ([], []) for s in ("train", "val", "test")}
    for r in pq.read_table(crunchbase, columns=cols).to_pylist():
        if r["industry_group_single"]:
            h = zlib.crc32(r["domain"].encode("utf-8")) % 10
            texts, labels = parts["train" if h < 7 else ("val" if h == 7 else "test")]
            texts.append(f"{r['name'] or ''}\n{r['description'] or ''}\n{r['full_description'] or ''}")
            labels.append(r["industry_group_single"])
    (X, y), (Xv, yv), (Xt, yt) = parts["train"], parts["val"], parts["test"]
    model = SparseEnsembleClassifier(n_jobs=2).fit(X, y, X_val=Xv, y_val=yv)
    ours = f1_score(yt, model.predict(Xt), average="macro")
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=300_000)
    anchor = LogisticRegression(C=8, class_weight="balanced", max_iter=2000).fit(vec.fit_transform(X), y)
    theirs = f1_score(yt, anchor.predict(vec.transform(Xt)), average="macro")
    assert ours >= theirs + 0.02, (ours, theirs)
