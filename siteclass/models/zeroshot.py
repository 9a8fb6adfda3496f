"""The ``zeroshot`` model: no training; labels and sites embedded by the same encoder, scored by similarity.

    model = ZeroShotClassifier()                 # the bundled 20 NAICS 2022 sectors, ready to predict
    model.predict({"name": "Bright Smile", "text": "Family dentistry and teeth cleaning"})
    # 'Health Care and Social Assistance'
    ZeroShotClassifier(labels_file="my_labels.csv")   # any CSV with label,description replaces the taxonomy

Each label is embedded as ``"title: description"``; a site as its name, domain words and pages' titles and
texts (``record_text``, truncated to ``max_tokens`` tokens). Scores are cosine similarities divided by
``temperature``, turned into probabilities with a softmax (also for multi-label data: the scores are not
independent per label).

The bundled default (no ``labels_file``, not fitted on other labels) also reads the NAICS 2022 hierarchy
(``siteclass.models.taxonomy.naics``): a sector's score is ``prompt_weight`` × the cosine with its prompt plus
its best 6-digit codes' signals (shipped code vectors and TF-IDF over the Census index), and each guess of
``predict_top_k`` carries its sector's best 6-digit code and title (``Guess.code``/``Guess.title``). Its
``default_min_confidence`` (``naics_min_confidence``) is what predict and serve use when no minimum is set. A
``labels_file`` (even a copy of the bundled sectors) or classes from ``fit`` labels: the prompts alone, as before.

``fit(X, y)`` trains nothing: it takes its classes from ``labels_file`` when set, else from the distinct labels of
``y`` (each label's name is its own description).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.config import TrainSettings
from siteclass.errors import InputError
from siteclass.metrics import Guess
from siteclass.models.base import Classifier, _is_one, fit_temperature, softmax
from siteclass.models.encoder import ENCODER_DIR, Encoder, EncoderBackendMixin, copy_tokenizer
from siteclass.models.taxonomy import Label, load_labels
from siteclass.models.taxonomy.naics import naics_index
from siteclass.records import Record, as_records, record_text

_READY_ATTRS = frozenset({"classes_", "multi_label_", "card_", "labels_", "label_embeddings_", "hierarchy_"})


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)  # type: ignore[no-any-return]


_T = TrainSettings()  # hyperparameter defaults live in siteclass.config, nowhere else
_P = _T.zeroshot


class ZeroShotClassifier(EncoderBackendMixin, Classifier):
    """Cosine similarity between a site's embedding and each label's ``"title: description"`` embedding."""

    model_type = "zeroshot"
    onnx_export = True

    def __init__(
        self,
        encoder: str = _P.encoder,
        labels_file: str | None = _P.labels_file,
        max_tokens: int = _P.max_tokens,
        temperature: float = _P.temperature,
        prompt_weight: float = _P.prompt_weight,
        code_weight: float = _P.code_weight,
        lexical_weight: float = _P.lexical_weight,
        top_codes: int = _P.top_codes,
        code_group_digits: int = _P.code_group_digits,
        naics_temperature: float = _P.naics_temperature,
        naics_min_confidence: float = _P.naics_min_confidence,
    ) -> None:
        self.encoder = encoder
        self.labels_file = labels_file
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.prompt_weight = prompt_weight
        self.code_weight = code_weight
        self.lexical_weight = lexical_weight
        self.top_codes = top_codes
        self.code_group_digits = code_group_digits
        self.naics_temperature = naics_temperature
        self.naics_min_confidence = naics_min_confidence

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> ZeroShotClassifier:
        return cls(**settings.zeroshot.model_dump())

    @classmethod
    def from_taxonomy(cls, labels_file: str | Path | None = None, **params: Any) -> ZeroShotClassifier:
        """A model ready to predict: the labels of *labels_file* (the NAICS sectors when None)."""
        model = cls(labels_file=str(labels_file) if labels_file is not None else None, **params)
        model._prepare(load_labels(labels_file))
        return model

    # --------------------------------------------------------------- readiness without fit
    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: a model never fitted becomes ready with its taxonomy.
        if name in _READY_ATTRS and not self.__dict__.get("_preparing"):
            self._prepare(load_labels(self.labels_file))
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def _prepare(self, labels: list[Label], multi_label: bool = False, hierarchy: bool | None = None) -> None:
        self.__dict__["_preparing"] = True
        try:
            self.hierarchy_ = (self.labels_file is None and not multi_label) if hierarchy is None else hierarchy
            self.labels_ = labels
            self.classes_ = [lab.label for lab in labels]
            self.multi_label_ = multi_label
            self.temperature_ = 1.0
            self.card_ = {"labels_source": self.labels_file or "NAICS 2022"}
            enc = self._inference_encoder()
            self.label_embeddings_ = _normalise(enc.encode([lab.prompt for lab in labels]))
        finally:
            self.__dict__["_preparing"] = False

    # --------------------------------------------------------------- fit: classes only
    def fit(
        self,
        X: Any = None,
        y: Sequence[Any] | None = None,
        *,
        X_val: Any = None,
        y_val: Sequence[Any] | None = None,
        sample_weight: np.ndarray | None = None,
        **fit_options: Any,
    ) -> ZeroShotClassifier:
        """Record the classes (no training): from ``labels_file`` when set, else the distinct labels of ``y``."""
        started = time.perf_counter()
        ys = list(y) if y is not None else []
        multi = any(isinstance(v, list | tuple | np.ndarray) for v in ys)
        if self.labels_file:
            labels = load_labels(self.labels_file)
            source = self.labels_file
        elif ys:
            names = sorted({str(x) for v in ys for x in ([v] if isinstance(v, str) else v)})
            labels, source = [Label(n) for n in names], "training labels"
        else:
            labels, source = load_labels(None), "NAICS 2022"
        self._prepare(labels, multi, hierarchy=source == "NAICS 2022" and not multi)
        self.card_ = {"labels_source": source, "train_seconds": round(time.perf_counter() - started, 3), "n_train": 0}
        return self

    def _check_fitted(self) -> None:
        if "classes_" not in self.__dict__:
            self._prepare(load_labels(self.labels_file))

    # --------------------------------------------------------------- scoring
    def site_text(self, record: Record) -> str:
        return record_text(record)

    def embed(self, records: list[Record], encoder: Encoder | None = None) -> np.ndarray:
        """Unit-length embeddings of records, as compared with the labels."""
        enc = encoder or self._inference_encoder()
        return _normalise(enc.encode([self.site_text(r) for r in records]))

    @property
    def default_min_confidence(self) -> float:
        """The minimum confidence predict and serve use when none is set: ``naics_min_confidence`` for the
        bundled NAICS model (calibrated on held-out data), 0 for a model of other labels."""
        return self.naics_min_confidence if self.hierarchy_ else 0.0

    def _logits(self, records: list[Record]) -> np.ndarray:
        return self._recheck_near_ties(records, self._logits_with(records, None), self._logits_with)

    def _logits_with(self, records: list[Record], encoder: Encoder | None) -> np.ndarray:
        return self._scored(records, encoder)[0]

    def _scored(self, records: list[Record], encoder: Encoder | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits (before ``temperature_``) and, with the NAICS hierarchy, each sector's best code row."""
        vectors = self.embed(records, encoder)
        prompt = vectors @ self.label_embeddings_.T
        if not self.hierarchy_:
            return prompt / self.temperature, None
        index = naics_index()
        codes, best = index.score(
            vectors, [self.site_text(r) for r in records], [lab.code for lab in self.labels_],
            top_codes=self.top_codes, code_weight=self.code_weight, lexical_weight=self.lexical_weight,
            group_digits=self.code_group_digits,
        )
        return (self.prompt_weight * prompt + codes) / self.naics_temperature, best

    def predict_top_k(self, X: Any, k: int = 5) -> Any:
        """The k most probable labels, best first, as :class:`~siteclass.metrics.Guess` pairs: with the NAICS
        hierarchy each carries its sector's best 6-digit code and title."""
        if not self.hierarchy_:
            return super().predict_top_k(X, k)
        self._check_fitted()
        records = as_records(X)
        if not records:
            return []
        logits, best = self._scored(records, None)
        logits = self._recheck_near_ties(records, logits, self._logits_with)
        proba = self.proba_from_logits(logits)
        order = np.argsort(-proba, axis=1, kind="stable")[:, : min(k, len(self.classes_))]
        index = naics_index()
        top = []
        for p, row, rec_best in zip(proba, order, best if best is not None else order):
            guesses = []
            for j in row:
                code_row = int(rec_best[j]) if best is not None else -1
                code, title = (index.codes[code_row], index.titles[code_row]) if code_row >= 0 else (None, None)
                guesses.append(Guess(self.classes_[j], float(p[j]), code, title))
            top.append(guesses)
        return top[0] if _is_one(X) else top

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits / self.temperature_)

    def calibrate(self, X_val: Any, y_val: Sequence[Any]) -> ZeroShotClassifier:
        """Fit the temperature on held-out data; multi-label rows count once per true label (softmax NLL)."""
        if not self.multi_label_:
            super().calibrate(X_val, y_val)
            return self
        Y = self.encode(y_val)
        rows, cols = np.nonzero(Y)
        if len(rows) == 0:
            raise InputError("calibration data has no rows with a label this model knows")
        self.temperature_ = fit_temperature(self.decision_function(X_val)[rows], cols, False)
        self.card_["temperature"] = self.temperature_
        return self

    # --------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        labels = [{"label": lab.label, "description": lab.description, "code": lab.code} for lab in self.labels_]
        extra = {"labels": labels, "hierarchy": "naics_2022" if self.hierarchy_ else None}
        return {"label_embeddings": self.label_embeddings_.astype(np.float32)}, extra

    def _save_extra_files(self, directory: Path) -> None:
        if self._model_dir is None or self._model_dir.resolve() != directory.resolve():
            copy_tokenizer(self._tokenizer_folder(), directory / ENCODER_DIR)

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.label_embeddings_ = arrays["label_embeddings"]
        self.labels_ = [Label(d["label"], d.get("description", ""), d.get("code", "")) for d in extra["labels"]]
        self.hierarchy_ = extra.get("hierarchy") == "naics_2022"  # models saved before it: sectors only, as then
        self._model_dir = Path(directory)
        self._enc = None


def default_zeroshot_model(settings: TrainSettings | None = None) -> ZeroShotClassifier:
    """The no-training default of ``siteclass predict``: the bundled NAICS 2022 sectors, ready to predict."""
    model = ZeroShotClassifier.from_settings(settings or TrainSettings.model_validate({}))
    model._prepare(load_labels(model.labels_file))
    return model


__all__ = ["ZeroShotClassifier", "default_zeroshot_model"]
