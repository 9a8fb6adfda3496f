"""The linear model (TF-IDF + logistic regression) on tiny synthetic data: what is its own.

The classifier contract (fit/predict/proba, multi-label, save/load, calibration, determinism, tags) is checked
for every model in test_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import synth

from siteclass.models.linear import LinearClassifier


def small(**kw) -> LinearClassifier:
    return LinearClassifier(C=4.0, max_features=5000, min_df=1, **kw)


@pytest.fixture(scope="module")
def single() -> tuple[LinearClassifier, list[dict], list]:
    X, y = synth(200, 0)
    Xt, yt = synth(80, 1)
    return small().fit(X, y), Xt, yt




def test_logits_match_sklearn_pipeline(single) -> None:
    """The hand-written TF-IDF equals scikit-learn's TfidfVectorizer on the saved vocabulary."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    model, Xt, _ = single
    texts = [f"{r['name']}\n{r['text']}" for r in Xt]
    parts = []
    for key, analyzer, ngrams in (("word", "word", model.word_ngrams), ("char", "char_wb", model.char_ngrams)):
        extra = {"token_pattern": r"(?u)\b\w+\b"} if analyzer == "word" else {}
        vec = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, vocabulary=model.vocabularies_[key],
                              sublinear_tf=True, **extra)
        vec.fit(texts)  # fixed vocabulary: fit only sets idf, replaced below
        vec.idf_ = model.idf_[key]
        parts.append(vec.transform(texts))
    X = sparse.hstack(parts).tocsr()
    expected = X @ model.coef_.T + model.intercept_
    np.testing.assert_allclose(model.decision_function(Xt), expected, rtol=1e-6, atol=1e-8)




def test_two_classes_and_balanced_weights() -> None:
    X, y = synth(200, 4)
    keep = [i for i, lab in enumerate(y) if lab in ("law", "bakery")]
    X2, y2 = [X[i] for i in keep], [y[i] for i in keep]
    model = small(class_weight="balanced").fit(X2, y2)
    proba = model.predict_proba(X2)
    assert proba.shape == (len(X2), 2)
    assert np.mean(np.array(model.predict(X2)) == np.array(y2)) > 0.95


def test_sample_weight_changes_the_fit() -> None:
    X, y = synth(120, 5)
    w = np.where(np.array(y) == "law", 5.0, 1.0)
    a = small().fit(X, y)
    b = small().fit(X, y, sample_weight=w)
    assert not np.allclose(a.coef_, b.coef_)


def test_from_settings() -> None:
    from siteclass.config import TrainSettings

    s = TrainSettings.model_validate({"seed": 3, "linear": {"C": 2.0, "min_df": 1}})
    model = LinearClassifier.from_settings(s)
    assert (model.C, model.min_df, model.seed) == (2.0, 1, 3)
    assert set(s.linear.model_dump()) <= set(model.get_params())


def test_char_vocabulary_and_counts_match_sklearn_char_wb() -> None:
    """Counting n-grams per distinct word gives scikit-learn's char_wb vocabulary (min_df, max_features) and counts."""
    from sklearn.feature_extraction.text import CountVectorizer

    X, _ = synth(60, 6)
    texts = [f"{r['name']}\n{r['text']}" for r in X] + ["ÉCOLE  İstanbul\tStraße\u00a0x", "", "a a a"]
    model = LinearClassifier(min_df=2, max_features=1000)  # 500 of the 742 char n-grams with df ≥ 2
    counts, terms = model._fit_char_counts(texts)
    ref = CountVectorizer(analyzer="char_wb", ngram_range=model.char_ngrams, min_df=2, max_features=500)
    expected = ref.fit_transform(texts)
    assert terms == list(ref.get_feature_names_out())
    assert (counts != expected).nnz == 0
    model.vocabularies_ = {"char": terms}
    assert (model._char_counts(texts[::-1]) != expected[::-1]).nnz == 0


def test_max_features_keeps_the_most_frequent_char_ngrams() -> None:
    X, _ = synth(60, 7)
    texts = [r["text"] for r in X]
    full, terms = LinearClassifier(min_df=1, max_features=2_000_000)._fit_char_counts(texts)
    cut, kept = LinearClassifier(min_df=1, max_features=200)._fit_char_counts(texts)
    assert len(kept) == 100 and kept == sorted(kept)
    tf = dict(zip(terms, np.asarray(full.sum(axis=0)).ravel()))
    assert min(tf[t] for t in kept) >= max(tf[t] for t in terms if t not in set(kept))
    column = {t: j for j, t in enumerate(terms)}
    assert (cut != full[:, [column[t] for t in kept]]).nnz == 0


def test_multi_label_worker_processes_do_not_change_the_fit() -> None:
    X, y = synth(160, 8, multi=True)
    one = small(n_jobs=1).fit(X, y)
    two = small(n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.intercept_, two.intercept_)
