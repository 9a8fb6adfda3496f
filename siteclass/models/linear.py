"""``linear``: TF-IDF of word and character n-grams + logistic regression (the classic strong baseline).

Single-label: one multinomial logistic regression. Multi-label: one binary logistic regression per class
(one-vs-rest). Saved without pickle: the two vocabularies (``vocabulary.json``), the idf vectors and the
coefficients (``model.safetensors``); loading rebuilds the vectorisers from them, and the TF-IDF maths
(sublinear tf, idf, l2 norm) is done here, identically at fit and predict time.

Speed (crunchbase groups, 26K records × 47 labels: ~2 CPU-minutes, faster than a plain TF-IDF + one-vs-rest
LogisticRegression; it took over 25 minutes before these two changes):

- ``char_wb`` n-grams never cross a word boundary, so a document's character n-gram counts are the sum of its
  words' counts. The n-grams are generated once per distinct word and the document matrix is the sparse
  product (documents × words) @ (words × n-grams) — the same counts as scikit-learn's ``char_wb`` analyzer
  (the contract test checks it), without generating the n-grams of every word occurrence in Python.
- Single-label: the multinomial fit (lbfgs) gets the TF-IDF matrix in float32. Its time is nearly all sparse
  products with the 100K × classes coefficients; in float32 the fit on crunchbase single (6.4K rows, 40 classes)
  took 33 s instead of 52 s, with the same test accuracy and macro-F1 (within 0.001).
- Multi-label: each one-vs-rest problem is solved by liblinear's *dual* coordinate descent (many more features
  than rows), to liblinear's own tolerance (``ovr_tol``), in ``n_jobs`` worker processes (reproducible:
  liblinear's random generator is per process).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from siteclass.config import TrainSettings
from siteclass.errors import ModelError
from siteclass.models.base import Classifier
from siteclass.records import Record, record_text

VOCAB_FILE = "vocabulary.json"


_T = TrainSettings()  # hyperparameter defaults live in siteclass.config, nowhere else
_P = _T.linear


class LinearClassifier(Classifier):
    """TF-IDF (word + char_wb n-grams) → LogisticRegression; see the module docstring."""

    model_type = "linear"
    gil_bound = True  # TF-IDF in Python/scipy: serve gives it a model process

    def __init__(
        self,
        C: float = _P.C,
        word_ngrams: tuple[int, int] = _P.word_ngrams,
        char_ngrams: tuple[int, int] = _P.char_ngrams,
        max_features: int = _P.max_features,
        min_df: int = _P.min_df,
        sublinear_tf: bool = _P.sublinear_tf,
        max_iter: int = _P.max_iter,
        class_weight: Literal["none", "balanced"] = _P.class_weight,
        max_pages: int = _P.max_pages,
        ovr_tol: float = _P.ovr_tol,
        n_jobs: int = _P.n_jobs,
        seed: int = _T.seed,
    ) -> None:
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_features = max_features
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.max_pages = max_pages
        self.ovr_tol = ovr_tol
        self.n_jobs = n_jobs
        self.seed = seed

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> LinearClassifier:
        return cls(**settings.linear.model_dump(), seed=settings.seed)

    # --------------------------------------------------------------- features
    def _word_counter(self, vocabulary: list[str] | None = None) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer

        word = tuple(int(v) for v in self.word_ngrams)
        limits: dict[str, Any] = ({"vocabulary": vocabulary} if vocabulary is not None else
                                  {"min_df": self.min_df, "max_features": self.max_features // 2})
        return CountVectorizer(analyzer="word", ngram_range=word, token_pattern=r"(?u)\b\w+\b", lowercase=True,
                               dtype=np.float32, **limits)

    def _char_counter(self, vocabulary: list[str] | None = None) -> Any:
        """``char_wb`` n-grams of single (already lower-cased) words."""
        from sklearn.feature_extraction.text import CountVectorizer

        char = tuple(int(v) for v in self.char_ngrams)
        return CountVectorizer(analyzer="char_wb", ngram_range=char, lowercase=False, dtype=np.float32,
                               vocabulary=vocabulary)

    def _char_counts(self, texts: list[str]) -> Any:
        """Character n-gram counts of ``texts`` on the fitted vocabulary (see the module docstring)."""
        D, words = _word_occurrences(texts)
        if not hasattr(self, "_char_vec"):
            self._char_vec = self._char_counter(self.vocabularies_["char"])
        if not words:
            from scipy import sparse

            return sparse.csr_matrix((len(texts), len(self.vocabularies_["char"])), dtype=np.float32)
        return (D @ self._char_vec.transform(words)).tocsr()

    def _fit_char_counts(self, texts: list[str]) -> tuple[Any, list[str]]:
        """Fit the character n-gram vocabulary as CountVectorizer does (``min_df``, then the ``max_features -
        max_features // 2`` most frequent) and return the training counts and the terms (sorted)."""
        D, words = _word_occurrences(texts)
        vocab = self._char_counter()
        W = vocab.fit_transform(words)
        terms = np.asarray(vocab.get_feature_names_out(), dtype=object)
        counts = (D @ W).tocsr()
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        keep = np.flatnonzero(df >= self.min_df)
        if not len(keep):  # min_df leaves no term (tiny data): keep every term
            keep = np.arange(counts.shape[1])
        limit = self.max_features - self.max_features // 2
        if len(keep) > limit:  # the most frequent, ties broken as CountVectorizer._limit_features does
            tf = np.asarray(counts.sum(axis=0)).ravel()
            keep = np.sort(keep[(-tf[keep]).argsort()[:limit]])
        return counts[:, keep].tocsr(), [str(t) for t in terms[keep]]

    def _tfidf(self, counts: Any, idf: np.ndarray) -> Any:
        from sklearn.preprocessing import normalize

        X = counts.tocsr().astype(np.float64)
        if self.sublinear_tf:
            np.log(X.data, out=X.data)
            X.data += 1.0
        X = X.multiply(idf).tocsr()
        return normalize(X, norm="l2", copy=False)

    def _transform(self, texts: list[str]) -> Any:
        from scipy import sparse

        if not hasattr(self, "_word_vec"):
            self._word_vec = self._word_counter(self.vocabularies_["word"])
        parts = [self._tfidf(self._word_vec.transform(texts), self.idf_["word"]),
                 self._tfidf(self._char_counts(texts), self.idf_["char"])]
        return sparse.hstack(parts, format="csr")

    # --------------------------------------------------------------- fit / logits
    def _fit_features(self, texts: list[str]) -> Any:
        """Fit the vocabularies and idf vectors on ``texts``; return their TF-IDF matrix (csr, float64)."""
        from scipy import sparse

        n = len(texts)
        word_vec = self._word_counter()
        try:
            word_counts = word_vec.fit_transform(texts)
        except ValueError:  # min_df leaves no term (tiny data): keep every term
            word_vec.set_params(min_df=1)
            word_counts = word_vec.fit_transform(texts)
        char_counts, char_terms = self._fit_char_counts(texts)
        self.vocabularies_ = {"word": [str(t) for t in word_vec.get_feature_names_out()], "char": char_terms}
        self.idf_ = {}
        parts = []
        for key, counts in (("word", word_counts), ("char", char_counts)):
            df = np.bincount(counts.tocsr().indices, minlength=counts.shape[1])
            self.idf_[key] = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float64)
            parts.append(self._tfidf(counts, self.idf_[key]))
        X = sparse.hstack(parts, format="csr")
        self._forget_vectorizers()
        return X

    def _fit(
        self,
        records: list[Record],
        Y: np.ndarray,
        *,
        val: tuple[list[Record], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        **options: Any,
    ) -> None:
        from sklearn.linear_model import LogisticRegression

        X = self._fit_features([record_text(r, self.max_pages) for r in records])
        balanced = self.class_weight == "balanced" and not self.multi_label_
        sw = self._balanced_row_weights(Y, sample_weight) if balanced else sample_weight
        if self.multi_label_:
            self.coef_, self.intercept_ = self._fit_one_vs_rest(X, Y, sample_weight)
        else:
            X = X.astype(np.float32)  # lbfgs's sparse products 1.5× faster (the float64 matrix is let go)
            clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
            clf.fit(X, Y, sample_weight=sw)
            coef, intercept = clf.coef_, clf.intercept_
            if len(self.classes_) == 2:  # sklearn keeps one row for two classes: expand to two logits
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
            self.coef_ = np.asarray(coef, dtype=np.float64)
            self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.card_["n_features"] = int(X.shape[1])

    def _fit_one_vs_rest(self, X: Any, Y: np.ndarray, sample_weight: np.ndarray | None) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
        """One binary logistic regression per class (liblinear, dual), ``n_jobs`` worker processes.

        Processes, not threads: liblinear draws its coordinate order from C's one global random generator, so
        solves running in threads of one process interleave their draws and the fit is no longer reproducible.
        """
        from joblib import Parallel, delayed

        jobs = max(1, min(self.n_jobs or os.cpu_count() or 1, Y.shape[1]))
        params = {"C": self.C, "tol": self.ovr_tol, "max_iter": self.max_iter, "random_state": self.seed,
                  "class_weight": "balanced" if self.class_weight == "balanced" else None}
        solved = Parallel(n_jobs=jobs, backend="loky")(  # n_jobs=1: in this process, one after another
            delayed(_solve_binary)(X, Y[:, j].astype(np.int64), sample_weight, params) for j in range(Y.shape[1])
        )
        return (np.asarray([c for c, _ in solved], dtype=np.float64),
                np.asarray([b for _, b in solved], dtype=np.float64))

    def _forget_vectorizers(self) -> None:
        for name in ("_word_vec", "_char_vec"):
            if hasattr(self, name):
                delattr(self, name)

    def _balanced_row_weights(self, Y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
        """Single-label: each row weighted by its class's balanced weight ``n / (k · n_class)`` (scikit-learn's
        ``class_weight="balanced"``), times its own sample weight."""
        counts = np.bincount(Y, minlength=len(self.classes_)).astype(np.float64)
        weights = (len(Y) / (len(self.classes_) * np.maximum(counts, 1.0)))[Y]
        return weights if sample_weight is None else weights * sample_weight

    def _logits(self, records: list[Record]) -> np.ndarray:
        X = self._transform([record_text(r, self.max_pages) for r in records])
        return np.asarray(X @ self.coef_.T) + self.intercept_

    # --------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {
            "coef": self.coef_,
            "intercept": self.intercept_,
            "idf_word": self.idf_["word"],
            "idf_char": self.idf_["char"],
        }
        extra = {"vocabulary_file": VOCAB_FILE, "n_word": len(self.vocabularies_["word"]),
                 "n_char": len(self.vocabularies_["char"])}
        return arrays, extra

    def _save_extra_files(self, directory: Path) -> None:
        (directory / VOCAB_FILE).write_text(json.dumps(self.vocabularies_, ensure_ascii=False), encoding="utf-8")

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        path = directory / extra.get("vocabulary_file", VOCAB_FILE)
        if not path.is_file():
            raise ModelError(f"{directory} has no {path.name}: the linear model's vocabulary is missing")
        self.vocabularies_ = json.loads(path.read_text(encoding="utf-8"))
        self.idf_ = {"word": arrays["idf_word"], "char": arrays["idf_char"]}
        self.coef_ = arrays["coef"]
        self.intercept_ = arrays["intercept"]
        self._forget_vectorizers()


def _word_occurrences(texts: list[str]) -> tuple[Any, list[str]]:
    """(documents × distinct words) counts and the words, split as scikit-learn's ``char_wb`` analyzer does
    (lower-cased, on white space)."""
    from scipy import sparse

    index: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend(index.setdefault(w, len(index)) for w in text.lower().split())
        indptr.append(len(indices))
    D = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64),
                           np.asarray(indptr, dtype=np.int64)), shape=(len(texts), len(index)))
    D.sum_duplicates()
    return D, list(index)


def _solve_binary(X: Any, y: np.ndarray, sample_weight: np.ndarray | None,
                  params: dict[str, Any]) -> tuple[np.ndarray, float]:
    """One one-vs-rest problem: liblinear dual coordinate descent to liblinear's own tolerance."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():  # a class on every row or on none: a constant score
        return np.zeros(X.shape[1]), (8.0 if y.max() == 1 else -8.0)
    clf = LogisticRegression(solver="liblinear", dual=True, **params)
    with warnings.catch_warnings():  # a loose tolerance is the point; liblinear's own default
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=sample_weight)
    return clf.coef_[0], float(clf.intercept_[0])
