"""The ``zeroshot`` model: no training; labels and sites embedded by the same encoder, scored by similarity.

    model = ZeroShotClassifier()                 # the bundled 20 NAICS 2022 sectors, ready to predict
    model.predict({"name": "Bright Smile", "text": "Family dentistry and teeth cleaning"})
    # 'Health Care and Social Assistance'
    ZeroShotClassifier(labels_file="my_labels.csv")   # any CSV with label,description replaces the taxonomy

Each label is embedded as ``"title: description"``; a site as its name, domain words and pages' titles and
texts (``record_text``, truncated to ``max_tokens`` tokens). Scores are cosine similarities divided by
``temperature``, turned into probabilities with a softmax (also for multi-label data: the scores are not
independent per label). ``fit(X, y)`` trains nothing: it takes its classes from ``labels_file`` when set, else
from the distinct labels of ``y`` (each label's name is its own description).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.config import TrainSettings
from siteclass.errors import InputError
from siteclass.models.base import Classifier, fit_temperature, softmax
from siteclass.models.encoder import ENCODER_DIR, Encoder, EncoderBackendMixin, copy_tokenizer
from siteclass.models.taxonomy import Label, load_labels
from siteclass.records import Record, record_text

_READY_ATTRS = frozenset({"classes_", "multi_label_", "card_", "labels_", "label_embeddings_"})


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
    ) -> None:
        self.encoder = encoder
        self.labels_file = labels_file
        self.max_tokens = max_tokens
        self.temperature = temperature

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

    def _prepare(self, labels: list[Label], multi_label: bool = False) -> None:
        self.__dict__["_preparing"] = True
        try:
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
        self._prepare(labels, multi)
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

    def _logits(self, records: list[Record]) -> np.ndarray:
        return self._recheck_near_ties(records, self._logits_with(records, None), self._logits_with)

    def _logits_with(self, records: list[Record], encoder: Encoder | None) -> np.ndarray:
        return self.embed(records, encoder) @ self.label_embeddings_.T / self.temperature  # type: ignore[no-any-return]

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
        return {"label_embeddings": self.label_embeddings_.astype(np.float32)}, {"labels": labels}

    def _save_extra_files(self, directory: Path) -> None:
        if self._model_dir is None or self._model_dir.resolve() != directory.resolve():
            copy_tokenizer(self._tokenizer_folder(), directory / ENCODER_DIR)

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.label_embeddings_ = arrays["label_embeddings"]
        self.labels_ = [Label(d["label"], d.get("description", ""), d.get("code", "")) for d in extra["labels"]]
        self._model_dir = Path(directory)
        self._enc = None


def default_zeroshot_model(settings: TrainSettings | None = None) -> ZeroShotClassifier:
    """The no-training default of ``siteclass predict``: the bundled NAICS 2022 sectors, ready to predict."""
    model = ZeroShotClassifier.from_settings(settings or TrainSettings.model_validate({}))
    model._prepare(load_labels(model.labels_file))
    return model


__all__ = ["ZeroShotClassifier", "default_zeroshot_model"]
