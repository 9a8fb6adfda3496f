"""``linear``: TF-IDF of word and character n-grams + logistic regression (the classic strong baseline).

Single-label: one multinomial logistic regression. Multi-label: one binary logistic regression per class
(one-vs-rest). Saved without pickle: the two vocabularies (``vocabulary.json``), the idf vectors and the
coefficients (``model.safetensors``); loading rebuilds the vectorisers from them, and the TF-IDF maths
(sublinear tf, idf, l2 norm) is done here, identically at fit and predict time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from siteclass.errors import ModelError
from siteclass.models.base import Classifier, Record, record_text

if TYPE_CHECKING:
    from siteclass.config import TrainSettings

VOCAB_FILE = "vocabulary.json"


class LinearClassifier(Classifier):
    """TF-IDF (word + char_wb n-grams) → LogisticRegression; see the module docstring."""

    model_type = "linear"

    def __init__(
        self,
        C: float = 4.0,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        max_features: int = 100_000,
        min_df: int = 2,
        sublinear_tf: bool = True,
        max_iter: int = 300,
        class_weight: Literal["none", "balanced"] = "none",
        max_pages: int = 5,
        seed: int = 42,
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
        self.seed = seed

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> LinearClassifier:
        return cls(**settings.linear.model_dump(), seed=settings.seed)

    # --------------------------------------------------------------- features
    def _counters(self, vocabularies: dict[str, list[str]] | None = None) -> dict[str, Any]:
        from sklearn.feature_extraction.text import CountVectorizer

        word = tuple(int(v) for v in self.word_ngrams)
        char = tuple(int(v) for v in self.char_ngrams)
        half = self.max_features // 2
        common: dict[str, Any] = {"lowercase": True, "dtype": np.float32}
        if vocabularies is None:
            return {
                "word": CountVectorizer(analyzer="word", ngram_range=word, min_df=self.min_df, max_features=half,
                                        token_pattern=r"(?u)\b\w+\b", **common),
                "char": CountVectorizer(analyzer="char_wb", ngram_range=char, min_df=self.min_df,
                                        max_features=self.max_features - half, **common),
            }
        return {
            "word": CountVectorizer(analyzer="word", ngram_range=word, vocabulary=vocabularies["word"],
                                    token_pattern=r"(?u)\b\w+\b", **common),
            "char": CountVectorizer(analyzer="char_wb", ngram_range=char, vocabulary=vocabularies["char"], **common),
        }

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

        if not hasattr(self, "_vectorizers"):
            self._vectorizers = self._counters(self.vocabularies_)
        parts = [self._tfidf(self._vectorizers[k].transform(texts), self.idf_[k]) for k in ("word", "char")]
        return sparse.hstack(parts, format="csr")

    # --------------------------------------------------------------- fit / logits
    def _fit(
        self,
        records: list[Record],
        Y: np.ndarray,
        *,
        val: tuple[list[Record], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        **options: Any,
    ) -> None:
        from scipy import sparse
        from sklearn.linear_model import LogisticRegression

        texts = [record_text(r, self.max_pages) for r in records]
        vectorizers = self._counters()
        self.vocabularies_, self.idf_ = {}, {}
        parts = []
        n = len(texts)
        for key, vec in vectorizers.items():
            try:
                counts = vec.fit_transform(texts)
            except ValueError:  # min_df leaves no term (tiny data): keep every term
                vec.set_params(min_df=1)
                counts = vec.fit_transform(texts)
            df = np.diff(counts.tocsc().indptr)
            self.idf_[key] = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float64)
            terms = vec.get_feature_names_out()
            self.vocabularies_[key] = [str(t) for t in terms]
            parts.append(self._tfidf(counts, self.idf_[key]))
        X = sparse.hstack(parts, format="csr")
        self._vectorizers = self._counters(self.vocabularies_)
        weights = self._class_weights(Y) if self.class_weight == "balanced" else None
        sw = sample_weight
        if weights is not None and not self.multi_label_:
            sw = weights[Y] * (sw if sw is not None else 1.0)
        if self.multi_label_:
            coefs, intercepts = [], []
            for j in range(Y.shape[1]):
                y = Y[:, j].astype(np.int64)
                if y.min() == y.max():  # a class on every row or on none: a constant score
                    coefs.append(np.zeros(X.shape[1]))
                    intercepts.append(8.0 if y.max() == 1 else -8.0)
                    continue
                clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed, solver="liblinear",
                                         class_weight="balanced" if self.class_weight == "balanced" else None)
                clf.fit(X, y, sample_weight=sample_weight)
                coefs.append(clf.coef_[0])
                intercepts.append(float(clf.intercept_[0]))
            self.coef_ = np.asarray(coefs, dtype=np.float64)
            self.intercept_ = np.asarray(intercepts, dtype=np.float64)
        else:
            clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
            clf.fit(X, Y, sample_weight=sw)
            coef, intercept = clf.coef_, clf.intercept_
            if len(self.classes_) == 2:  # sklearn keeps one row for two classes: expand to two logits
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
            self.coef_ = np.asarray(coef, dtype=np.float64)
            self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.card_["n_features"] = int(X.shape[1])

    def _class_weights(self, Y: np.ndarray) -> np.ndarray | None:
        if self.multi_label_:
            return None
        counts = np.bincount(Y, minlength=len(self.classes_)).astype(np.float64)
        return len(Y) / (len(self.classes_) * np.maximum(counts, 1.0))

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
        if hasattr(self, "_vectorizers"):
            del self._vectorizers
