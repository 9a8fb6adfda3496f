"""``ensemble``: word + char TF-IDF → per class a linear SVM, a logistic regression and an NB-SVM, blended into one
linear model.

Features are the ``linear`` model's (word n-grams + ``char_wb`` n-grams, sublinear TF-IDF, see linear.py). Per
class three one-vs-rest scorers are fitted on them in one pool of processes, all with balanced class weights:

- a linear SVM (squared hinge, liblinear dual; ``C_svm``) — the better macro-F1;
- a logistic regression (liblinear dual; ``C_lr``) — the better ranking (P@1);
- an NB-SVM (Wang & Manning 2012; ``C_nb``, 0 leaves it out): a linear SVM on the features scaled by their
  naive-Bayes log-count ratios for that class, which weighs a rare class's telling words up; its weights mapped
  back (``w · r``), so its scores are linear in the same features.

Single-label data: every sample is weighted by its class's balanced weight ``n / (k · n_class)`` in each of the
k binary problems (what ``LinearSVC(class_weight="balanced")`` does); multi-label data: each class's binary
problem is balanced on its own.

The blend (``blend = "val"``, with a val split): one weight per member, ≥ 0 and shared by every class (plus one
bias, multi-label), fitted on val by log-loss (``calibration.fit_blend``); on single-label data each val row
weighs its class's balanced weight, as in training — a plain log-loss would hand the class prior back to the
blend and cost rare classes their recall (measured: −1.3 to −2.6 macro-F1 points on the Crunchbase task). With
``blend = "fixed"`` (or without a val split) the SVM and the LR are each put on a probability scale by a
temperature fitted on val (:func:`siteclass.models.base.fit_temperature`; without val, the SVM's training scores
are scaled to the spread of the LR's) and blended ``svm_weight · svm / T_svm + (1 − svm_weight) · lr / T_lr``.
Every member is linear in the features, so the blend is stored as ONE coefficient matrix: the model saves, loads
(no pickle) and predicts exactly as a ``linear`` model does, at its speed.

With ``thresholds = "val"`` (multi-label), ONE decision threshold for every class is fitted on val after the
blend to maximise macro-F1, then per-class thresholds shrunk toward it by a factor chosen by cross-validation on
val (:func:`fit_shrunk_thresholds`); both are folded into the intercepts, so the contract's rule (probability ≥
0.5) applies them; ``calibrate`` then fits the temperature of the whole blend. ``train --refit`` re-weighs the
refit's own members with the weights and thresholds val chose (:meth:`carry_choices`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

import numpy as np

from siteclass.config import TrainSettings
from siteclass.errors import InputError, ModelError
from siteclass.models.base import Classifier, fit_temperature
from siteclass.models.calibration import fit_blend, sigmoid
from siteclass.models.linear import LinearClassifier
from siteclass.records import Record, record_text

_T = TrainSettings()  # hyperparameter defaults live in siteclass.config, nowhere else
_P = _T.ensemble


class SparseEnsembleClassifier(LinearClassifier):
    """TF-IDF (word + char_wb) → per-class linear SVM + logistic regression, blended; see the module docstring."""

    model_type = "ensemble"
    _other_members: tuple[str, ...] = ()  # blend members that are not TF-IDF scorers (a subclass's own)

    def __init__(
        self,
        C_svm: float = _P.C_svm,
        C_lr: float = _P.C_lr,
        C_nb: float = _P.C_nb,
        blend: Literal["val", "fixed"] = _P.blend,
        svm_weight: float = _P.svm_weight,
        thresholds: Literal["none", "val"] = _P.thresholds,
        word_ngrams: tuple[int, int] = _P.word_ngrams,
        char_ngrams: tuple[int, int] = _P.char_ngrams,
        max_features: int = _P.max_features,
        min_df: int = _P.min_df,
        sublinear_tf: bool = _P.sublinear_tf,
        max_iter: int = _P.max_iter,
        tol: float = _P.tol,
        max_pages: int = _P.max_pages,
        n_jobs: int = _P.n_jobs,
        seed: int = _T.seed,
    ) -> None:
        self.C_svm = C_svm
        self.C_lr = C_lr
        self.C_nb = C_nb
        self.blend = blend
        self.svm_weight = svm_weight
        self.thresholds = thresholds
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.max_features = max_features
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.max_iter = max_iter
        self.tol = tol
        self.max_pages = max_pages
        self.n_jobs = n_jobs
        self.seed = seed

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> SparseEnsembleClassifier:
        return cls(**settings.ensemble.model_dump(), seed=settings.seed)

    def _fit(
        self,
        records: list[Record],
        Y: np.ndarray,
        *,
        val: tuple[list[Record], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        **options: Any,
    ) -> None:
        from joblib import Parallel, delayed

        if not 0.0 <= self.svm_weight <= 1.0:
            raise InputError(f"svm_weight {self.svm_weight} is not a blend weight; use a value in [0, 1]")
        X = self._fit_features([record_text(r, self.max_pages) for r in records])
        k = len(self.classes_)
        if self.multi_label_:
            targets, sw = Y.astype(np.int64), sample_weight
        else:  # one-vs-rest on one-hot targets, every sample weighted by its class's balanced weight
            targets = np.eye(k, dtype=np.int64)[Y]
            sw = self._balanced_row_weights(Y, sample_weight)
        balanced = self.multi_label_  # multi-label: each binary problem balanced on its own
        kinds = self._member_kinds()
        jobs = max(1, min(self.n_jobs or os.cpu_count() or 1, len(kinds) * k))
        problems = [(kind, j) for kind in kinds for j in range(k)]
        solved = Parallel(n_jobs=jobs, backend="loky")(  # processes: liblinear's generator is per process
            delayed(_solve)(kind, X, targets[:, j], sw, self._solver_params(kind, balanced)) for kind, j in problems
        )
        parts = {}
        for kind in kinds:
            rows = [s for (kd, _), s in zip(problems, solved) if kd == kind]
            parts[kind] = (np.asarray([c for c, _ in rows]), np.asarray([b for _, b in rows]))
        self._parts = parts  # unfolded, until the fit (or a refit's carry_choices) is done with them
        X_val = self._transform([record_text(r, self.max_pages) for r in val[0]]) if val is not None else None
        scale = {kind: self._member_scale(kind, parts, X, X_val, val) for kind in ("svm", "lr")}
        self.card_["member_scales"] = {m: float(s) for m, s in scale.items()}
        self.card_["n_features"] = int(X.shape[1])
        blend = None
        if self.blend == "val" and val is not None:
            blend = self._val_blend({kd: np.asarray(X_val @ c.T) + b for kd, (c, b) in parts.items()}, val[1])
        if blend is None:
            blend = {"svm": self.svm_weight / scale["svm"], "lr": (1.0 - self.svm_weight) / scale["lr"], "bias": 0.0}
        shift = np.zeros(k)
        if val is not None:
            coef, intercept = self._combine(blend)
            shift = self._val_thresholds(np.asarray(X_val @ coef.T) + intercept, val[1], blend)
        self._fold(blend, shift)

    def _val_thresholds(self, stack: np.ndarray, Y_val: np.ndarray, blend: dict[str, float]) -> np.ndarray:
        """``thresholds = "val"``, multi-label: on the blended val scores ``stack``, ONE threshold for every class
        (taken into ``blend["bias"]``), then the per-class shifts shrunk toward it (returned; zeros otherwise)."""
        if self.thresholds != "val" or not self.multi_label_:
            return np.zeros(len(self.classes_))
        cut = fit_global_threshold(stack, Y_val)
        blend["bias"] -= cut
        self.card_["threshold"] = float(sigmoid(np.array(cut)))
        shrink, shift = fit_shrunk_thresholds(stack - cut, Y_val, self.seed)
        self.card_["class_threshold_shrink"] = shrink
        return shift

    def _val_blend(self, members: dict[str, np.ndarray], Y_val: np.ndarray) -> dict[str, float] | None:
        """The members' weights (and, multi-label, a bias) fitted on val by log-loss (``calibration.fit_blend``)
        from their val scores ``members``; single-label, each val row weighted by its class's balanced weight, as
        every member was trained: a plain log-loss would hand the class prior back to the blend (it picks the LR,
        the member whose scores lean to the frequent classes, and costs rare classes their recall)."""
        Y, keep = Y_val, (np.ones(len(Y_val), bool) if self.multi_label_ else Y_val >= 0)
        if not keep.any():
            return None
        w, bias = fit_blend([m[keep] for m in members.values()], Y[keep], self.multi_label_,
                            sample_weight=self._val_row_weights(Y[keep]))
        return {**dict(zip(members, map(float, w))), "bias": bias}

    def _val_row_weights(self, Y: np.ndarray) -> np.ndarray | None:
        """Each val row's weight in a log-loss that chooses on val: its class's balanced weight (single-label),
        none (multi-label: each class's problem is balanced on its own in training)."""
        return None if self.multi_label_ else self._balanced_row_weights(Y, None)

    def _combine(self, blend: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """The members' coefficients weighed by ``blend`` (a member it does not name weighs 0), plus its bias."""
        coef = sum(blend.get(kd, 0.0) * c for kd, (c, _) in self._parts.items())
        intercept = sum(blend.get(kd, 0.0) * b for kd, (_, b) in self._parts.items()) + blend.get("bias", 0.0)
        return np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)

    def _fold(self, blend: dict[str, float], shift: np.ndarray) -> None:
        """Every member is linear in the same TF-IDF features: the weighted sum (less the per-class threshold
        shifts) becomes ONE coefficient matrix, which is what is saved and what predicts."""
        self.coef_, intercept = self._combine(blend)
        self.intercept_ = intercept - shift
        self.card_["blend"] = {k: float(v) for k, v in blend.items()}
        if np.any(shift):
            self.card_["threshold_shift"] = [float(v) for v in shift]
        else:
            self.card_.pop("threshold_shift", None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_parts", None)  # the unfolded members: only a refit right after fit needs them
        return state

    def carry_choices(self, chosen: Classifier) -> None:
        """After ``train --refit``: the temperature, and the blend val chose (member weights, bias, thresholds),
        applied to this fit's own members (so it must come right after ``fit``)."""
        super().carry_choices(chosen)
        card = getattr(chosen, "card_", {}) or {}
        if "blend" not in card or list(chosen.classes_) != list(self.classes_):
            return
        self._refold(dict(card["blend"]), np.asarray(card.get("threshold_shift", 0.0), dtype=np.float64))
        for key in ("threshold", "class_threshold_shrink"):
            if key in card:
                self.card_[key] = card[key]

    def _refold(self, blend: dict[str, float], shift: np.ndarray) -> None:
        """This fit's own unfolded members weighed by another fit's ``blend`` (carry_choices)."""
        if getattr(self, "_parts", None) is None:
            raise ModelError(f"carry_choices needs a {self.model_type} model fresh from fit (its unfolded "
                             "members are gone)")
        missing = [kd for kd, w in blend.items()
                   if w and kd != "bias" and kd not in self._parts and kd not in self._other_members]
        if missing:
            raise ModelError(f"the chosen model weighs members this fit has not: {missing}")
        self._fold(blend, shift)

    def _member_kinds(self) -> tuple[str, ...]:
        """The per-class scorers fitted on the TF-IDF features, in one pool of processes: the SVM, the LR and,
        when its weight is fitted on val (``blend = "val"``, ``C_nb`` > 0), the NB-SVM. Solved without a val
        split too: a ``--refit`` weighs them with the weights val chose."""
        return ("svm", "lr", "nbsvm") if self.C_nb > 0 and self.blend == "val" else ("svm", "lr")

    def _solver_params(self, kind: str, balanced: bool) -> dict[str, Any]:
        C = {"svm": self.C_svm, "lr": self.C_lr, "nbsvm": self.C_nb}[kind]
        return {"C": C, "tol": self.tol, "max_iter": self.max_iter, "random_state": self.seed,
                "class_weight": "balanced" if balanced else None}

    def _member_scale(self, kind: str, members: dict[str, tuple[np.ndarray, np.ndarray]], X: Any, X_val: Any,
                      val: tuple[list[Record], np.ndarray] | None) -> float:
        """The temperature that puts this member's scores on a probability scale (see the module docstring)."""
        coef, intercept = members[kind]
        if X_val is not None and val is not None:
            Y_val = val[1]
            logits = np.asarray(X_val @ coef.T) + intercept
            if not self.multi_label_:
                keep = Y_val >= 0
                logits, Y_val = logits[keep], Y_val[keep]
            if len(Y_val):
                return fit_temperature(logits, Y_val, self.multi_label_)
        if kind == "lr":
            return 1.0
        lr, svm = (np.asarray(X @ members[m][0].T) + members[m][1] for m in ("lr", "svm"))
        return float(svm.std() / max(lr.std(), 1e-12))


def fit_thresholds(scores: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per class, the score threshold maximising its F1 on (``scores``, ``Y``): midway between the two scores
    around the best cut; 0 (no shift) for a class without positives."""
    out = np.zeros(scores.shape[1])
    for j in range(scores.shape[1]):
        y = Y[:, j] > 0
        if not y.any():
            continue
        order = np.argsort(-scores[:, j], kind="stable")
        s, hits = scores[order, j], y[order]
        f1 = 2 * np.cumsum(hits) / (np.arange(1, len(s) + 1) + hits.sum())
        i = int(np.argmax(f1))
        out[j] = (s[i] + s[i + 1]) / 2 if i + 1 < len(s) else s[i] - 1e-6
    return out


def fit_shrunk_thresholds(scores: np.ndarray, Y: np.ndarray, seed: int = 0, folds: int = 5,
                          repeats: int = 10) -> tuple[float, np.ndarray]:
    """Per-class score thresholds for multi-label macro-F1, shrunk toward no shift: ``λ · fit_thresholds``.

    Per-class thresholds fitted on a val split of a few thousand rows overfit its rare classes; ``λ`` (0, 0.1,
    … 1) is chosen by cross-validation on the same rows: each fold's rows shifted by the thresholds fitted on the
    other folds, macro-F1 read on all the rows so shifted (``repeats`` shuffles), so a split that cannot support
    per-class thresholds gets λ = 0. Returns ``(λ, shift)``."""
    from siteclass.metrics import classification_metrics

    lams = np.linspace(0.0, 1.0, 11)
    gain = np.zeros(len(lams))
    rng = np.random.default_rng(seed)
    rows = np.arange(len(Y))
    for _ in range(repeats):
        held_out = np.zeros_like(scores)
        for part in np.array_split(rng.permutation(len(Y)), folds):
            rest = np.setdiff1d(rows, part)
            held_out[part] = fit_thresholds(scores[rest], Y[rest])
        gain += [classification_metrics(Y, scores - lam * held_out, True)["macro_f1"] for lam in lams]
    lam = float(lams[int(np.argmax(gain))])
    return lam, lam * fit_thresholds(scores, Y)


def fit_global_threshold(logits: np.ndarray, Y: np.ndarray) -> float:
    """ONE logit threshold for every class, maximising macro-F1 on (``logits``, ``Y``) under the contract's rule
    (a label where its probability passes; the top one when none does): the best of probabilities 0.05 … 0.95.
    One number, so a val split of a few hundred rows fits it where per-class thresholds overfit."""
    from siteclass.metrics import classification_metrics

    grid = np.linspace(0.05, 0.95, 37)
    cuts = np.log(grid / (1 - grid))
    f1 = [classification_metrics(Y, logits, True, threshold=float(c))["macro_f1"] for c in cuts]
    return float(cuts[int(np.argmax(f1))])


def _solve(kind: str, X: Any, y: np.ndarray, sample_weight: np.ndarray | None,
           params: dict[str, Any]) -> tuple[np.ndarray, float]:
    """One binary problem of one member (liblinear, dual coordinate descent). ``nbsvm``: the linear SVM on the
    features scaled by their naive-Bayes log-count ratios for this class (:func:`nb_ratios`), its weights mapped
    back to the unscaled features (``w · r``), so its scores are linear in the same TF-IDF matrix."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if y.min() == y.max():  # a class on every row or on none: a constant score
        return np.zeros(X.shape[1]), (8.0 if y.max() == 1 else -8.0)
    ratios = None
    if kind == "nbsvm":
        from scipy import sparse

        ratios = nb_ratios(X, y)  # X scaled: a copy of its values (not its indices), freed when the fit returns
        X = sparse.csr_matrix((X.data * ratios[X.indices], X.indices, X.indptr), shape=X.shape)
    clf: Any = (LinearSVC(dual=True, **params) if kind in ("svm", "nbsvm")
                else LogisticRegression(solver="liblinear", dual=True, **params))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=sample_weight)
    coef = np.asarray(clf.coef_[0], dtype=np.float64)
    return (coef if ratios is None else coef * ratios), float(clf.intercept_[0])


def nb_ratios(X: Any, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes log-count ratios of the features for a binary target (Wang & Manning 2012, NBSVM): over the
    binarised feature matrix, ``log((p / |p|₁) / (q / |q|₁))`` with ``p`` = ``alpha`` + the positive rows'
    counts and ``q`` = ``alpha`` + the negative rows' counts (the rows where a feature is present)."""
    X = X.tocsr()
    positive = np.repeat(y == 1, np.diff(X.indptr))  # per stored value: does its row belong to the class?
    pos = np.bincount(X.indices[positive], minlength=X.shape[1]).astype(np.float64)
    neg = np.bincount(X.indices, minlength=X.shape[1]) - pos
    pos, neg = pos + alpha, neg + alpha
    return np.log((pos / pos.sum()) / (neg / neg.sum()))  # type: ignore[no-any-return]

