"""The classifier contract every siteclass model follows (scikit-learn style).

    model = FastTextClassifier(dim=100).fit(records, labels)
    model.predict(records)            # string labels out; one record in → one label out
    model.predict_proba(records)      # (n, n_classes), columns in ``classes_`` order
    model.save("model/"); load_model("model/")

A *record* is a dict with any of: ``text``, ``name``, ``domain``, ``url``, ``ext`` and ``pages`` (a list of
``{"url", "title", "text"}``). A plain string is a record with only ``text``. Labels are strings, or lists of
strings for multi-label data (then probabilities are one-vs-rest sigmoids).

Subclasses implement ``_fit``, ``_logits``, ``_state`` and ``_load_state``; this class handles label encoding,
multi-label, temperature calibration, top-k, saving (``config.json`` + ``model.safetensors`` + ``labels.json`` +
a model card ``README.md`` — never pickle) and loading.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from siteclass._version import __version__
from siteclass.errors import InputError, ModelError
from siteclass.models.calibration import fit_temperature, sigmoid, softmax
from siteclass.records import Record, as_records, record_text

__all__ = [  # records live in siteclass.records, the probability maths in siteclass.models.calibration
    "Classifier", "Record", "as_records", "fit_temperature", "load_model", "record_text", "sigmoid", "softmax",
]
CONFIG_FILE = "config.json"
LABELS_FILE = "labels.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"


def _is_one(X: Any) -> bool:
    """A single record (a string or a dict), as opposed to a collection of them."""
    return isinstance(X, str | Mapping)


# ----------------------------------------------------------------------------------------------- contract
class Classifier:
    """Base class: see the module docstring. ``__init__`` of a subclass stores hyperparameters only."""

    model_type: ClassVar[str] = "base"
    multi_label_threshold: ClassVar[float] = 0.5

    # --- capabilities (tags): what the stages may ask of a model. Callers read these, never the model's name.
    onnx_export: ClassVar[bool] = False
    """``siteclass export --format onnx`` writes an ONNX graph for it (and its saved folder may predict from one)."""
    gil_bound: ClassVar[bool] = False
    """Its inference is mostly Python holding the GIL (tokenising, hashing): ``serve`` (inference ``auto``) gives it
    a model process of its own instead of a worker thread."""
    checkpoints: ClassVar[bool] = False
    """``fit(..., checkpoint_dir=DIR, resume=bool)`` writes checkpoints there and continues a killed run."""
    epoch_callbacks: ClassVar[bool] = False
    """``fit(..., epoch_callback=f)`` calls ``f(epoch, metrics)`` after every epoch, *metrics* holding the training
    ``loss`` and the validation metrics when there is a validation split (tune prunes with it, train logs it to
    ``metrics.jsonl`` and TensorBoard; f may raise to stop the fit)."""
    distributed: ClassVar[bool] = False
    """Every torchrun rank takes part in its fit (DDP); otherwise rank 0 fits it alone while the others wait."""
    search_space: ClassVar[dict[str, dict[str, Any]]] = {}
    """``siteclass tune``'s default space for a model from another package (siteclass's own models have theirs in
    ``siteclass.config.DEFAULT_SEARCH_SPACES``): ``{"C": {"type": "float", "low": 0.1, "high": 10, "log": True}}``."""

    # fitted state, set by fit() / load()
    classes_: list[str]
    multi_label_: bool
    temperature_: float = 1.0
    card_: dict[str, Any]

    # --------------------------------------------------------------- hyperparameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self" and sig.parameters[p].kind is not inspect.Parameter.VAR_KEYWORD]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Classifier:
        valid = set(self._param_names())
        for k, v in params.items():
            if k not in valid:
                raise InputError(f"{type(self).__name__} has no hyperparameter {k!r}; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # --------------------------------------------------------------- labels
    def _encode_labels(self, y: Sequence[Any]) -> np.ndarray:
        y = list(y)
        if not y:
            raise InputError("no training labels: the dataset is empty")
        multi = any(isinstance(v, list | tuple | np.ndarray) for v in y)
        if multi:
            rows = [[str(v)] if isinstance(v, str) else [str(x) for x in v] for v in y]
            self.classes_ = sorted({lab for r in rows for lab in r})
            index = {c: i for i, c in enumerate(self.classes_)}
            Y = np.zeros((len(rows), len(self.classes_)), dtype=np.float32)
            for i, r in enumerate(rows):
                for lab in r:
                    Y[i, index[lab]] = 1.0
        else:
            self.classes_ = sorted({str(v) for v in y})
            index = {c: i for i, c in enumerate(self.classes_)}
            Y = np.array([index[str(v)] for v in y], dtype=np.int64)
        self.multi_label_ = multi
        if len(self.classes_) < 2:
            raise InputError(f"need at least 2 classes to train, got {self.classes_}")
        return Y

    def encode(self, y: Sequence[Any]) -> np.ndarray:
        """Labels → class indices (single-label) or a multi-hot matrix, in this model's class order."""
        index = {c: i for i, c in enumerate(self.classes_)}
        if self.multi_label_:
            Y = np.zeros((len(y), len(self.classes_)), dtype=np.float32)
            for i, v in enumerate(y):
                for lab in [v] if isinstance(v, str) else v:
                    if str(lab) in index:
                        Y[i, index[str(lab)]] = 1.0
            return Y
        return np.array([index.get(str(v), -1) for v in y], dtype=np.int64)

    # --------------------------------------------------------------- fit / predict
    def fit(
        self,
        X: Any,
        y: Sequence[Any],
        *,
        X_val: Any = None,
        y_val: Sequence[Any] | None = None,
        sample_weight: np.ndarray | None = None,
        **fit_options: Any,
    ) -> Classifier:
        """Fit on records and labels. ``X_val``/``y_val`` (optional) drive early stopping and calibration.

        ``fit_options`` are passed to the model's ``_fit`` (e.g. ``checkpoint_dir``, ``resume``, ``progress``).
        """
        records = as_records(X)
        if len(records) != len(y):
            raise InputError(f"{len(records)} records but {len(y)} labels")
        started = time.perf_counter()
        Y = self._encode_labels(y)
        val = None
        if X_val is not None and y_val is not None and len(y_val):
            val = (as_records(X_val), self.encode(y_val))
        self.temperature_ = 1.0
        self.card_ = {}
        self._fit(records, Y, val=val, sample_weight=sample_weight, **fit_options)
        self.card_["train_seconds"] = round(time.perf_counter() - started, 3)
        self.card_["n_train"] = len(records)
        return self

    def fit_options(
        self,
        *,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        epoch_callback: Any = None,
    ) -> dict[str, Any]:
        """The keyword options of :meth:`fit` that this model takes, by its capabilities (train and tune call it)."""
        options: dict[str, Any] = {"progress": progress}
        if self.checkpoints and checkpoint_dir is not None:
            options.update(checkpoint_dir=checkpoint_dir, resume=resume)
        if self.epoch_callbacks and epoch_callback is not None:
            options["epoch_callback"] = epoch_callback
        return options

    def refit_params(self) -> dict[str, Any]:
        """Hyperparameters that the validation split chose in this fit and a refit on train + val must keep (there
        is no validation split left to choose them): the best epoch of an early-stopped model. Subclasses add
        theirs."""
        card = getattr(self, "card_", {}) or {}
        best = card.get("best_epoch")
        if isinstance(best, int) and best > 0 and "epochs" in self._param_names():
            return {"epochs": best}
        return {}

    def carry_choices(self, chosen: Classifier) -> None:
        """After a refit on train + val: keep what *chosen* (the same settings fitted on train) fitted on the
        validation split — its calibration temperature; subclasses add theirs (decision thresholds, ensemble
        weights)."""
        self.temperature_ = chosen.temperature_
        self.card_["temperature"] = self.temperature_

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise ModelError(f"{type(self).__name__} is not fitted: call fit() or load a saved model first")

    # One record in (a string or a dict), one answer out — for every method; a list of records in, a list out.
    def _scores(self, X: Any) -> np.ndarray:
        self._check_fitted()
        records = as_records(X)
        if not records:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        return np.asarray(self._logits(records), dtype=np.float64)

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw scores (logits) before temperature: shape (n, n_classes); (n_classes,) for one record."""
        scores = self._scores(X)
        return scores[0] if _is_one(X) else scores

    def proba_from_logits(self, logits: np.ndarray) -> np.ndarray:
        z = logits / self.temperature_
        return sigmoid(z) if self.multi_label_ else softmax(z)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, columns in ``classes_`` order: (n, n_classes); (n_classes,) for one record."""
        proba = self.proba_from_logits(self._scores(X))
        return proba[0] if _is_one(X) else proba

    def labels_from_proba(self, proba: np.ndarray) -> list[Any]:
        if self.multi_label_:
            out: list[Any] = []
            for row in proba:
                chosen = [self.classes_[j] for j in np.flatnonzero(row >= self.multi_label_threshold)]
                out.append(chosen or [self.classes_[int(row.argmax())]])
            return out
        return [self.classes_[int(j)] for j in proba.argmax(axis=1)]

    def predict(self, X: Any) -> Any:
        """String labels (lists of them for a multi-label model); one label (or list) for one record."""
        labels = self.labels_from_proba(self.proba_from_logits(self._scores(X)))
        return labels[0] if _is_one(X) else labels

    def predict_top_k(self, X: Any, k: int = 5) -> Any:
        """The k most probable labels with their (calibrated) probabilities, best first: a list of
        ``(label, probability)`` per record, or that list alone for one record."""
        scores = self._scores(X)
        proba = self.proba_from_logits(scores)
        k = min(k, len(self.classes_))
        # Ranked by score, not probability: probabilities are monotone in the scores but saturate (a multi-label
        # model's sigmoids reach 1.0 together), which would hand the order to the class order.
        order = np.lexsort((-scores, -proba), axis=1)[:, :k] if scores.size else np.zeros((0, k), dtype=int)
        top = [[(self.classes_[j], float(p[j])) for j in row] for p, row in zip(proba, order)]
        return top[0] if _is_one(X) else top

    def calibrate(self, X_val: Any, y_val: Sequence[Any]) -> Classifier:
        """Fit the temperature on held-out data; probabilities everywhere use it from then on."""
        self._check_fitted()
        Y = self.encode(y_val)
        logits = self._scores(X_val)
        if not self.multi_label_:
            keep = Y >= 0
            logits, Y = logits[keep], Y[keep]
        if len(Y) == 0:
            raise InputError("calibration data has no rows with a label this model knows")
        self.temperature_ = fit_temperature(logits, Y, self.multi_label_)
        self.card_ = getattr(self, "card_", {}) or {}
        self.card_["temperature"] = self.temperature_
        return self

    # --------------------------------------------------------------- subclass hooks
    def _fit(
        self,
        records: list[Record],
        Y: np.ndarray,
        *,
        val: tuple[list[Record], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        **options: Any,
    ) -> None:
        raise NotImplementedError

    def _logits(self, records: list[Record]) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state: (arrays for model.safetensors, JSON-able extras for config.json['state'])."""
        raise NotImplementedError

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        raise NotImplementedError

    def _save_extra_files(self, directory: Path) -> None:
        """Hook for models that keep more files (a tokenizer, a vocabulary as JSON)."""

    # --------------------------------------------------------------- persistence
    def save(self, directory: str | Path, card: Mapping[str, Any] | None = None) -> Path:
        from safetensors.numpy import save_file

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays, extra = self._state()
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        save_file(arrays, str(directory / WEIGHTS_FILE), metadata={"format": "np", "model_type": self.model_type})
        if card:
            self.card_ = {**getattr(self, "card_", {}), **card}
        config = {
            "model_type": self.model_type,
            "model_class": class_path(type(self)),
            "siteclass_version": __version__,
            "params": _jsonable(self.get_params()),
            "multi_label": self.multi_label_,
            "temperature": self.temperature_,
            "n_classes": len(self.classes_),
            "state": _jsonable(extra),
            "card": _jsonable(getattr(self, "card_", {})),
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        (directory / LABELS_FILE).write_text(json.dumps(self.classes_, indent=2, ensure_ascii=False), encoding="utf-8")
        self._save_extra_files(directory)
        (directory / CARD_FILE).write_text(self.model_card(), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        from safetensors.numpy import load_file

        directory = Path(directory)
        config = read_config(directory)
        if cls is not Classifier and config["model_type"] != cls.model_type:
            raise ModelError(f"{directory} holds a {config['model_type']!r} model, not {cls.model_type!r}")
        if cls is not Classifier:
            target: type[Classifier] = cls
        else:
            from siteclass.models.registry import model_class

            target = model_class(config.get("model_class") or config["model_type"])
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.get("params", {}).items()}
        valid = set(target._param_names())
        model = target(**{k: v for k, v in params.items() if k in valid})
        model.classes_ = json.loads((directory / LABELS_FILE).read_text(encoding="utf-8"))
        model.multi_label_ = bool(config.get("multi_label", False))
        model.temperature_ = float(config.get("temperature", 1.0))
        model.card_ = dict(config.get("card", {}))
        weights = directory / WEIGHTS_FILE
        arrays = load_file(str(weights)) if weights.is_file() else {}
        model._load_state(arrays, config.get("state", {}), directory)
        return model

    def model_card(self) -> str:
        card = getattr(self, "card_", {})
        lines = [
            f"# siteclass model: {self.model_type}",
            "",
            f"- siteclass version: {__version__}",
            f"- classes ({len(self.classes_)}): {', '.join(self.classes_[:50])}{' …' if len(self.classes_) > 50 else ''}",
            f"- multi-label: {self.multi_label_}",
            f"- temperature (calibration): {self.temperature_:.4f}",
        ]
        for key in ("data_fingerprint", "trained_on", "n_train", "n_val", "train_seconds", "metrics_note", "keeps"):
            if key in card:
                lines.append(f"- {key.replace('_', ' ')}: {card[key]}")
        if card.get("metrics"):
            lines += ["", "## Validation metrics", ""]
            lines += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}" for k, v in card["metrics"].items()]
        lines += ["", "## Hyperparameters", "", "```json", json.dumps(_jsonable(self.get_params()), indent=2), "```"]
        if card.get("settings"):
            lines += ["", "## Training settings", "", "```json", json.dumps(card["settings"], indent=2), "```"]
        lines += ["", "Load with `siteclass.load_model(path)`; files: config.json, labels.json, model.safetensors.", ""]
        return "\n".join(lines)


def class_path(cls: type) -> str:
    """``"package.module:ClassName"``: how a saved model names its class, so any process can import it again."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float | int | str | bool) or obj is None:
        return obj
    return str(obj)


def read_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ModelError(
            f"{directory} is not a siteclass model folder (no {CONFIG_FILE}); "
            "train one with `siteclass train` or pass the folder it wrote"
        )
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from exc
    if "model_type" not in config:
        raise ModelError(f"{path} has no 'model_type'")
    return config


def load_model(directory: str | Path) -> Classifier:
    """Load any saved siteclass model folder."""
    return Classifier.load(directory)


def iter_batches(items: Sequence[Any] | Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
