"""Tests of the ``hybrid`` model (the ensemble's TF-IDF members + LR on frozen int8 MiniLM embeddings + neighbour
votes, stacked).

The real MiniLM encoder (int8 ONNX graph built at fit) runs on CPU with 32 tokens: marked ``slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from synthetic import synth

from siteclass.errors import InputError
from siteclass.models.base import load_model
from siteclass.models.ensemble import SparseEnsembleClassifier, nb_ratios
from siteclass.models.hybrid import INT8_FILE, HybridClassifier
from siteclass.models.neighbors import NeighbourVotes
from siteclass.models.registry import model_class
from siteclass.records import record_text

pytestmark = pytest.mark.slow


def without(*packages: str) -> str:
    """The first lines of a child process's code in which importing *packages* raises ImportError, as on an
    install without them."""
    return (
        "import importlib.abc, json, sys\n"
        "class Missing(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name.split('.')[0] in {packages!r}:\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Missing())\n"
    )


def small(**kw) -> HybridClassifier:
    return HybridClassifier(max_features=5000, min_df=1, n_jobs=1, max_tokens=32, **kw)


@pytest.fixture(scope="module")
def data() -> tuple[list, list, list, list]:
    X, y = synth(120, 0)
    Xv, yv = synth(40, 5)
    return X, y, Xv, yv


def test_registered() -> None:
    assert model_class("hybrid") is HybridClassifier


def test_logits_are_the_stack_of_its_members(data) -> None:
    """logits = (TF-IDF @ coef + intercept) + w_emb · (embedding @ emb_coef + emb_intercept) + w_knn · neighbour
    votes, with the weights fitted on val; coef is the ensemble's SVM, LR and NB-SVM folded together with the
    weights val gave them (so the saved model holds one TF-IDF matrix)."""
    X, y, Xv, yv = data
    model = small().fit(X, y, X_val=Xv, y_val=yv)
    texts = [record_text(r, model.max_pages) for r in Xv]
    E = model._encoder().encode(texts).astype(np.float64)
    tfidf = np.asarray(model._transform(texts) @ model.coef_.T) + model.intercept_
    emb = E @ model.emb_coef_.T + model.emb_intercept_
    votes = model.knn_.votes(E)
    w = model.blend_
    np.testing.assert_allclose(model.decision_function(Xv), w[0] * tfidf + w[1] * emb + w[2] * votes + w[3],
                               atol=1e-8)
    assert w[0] == 1.0 and w[3] == 0.0 and model.emb_coef_.shape == (len(model.classes_), 384)
    blend = model.card_["blend"]
    assert set(blend) == {"svm", "lr", "nbsvm", "emb", "knn", "bias"}
    assert blend["bias"] == 0.0  # single-label: a bias would change nothing
    assert (w[1], w[2]) == (blend["emb"], blend["knn"])
    parts = model._parts  # the TF-IDF members before the fold
    np.testing.assert_allclose(model.coef_, sum(blend[kd] * parts[kd][0] for kd in ("svm", "lr", "nbsvm")))
    np.testing.assert_allclose(model.intercept_, sum(blend[kd] * parts[kd][1] for kd in ("svm", "lr", "nbsvm")))


def test_single_label_blend_is_fitted_by_class_balanced_log_loss(data) -> None:
    """Single-label: the five weights are fit_blend's on the members' val scores with each val row weighed by its
    class's balanced weight (the ensemble's rule: every member is trained balanced)."""
    from siteclass.models.calibration import fit_blend

    X, y, Xv, yv = data
    model = small().fit(X, y, X_val=Xv, y_val=yv)
    texts = [record_text(r, model.max_pages) for r in Xv]
    E = model._encoder().encode(texts).astype(np.float64)
    Xt = model._transform(texts)
    members = [np.asarray(Xt @ model._parts[kd][0].T) + model._parts[kd][1] for kd in ("svm", "lr", "nbsvm")]
    members += [E @ model.emb_coef_.T + model.emb_intercept_, model.knn_.votes(E)]
    Y = model.encode(yv)
    counts = np.bincount(Y, minlength=len(model.classes_))
    w, _ = fit_blend(members, Y, False, sample_weight=len(Y) / (len(model.classes_) * counts[Y]))
    blend = model.card_["blend"]
    np.testing.assert_allclose([blend[k] for k in ("svm", "lr", "nbsvm", "emb", "knn")], w, rtol=1e-6, atol=1e-8)


def test_embedding_head_C_is_the_grid_value_with_the_lowest_val_log_loss(data) -> None:
    """C_emb = "val": a logistic regression (balanced class weights) per C of the grid on the standardised
    embeddings; the one with the lowest class-balanced val log-loss is kept (sklearn's log_loss as the reference),
    named on the card, and handed to a refit."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    X, y, Xv, yv = data
    grid = (0.001, 0.01, 0.1, 1.0)
    model = small(C_emb_grid=grid).fit(X, y, X_val=Xv, y_val=yv)
    enc = model._encoder()
    E = enc.encode([record_text(r, model.max_pages) for r in X]).astype(np.float64)
    Ev = enc.encode([record_text(r, model.max_pages) for r in Xv]).astype(np.float64)
    mean, scale = E.mean(axis=0), E.std(axis=0) + 1e-6
    Y, Yv = model.encode(y), model.encode(yv)
    k = len(model.classes_)
    sw = len(Y) / (k * np.bincount(Y, minlength=k)[Y])
    swv = len(Yv) / (k * np.bincount(Yv, minlength=k)[Yv])
    losses = []
    for C in grid:
        lr = LogisticRegression(C=C, max_iter=model.max_iter).fit((E - mean) / scale, Y, sample_weight=sw)
        losses.append(log_loss(Yv, lr.predict_proba((Ev - mean) / scale), sample_weight=swv, labels=range(k)))
    card = model.card_
    np.testing.assert_allclose([card["C_emb_val_loss"][f"{C:g}"] for C in grid], losses, atol=2e-3)
    assert card["C_emb"] == grid[int(np.argmin(losses))]
    assert model.refit_params()["C_emb"] == card["C_emb"]
    fixed = small(C_emb=0.5).fit(X, y, X_val=Xv, y_val=yv)
    assert fixed.card_["C_emb"] == 0.5 and "C_emb_val_loss" not in fixed.card_ and "C_emb" not in fixed.refit_params()
    assert small(C_emb_grid=grid).fit(X, y).card_["C_emb"] == 0.01  # no val: the grid's middle value


def test_nbsvm_member_is_an_svm_on_features_scaled_by_naive_bayes_ratios(data) -> None:
    """Each class's NB-SVM: a LinearSVC (balanced per-class weights as the ensemble's SVM) on X · diag(r), r the
    log-count ratios of the binarised features with add-one smoothing (nb_ratios); its weights mapped back
    (w · r)."""
    from sklearn.svm import LinearSVC

    X, y, Xv, yv = data
    model = small().fit(X, y, X_val=Xv, y_val=yv)
    W, b = model._parts["nbsvm"]
    Xt = model._transform([record_text(r, model.max_pages) for r in X])
    Yb = model.encode(y)
    counts = np.bincount(Yb, minlength=len(model.classes_))
    sw = (len(Yb) / (len(model.classes_) * counts))[Yb]
    j = int(np.argmax(counts))
    target = (Yb == j).astype(int)
    r = nb_ratios(Xt, target)  # checked against the log-count ratios by hand in test_ensemble.py
    svm = LinearSVC(C=model.C_nb, tol=model.tol, max_iter=model.max_iter, random_state=model.seed)
    svm.fit(Xt.multiply(r).tocsr(), target, sample_weight=sw)
    np.testing.assert_allclose(W[j], svm.coef_[0] * r, atol=1e-6)
    assert b[j] == pytest.approx(svm.intercept_[0], abs=1e-6)


def test_without_nbsvm_the_blend_has_no_such_member(data) -> None:
    X, y, Xv, yv = data
    model = small(C_nb=0).fit(X, y, X_val=Xv, y_val=yv)
    assert "nbsvm" not in model._parts and set(model.card_["blend"]) == {"svm", "lr", "emb", "knn", "bias"}


def test_answer_does_not_depend_on_the_batch(data) -> None:
    """The int8 encoder's activation ranges are fixed when its graph is built: a site scored alone gets the
    probabilities it gets beside others (with per-batch ranges they moved)."""
    X, y, Xv, _ = data
    model = small().fit(X, y)
    batch = model.predict_proba(Xv[:12])
    model._encoder().clear_cache()
    alone = np.vstack([model.predict_proba([r]) for r in Xv[:12]])
    np.testing.assert_allclose(alone, batch, rtol=0, atol=1e-6)


def test_neighbour_votes_are_the_labels_of_the_nearest_rows() -> None:
    """Votes: the similarity-weighted share of the k nearest rows carrying each class (checked by brute force)."""
    rng = np.random.default_rng(0)
    E, Q = rng.normal(size=(60, 8)), rng.normal(size=(7, 8))
    Y = (rng.random((60, 4)) < 0.4).astype(np.int64)
    votes = NeighbourVotes(k=5, power=2.0).fit(E, Y, 4).votes(Q)
    En = E / np.linalg.norm(E, axis=1, keepdims=True)
    for q, row in zip(Q, votes):
        sim = En @ (q / np.linalg.norm(q))
        near = np.argsort(-sim)[:5]
        w = sim[near].clip(0) ** 2
        np.testing.assert_allclose(row, w @ Y[near] / w.sum(), atol=2e-3)  # memory kept as float16
    single = NeighbourVotes(k=5, power=2.0).fit(E, Y.argmax(1), 4).votes(Q)
    np.testing.assert_allclose(single.sum(axis=1), 1.0, atol=1e-6)


def test_blend_fitted_on_val_beats_none_of_its_members_on_val() -> None:
    """fit_blend minimises the val log-loss over the member weights: the stack's loss is at most each member's
    own best-scaled loss (a member alone is one point of the search)."""
    from siteclass.models.calibration import fit_blend, fit_temperature

    rng = np.random.default_rng(1)
    Y = rng.integers(0, 3, 300)
    truth = np.eye(3)[Y]
    members = [truth * 2 + rng.normal(0, 1.5, (300, 3)), truth + rng.normal(0, 1.0, (300, 3))]

    def nll(z: np.ndarray) -> float:
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(300), Y].mean())

    w, b = fit_blend(members, Y, multi_label=False)
    stacked = nll(w[0] * members[0] + w[1] * members[1])
    for m in members:
        assert stacked <= nll(m / fit_temperature(m, Y, False)) + 1e-6
    assert b == 0.0 and (w > 0).all()


def test_blend_leaves_out_a_member_rather_than_turning_it_against() -> None:
    """A member whose scores point away from the truth gets weight 0, not a negative weight (which would fit
    held-out noise by reading a member upside down); the bias stays free (multi-label)."""
    from siteclass.models.calibration import fit_blend

    rng = np.random.default_rng(2)
    Y = (rng.random((400, 3)) < 0.3).astype(np.float64)
    good, contrary = 3 * Y - 1.5 + rng.normal(0, 1, Y.shape), -2 * Y + rng.normal(0, 1, Y.shape)
    w, b = fit_blend([good, contrary], Y, multi_label=True)
    assert w[0] > 0.5 and w[1] == 0.0 and b < 0  # 30 % positives: a negative bias
    w_free, _ = fit_blend([good, -contrary], Y, multi_label=True)
    assert w_free[1] > 0.0


def test_fixed_blend_without_knn_or_embeddings_is_the_ensemble(data) -> None:
    """blend = fixed, emb_weight = 0, knn_weight = 0: the answers are the ensemble's (same TF-IDF scorer)."""
    X, y, Xv, yv = data
    hybrid = small(blend="fixed", emb_weight=0.0, knn_weight=0.0).fit(X, y, X_val=Xv, y_val=yv)
    ensemble = SparseEnsembleClassifier(max_features=5000, min_df=1, n_jobs=1).fit(X, y, X_val=Xv, y_val=yv)
    assert hybrid.blend_[1] == 0.0 and hybrid.blend_[2] == 0.0
    np.testing.assert_array_equal(hybrid.decision_function(Xv).argmax(1), ensemble.decision_function(Xv).argmax(1))


def test_multi_label_thresholds_global_then_per_class_shrunk() -> None:
    """Multi-label: the blend's bias holds ONE threshold, the macro-F1-best on val (fit_global_threshold); then
    per-class thresholds fitted on val, shrunk by the cross-validated factor; both sit in the TF-IDF intercepts."""
    from siteclass.models.ensemble import fit_global_threshold, fit_shrunk_thresholds

    X, Y = synth(150, 0, multi=True)
    Xv, Yv = synth(60, 3, multi=True)
    model = small().fit(X, Y, X_val=Xv, y_val=Yv)
    assert 0.05 <= model.card_["threshold"] <= 0.95
    untuned = small(thresholds="none").fit(X, Y, X_val=Xv, y_val=Yv)
    logits = untuned.decision_function(Xv) * untuned.temperature_  # the stack, before calibration
    cut = fit_global_threshold(logits, model.encode(Yv))
    np.testing.assert_allclose(model.blend_, untuned.blend_)
    assert model.card_["blend"]["bias"] == pytest.approx(untuned.card_["blend"]["bias"] - cut)
    shrink, shift = fit_shrunk_thresholds(logits - cut, model.encode(Yv), model.seed)
    assert model.card_["class_threshold_shrink"] == shrink
    np.testing.assert_allclose(model.intercept_, untuned.intercept_ - cut - shift, atol=1e-9)
    np.testing.assert_allclose(model.card_.get("threshold_shift", np.zeros(len(shift))), shift, atol=1e-12)


def test_bad_weight_is_refused(data) -> None:
    X, y, _, _ = data
    with pytest.raises(InputError, match="emb_weight"):
        small(emb_weight=1.5).fit(X, y)


def test_saved_folder_predicts_without_torch(data, tmp_path) -> None:
    """The saved folder holds the int8 encoder graph and its tokenizer: a process that cannot import torch loads
    it and gives the same probabilities."""
    X, y, Xv, yv = data
    model = small().fit(X, y, X_val=Xv, y_val=yv)
    folder = model.save(tmp_path / "m")
    assert (folder / "encoder" / INT8_FILE).is_file() and (folder / "encoder" / "tokenizer.json").is_file()
    np.testing.assert_allclose(load_model(folder).predict_proba(Xv), model.predict_proba(Xv), atol=1e-9)
    (tmp_path / "records.json").write_text(json.dumps(Xv), encoding="utf-8")
    code = (
        without("torch") +
        "from siteclass.models.base import load_model\n"
        f"m = load_model({str(folder)!r})\n"
        f"recs = json.load(open({str(tmp_path / 'records.json')!r}))\n"
        "print(json.dumps(m.predict_proba(recs).tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(np.array(json.loads(out.stdout)), model.predict_proba(Xv), atol=1e-6)


def test_refit_carries_the_blend_val_chose() -> None:
    """train --refit: the model fitted on train + val (no val left: fixed blend) takes the blend and threshold
    that the val split chose for the same settings, and the votes remember every row it was fitted on."""
    X, Y = synth(150, 0, multi=True)
    Xv, Yv = synth(60, 3, multi=True)
    chosen = small().fit(X, Y, X_val=Xv, y_val=Yv)
    refit = small(**chosen.refit_params()).fit(X + Xv, Y + Yv)  # as training.refit builds it
    assert refit.card_["C_emb"] == chosen.card_["C_emb"]  # no val to choose it: the one val chose
    assert not np.allclose(refit.blend_, chosen.blend_)  # without val: emb_weight / knn_weight
    refit.carry_choices(chosen)
    np.testing.assert_array_equal(refit.blend_, chosen.blend_)
    assert refit.card_["threshold"] == chosen.card_["threshold"]
    assert refit.card_["blend"] == chosen.card_["blend"]
    parts = refit._parts  # its own members, weighed as val chose
    shift = np.asarray(chosen.card_.get("threshold_shift", 0.0))
    blend = chosen.card_["blend"]
    np.testing.assert_allclose(refit.coef_, sum(blend[kd] * parts[kd][0] for kd in parts))
    intercept = sum(blend[kd] * parts[kd][1] for kd in parts) + blend["bias"] - shift
    np.testing.assert_allclose(refit.intercept_, intercept)
    assert len(refit.knn_.memory_) == len(X) + len(Xv)


def test_model_card_says_it_keeps_training_rows(data, tmp_path) -> None:
    """The neighbour memory is data derived from the training set: the model card says so."""
    X, y, Xv, yv = data
    folder = small().fit(X, y, X_val=Xv, y_val=yv).save(tmp_path / "m")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert f"the sentence embeddings and labels of its {len(X)} training rows" in card


def test_fitting_without_torch_fails_first_and_names_the_way_out(data, tmp_path) -> None:
    """The default model on an install without the torch and onnx extras: one line that says what to install or
    which model needs neither, before any TF-IDF work."""
    X, y, _, _ = data
    (tmp_path / "rows.json").write_text(json.dumps([X, y]), encoding="utf-8")
    code = (
        without("torch", "onnx") +
        "from siteclass.errors import ModelError\n"
        "from siteclass.models.hybrid import HybridClassifier\n"
        f"X, y = json.load(open({str(tmp_path / 'rows.json')!r}))\n"
        "model = HybridClassifier(max_features=5000, min_df=1, n_jobs=1)\n"
        "try:\n"
        "    model.fit(X, y)\n"
        "except ModelError as exc:\n"
        "    print(exc, '| fitted:', hasattr(model, 'coef_'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pip install 'siteclass[torch,onnx]'" in out.stdout and "--model ensemble" in out.stdout
    assert out.stdout.strip().endswith("| fitted: False")
