"""Classification metrics, in plain numpy (scikit-learn is imported only by `classification_metrics`, lazily, so
predict/serve can use this module cheaply).

Single-label inputs are integer class indices (``y_true``, ``y_pred``) and a probability matrix ``proba`` of
shape (n, n_classes). Multi-label inputs are multi-hot matrices. Conventions follow scikit-learn: a ratio with
a zero denominator is 0; macro averages run over the classes present in the true *or* predicted labels.

Cohen's kappa comes with an analytic 95% confidence interval: κ ± 1.96·SE with the large-sample standard error
of Fleiss, Cohen & Everitt (1969), clipped to [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

UNKNOWN = "unknown"
Z_95 = 1.959963984540054


def _div(a: np.ndarray | float, b: np.ndarray | float) -> Any:
    """Elementwise a / b with 0 where b == 0."""
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.zeros(np.broadcast(a_arr, b_arr).shape, dtype=np.float64)
    np.divide(a_arr, b_arr, out=out, where=b_arr != 0)
    return out if out.ndim else float(out)


# ----------------------------------------------------------------------------------------------- single-label
def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """Counts C[i, j] = rows of true class i predicted as j (shape n_classes × n_classes)."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float((t == p).mean()) if len(t) else 0.0


@dataclass
class ClassCounts:
    """One-vs-rest counts per class, from a confusion matrix or from multi-label decisions."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    @classmethod
    def from_confusion(cls, cm: np.ndarray) -> ClassCounts:
        tp = np.diag(cm).astype(np.int64)
        fp = cm.sum(axis=0) - tp
        fn = cm.sum(axis=1) - tp
        tn = cm.sum() - tp - fp - fn
        return cls(tp, fp, fn, tn)

    @classmethod
    def from_multilabel(cls, Y_true: np.ndarray, Y_pred: np.ndarray) -> ClassCounts:
        t, p = np.asarray(Y_true) > 0, np.asarray(Y_pred) > 0
        return cls(
            (t & p).sum(axis=0), (~t & p).sum(axis=0), (t & ~p).sum(axis=0), (~t & ~p).sum(axis=0)
        )

    @property
    def support(self) -> np.ndarray:
        return self.tp + self.fn

    @property
    def precision(self) -> np.ndarray:
        return _div(self.tp, self.tp + self.fp)  # type: ignore[no-any-return]

    @property
    def recall(self) -> np.ndarray:
        return _div(self.tp, self.tp + self.fn)  # type: ignore[no-any-return]

    @property
    def specificity(self) -> np.ndarray:
        return _div(self.tn, self.tn + self.fp)  # type: ignore[no-any-return]

    @property
    def npv(self) -> np.ndarray:
        return _div(self.tn, self.tn + self.fn)  # type: ignore[no-any-return]

    @property
    def f1(self) -> np.ndarray:
        return _div(2 * self.tp, 2 * self.tp + self.fp + self.fn)  # type: ignore[no-any-return]

    @property
    def present(self) -> np.ndarray:
        """Classes that occur in the true or the predicted labels (scikit-learn's macro-average set)."""
        return (self.tp + self.fn + self.fp) > 0


def averaged_scores(counts: ClassCounts) -> dict[str, float]:
    """Macro precision/recall/F1 over the present classes, support-weighted F1, and micro F1."""
    present = counts.present
    sup = counts.support
    tp, fp, fn = counts.tp.sum(), counts.fp.sum(), counts.fn.sum()
    return {
        "macro_precision": float(counts.precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(counts.recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(counts.f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float(_div((counts.f1 * sup).sum(), sup.sum())),
        "micro_f1": float(_div(2 * tp, 2 * tp + fp + fn)),
    }


def per_class_table(counts: ClassCounts, classes: Sequence[str]) -> list[dict[str, Any]]:
    """The class statistics table: support, TP, FP, FN, TN, precision (PPV), recall (TPR), TNR, NPV, F1."""
    rows = []
    for i, name in enumerate(classes):
        rows.append(
            {
                "class": name,
                "support": int(counts.support[i]),
                "tp": int(counts.tp[i]),
                "fp": int(counts.fp[i]),
                "fn": int(counts.fn[i]),
                "tn": int(counts.tn[i]),
                "precision": float(counts.precision[i]),
                "recall": float(counts.recall[i]),
                "specificity": float(counts.specificity[i]),
                "npv": float(counts.npv[i]),
                "f1": float(counts.f1[i]),
            }
        )
    return rows


def top_k_accuracy(y_true: Sequence[int] | np.ndarray, proba: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the k most probable (ties broken by column order).

    A true index of -1 (a label the model does not know) is always a miss.
    """
    t = np.asarray(y_true, dtype=np.int64)
    if not len(t):
        return 0.0
    k = min(k, proba.shape[1])
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return float((top == t[:, None]).any(axis=1).mean())


def log_loss(y_true: Sequence[int] | np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true class (rows with y_true = -1 are skipped)."""
    t = np.asarray(y_true, dtype=np.int64)
    keep = t >= 0
    if not keep.any():
        return float("nan")
    p = np.clip(proba[keep, t[keep]], eps, 1.0)
    return float(-np.log(p).mean())


def binary_log_loss(Y_true: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy over every (row, class) entry: the multi-label log loss."""
    p = np.clip(proba, eps, 1 - eps)
    Y = np.asarray(Y_true, dtype=np.float64)
    return float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean())


class Kappa(NamedTuple):
    kappa: float
    low: float
    high: float
    se: float


def cohen_kappa(cm: np.ndarray) -> Kappa:
    """Cohen's kappa of a confusion matrix with an analytic 95% CI (Fleiss, Cohen & Everitt 1969 SE)."""
    n = float(cm.sum())
    if n == 0:
        return Kappa(0.0, 0.0, 0.0, 0.0)
    p = cm / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float(np.trace(p))
    pe = float((rows * cols).sum())
    if pe >= 1.0:  # one class only on both sides: agreement is total and trivial
        return Kappa(1.0 if po == 1.0 else 0.0, float("nan"), float("nan"), float("nan"))
    k = (po - pe) / (1 - pe)
    diag = np.diag(p)
    a = float((diag * (1 - (rows + cols) * (1 - k)) ** 2).sum())
    weight = (cols[:, None] + rows[None, :]) ** 2  # (p_.i + p_j.)² for cell (i, j)
    off = p * weight
    b = (1 - k) ** 2 * float(off.sum() - np.trace(off))
    c = (k - pe * (1 - k)) ** 2
    var = max(a + b - c, 0.0) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(var))
    return Kappa(float(k), max(-1.0, k - Z_95 * se), min(1.0, k + Z_95 * se), se)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width bins on (0, 1]: Σ_b |B_b|/n · |accuracy(B_b) − mean confidence(B_b)|.

    Bin b holds confidences in ((b)/bins, (b+1)/bins]; a confidence of exactly 0 falls in the first bin.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    n = len(conf)
    if n == 0:
        return 0.0
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() / n * abs(ok[m].mean() - conf[m].mean())
    return float(total)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> list[dict[str, float]]:
    """Per equal-width bin: range, count, mean confidence and accuracy (for a reliability diagram)."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        out.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": int(m.sum()),
                "confidence": float(conf[m].mean()) if m.any() else float("nan"),
                "accuracy": float(ok[m].mean()) if m.any() else float("nan"),
            }
        )
    return out


def accuracy_coverage(
    confidence: np.ndarray, correct: np.ndarray, thresholds: Sequence[float] | np.ndarray
) -> list[dict[str, float]]:
    """For each threshold t: coverage = share of rows with confidence ≥ t, accuracy among those rows.

    The accuracy is NaN where no row is covered.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    n = len(conf)
    out = []
    for t in thresholds:
        m = conf >= t
        covered = int(m.sum())
        out.append(
            {
                "threshold": float(t),
                "coverage": covered / n if n else 0.0,
                "accuracy": float(ok[m].mean()) if covered else float("nan"),
                "n": covered,
            }
        )
    return out


# ----------------------------------------------------------------------------------------------- multi-label
def precision_at_1(Y_true: np.ndarray, proba: np.ndarray) -> float:
    """Share of rows whose most probable class is one of its true labels."""
    if not len(Y_true):
        return 0.0
    top = proba.argmax(axis=1)
    return float((np.asarray(Y_true)[np.arange(len(top)), top] > 0).mean())


def multilabel_top_k(Y_true: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Share of rows with at least one true label among the k most probable classes."""
    if not len(Y_true):
        return 0.0
    k = min(k, proba.shape[1])
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(np.asarray(Y_true) > 0, top, axis=1)
    return float(hits.any(axis=1).mean())


def subset_accuracy(Y_true: np.ndarray, Y_pred: np.ndarray) -> float:
    """Exact-match ratio: the predicted label set equals the true one."""
    if not len(Y_true):
        return 0.0
    return float(((np.asarray(Y_true) > 0) == (np.asarray(Y_pred) > 0)).all(axis=1).mean())


# ----------------------------------------------------------------------------------------------- min confidence
class Guess(tuple):  # type: ignore[type-arg]
    """One ``(label, probability)`` of ``predict_top_k``, with the finer code of a model with a hierarchy.

    It unpacks, compares and serialises as the plain pair; ``code`` and ``title`` (the bundled NAICS model: the
    label's best 6-digit code and its title) ride along as attributes, None for other models.
    """

    code: str | None
    title: str | None

    def __new__(cls, label: str, probability: float, code: str | None = None, title: str | None = None) -> Guess:
        guess = super().__new__(cls, (label, probability))
        guess.code, guess.title = code, title
        return guess

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (model processes, Spark) with its code
        return (Guess, (self[0], self[1], self.code, self.title))


class Decision(NamedTuple):
    """One answer under a minimum confidence: ``label`` is UNKNOWN below it, the guesses are kept.

    ``code``/``title``: the best guess's finer code (models with a hierarchy), also below the minimum; ``note``
    says why the label is unknown when the minimum made it so."""

    label: str
    probability: float
    labels: list[str]
    probabilities: list[float]
    code: str | None = None
    title: str | None = None
    note: str | None = None


def apply_min_confidence(top_k: Sequence[tuple[str, float]], min_confidence: float) -> Decision:
    """``[(label, p), …]`` best first → Decision; label is ``"unknown"`` when the best p < min_confidence.

    ``probability`` is always the best guess's probability, and ``labels``/``probabilities`` list every guess,
    so a caller can show what the model would have said. The one definition shared by predict and serve.
    """
    labels = [str(lab) for lab, _ in top_k]
    probs = [float(p) for _, p in top_k]
    if not labels:
        return Decision(UNKNOWN, 0.0, [], [])
    best = probs[0]
    code, title = getattr(top_k[0], "code", None), getattr(top_k[0], "title", None)
    if best >= min_confidence:
        return Decision(labels[0], best, labels, probs, code, title)
    note = f"below min_confidence {min_confidence:g}: best guess {labels[0]} ({best:.2f})"
    return Decision(UNKNOWN, best, labels, probs, code, title, note)


def resolve_min_confidence(setting: float | None, model: Any) -> float:
    """The minimum confidence in force: the setting when given, else the model's own default
    (``default_min_confidence``: the bundled NAICS model's calibrated one, 0 for other models)."""
    if setting is not None:
        return float(setting)
    return float(getattr(model, "default_min_confidence", 0.0) or 0.0)


# ----------------------------------------------------------------------------------------------- training
def classification_metrics(
    Y: np.ndarray, scores: np.ndarray, multi_label: bool, threshold: float = 0.0
) -> dict[str, float]:
    """Validation metrics from scores: logits (``threshold=0``) or probabilities (``threshold=0.5``).

    Single-label (``Y`` class indices, -1 = a label the model does not know): ``accuracy``, ``macro_f1``.
    Multi-label (``Y`` multi-hot): ``p_at_1`` (the top label is a true one), ``macro_f1`` and ``micro_f1`` of
    the one-vs-rest decisions (score ≥ threshold; the top label when none passes).
    """
    from sklearn.metrics import f1_score

    if multi_label:
        top = scores.argmax(axis=1)
        p_at_1 = float(Y[np.arange(len(Y)), top].mean()) if len(Y) else 0.0
        decided = (scores >= threshold).astype(np.int64)
        decided[np.arange(len(Y)), top] = 1
        return {
            "p_at_1": p_at_1,
            "macro_f1": float(f1_score(Y.astype(np.int64), decided, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(Y.astype(np.int64), decided, average="micro", zero_division=0)),
        }
    pred = scores.argmax(axis=1)
    return {
        "accuracy": float((pred == Y).mean()) if len(Y) else 0.0,
        "macro_f1": float(f1_score(Y, pred, average="macro", zero_division=0)),
    }
