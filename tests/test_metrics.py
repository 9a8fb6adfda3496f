"""siteclass.metrics against hand-computed cases (numbers worked out in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from siteclass import metrics as M

# y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2]  →  confusion rows [2,1,0], [0,1,1], [0,0,1]
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_and_accuracy() -> None:
    cm = M.confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert M.accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)


def test_per_class_table_by_hand() -> None:
    counts = M.ClassCounts.from_confusion(M.confusion_matrix(Y_TRUE, Y_PRED, 3))
    rows = {r["class"]: r for r in M.per_class_table(counts, ["a", "b", "c"])}
    # class a: TP 2, FP 0, FN 1, TN 3
    a = rows["a"]
    assert (a["support"], a["tp"], a["fp"], a["fn"], a["tn"]) == (3, 2, 0, 1, 3)
    assert (a["precision"], a["recall"], a["specificity"], a["npv"]) == pytest.approx((1.0, 2 / 3, 1.0, 3 / 4))
    assert a["f1"] == pytest.approx(0.8)  # 2·2 / (2·2 + 0 + 1)
    # class b: TP 1, FP 1, FN 1, TN 3
    b = rows["b"]
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (1, 1, 1, 3)
    assert (b["precision"], b["recall"], b["specificity"], b["npv"], b["f1"]) == pytest.approx(
        (0.5, 0.5, 0.75, 0.75, 0.5))
    # class c: TP 1, FP 1, FN 0, TN 4
    c = rows["c"]
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (1, 1, 0, 4)
    assert (c["precision"], c["recall"], c["specificity"], c["npv"], c["f1"]) == pytest.approx(
        (0.5, 1.0, 0.8, 1.0, 2 / 3))


def test_averages_by_hand() -> None:
    avg = M.averaged_scores(M.ClassCounts.from_confusion(M.confusion_matrix(Y_TRUE, Y_PRED, 3)))
    assert avg["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert avg["weighted_f1"] == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert avg["macro_precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert avg["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert avg["micro_f1"] == pytest.approx(4 / 6)  # single-label: micro F1 = accuracy


def test_averages_match_sklearn_on_random_labels() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 7, 300), rng.integers(0, 6, 300)  # class 6 never predicted
    avg = M.averaged_scores(M.ClassCounts.from_confusion(M.confusion_matrix(t, p, 8)))  # class 7 absent
    assert avg["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))
    assert avg["weighted_f1"] == pytest.approx(f1_score(t, p, average="weighted"))
    assert avg["macro_precision"] == pytest.approx(precision_score(t, p, average="macro", zero_division=0))
    assert avg["macro_recall"] == pytest.approx(recall_score(t, p, average="macro", zero_division=0))


def test_kappa_and_its_interval_by_hand() -> None:
    # 3×3 case: po = 4/6, pe = (3·2 + 2·2 + 1·2)/36 = 1/3  →  κ = (2/3 − 1/3)/(2/3) = 0.5
    assert M.cohen_kappa(M.confusion_matrix(Y_TRUE, Y_PRED, 3)).kappa == pytest.approx(0.5)
    # 2×2 case [[20, 5], [10, 15]], n = 50: p = [[.4,.1],[.2,.3]], rows .5/.5, cols .6/.4, po .7, pe .5, κ .4
    # A = .4(1 − 1.1·.6)² + .3(1 − .9·.6)² = .10972;  B = .36(.1·1.21 + .2·.81) = .10188;  C = (.4 − .3)² = .01
    # var = (A + B − C) / (50 · .25) = .016128
    k = M.cohen_kappa(np.array([[20, 5], [10, 15]]))
    assert k.kappa == pytest.approx(0.4)
    assert k.se == pytest.approx(math.sqrt(0.016128), rel=1e-6)
    assert (k.low, k.high) == pytest.approx((0.4 - 1.959964 * k.se, 0.4 + 1.959964 * k.se))


def test_kappa_matches_sklearn_and_a_bootstrap_se() -> None:
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, 400)
    p = np.where(rng.random(400) < 0.6, t, rng.integers(0, 4, 400))
    cm = M.confusion_matrix(t, p, 4)
    k = M.cohen_kappa(cm)
    assert k.kappa == pytest.approx(cohen_kappa_score(t, p))
    # the analytic SE agrees with a (multinomial) bootstrap of the same table within 15%
    draws = rng.multinomial(cm.sum(), (cm / cm.sum()).ravel(), size=3000).reshape(-1, 4, 4)
    boot = np.array([M.cohen_kappa(d).kappa for d in draws])
    assert k.se == pytest.approx(boot.std(), rel=0.15)
    assert k.low < k.kappa < k.high


def test_top_k_accuracy_by_hand() -> None:
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    y = [1, 2, 0]  # ranks: row0 class1 is 2nd, row1 class2 is 1st, row2 class0 ties class2 at 2nd → column order
    assert M.top_k_accuracy(y, proba, 1) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(y, proba, 2) == pytest.approx(1.0)
    assert M.top_k_accuracy([1, 2, -1], proba, 5) == pytest.approx(2 / 3)  # unknown label: a miss; k capped


def test_log_loss_by_hand() -> None:
    proba = np.array([[0.8, 0.2], [0.4, 0.6]])
    assert M.log_loss([0, 1], proba) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert M.log_loss([0, -1], proba) == pytest.approx(-math.log(0.8))
    Y = np.array([[1, 0], [0, 1]])
    expected = -(math.log(0.8) + math.log(0.8) + math.log(0.6) + math.log(0.6)) / 4
    assert M.binary_log_loss(Y, proba) == pytest.approx(expected)


def test_ece_by_hand() -> None:
    conf = np.array([0.9, 0.8, 0.6, 0.3])
    ok = np.array([1, 0, 1, 0])
    # 2 bins: (0, .5] holds .3 (acc 0) → ¼·.3;  (.5, 1] holds .9 .8 .6 (acc ⅔, conf .7667) → ¾·.1
    assert M.expected_calibration_error(conf, ok, bins=2) == pytest.approx(0.15)
    # 10 bins: every row alone: mean |ok − conf| = (.1 + .8 + .4 + .3)/4
    assert M.expected_calibration_error(conf, ok, bins=10) == pytest.approx(0.4)
    rel = M.reliability_bins(conf, ok, bins=2)
    assert [b["count"] for b in rel] == [1, 3]


def test_accuracy_coverage_by_hand() -> None:
    pts = M.accuracy_coverage(np.array([0.9, 0.8, 0.6, 0.3]), np.array([1, 0, 1, 0]), [0.0, 0.5, 0.85, 0.95])
    assert [p["coverage"] for p in pts] == pytest.approx([1.0, 0.75, 0.25, 0.0])
    assert [p["accuracy"] for p in pts[:3]] == pytest.approx([0.5, 2 / 3, 1.0])
    assert math.isnan(pts[3]["accuracy"])


def test_multilabel_by_hand() -> None:
    Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    proba = np.array([[0.9, 0.2, 0.4], [0.3, 0.6, 0.7], [0.2, 0.1, 0.8]])
    # top-1 = 0, 2, 2 → only row 0 hits
    assert M.precision_at_1(Y, proba) == pytest.approx(1 / 3)
    assert M.multilabel_top_k(Y, proba, 2) == pytest.approx(1.0)
    D = (proba >= 0.5).astype(int)  # [[1,0,0],[0,1,1],[0,0,1]]
    counts = M.ClassCounts.from_multilabel(Y, D)
    assert counts.tp.tolist() == [1, 1, 0]
    assert counts.fp.tolist() == [0, 0, 2]
    assert counts.fn.tolist() == [1, 1, 1]
    assert counts.tn.tolist() == [1, 1, 0]
    avg = M.averaged_scores(counts)
    assert avg["micro_f1"] == pytest.approx(4 / 9)  # 2·2 / (2·2 + 2 + 3)
    assert avg["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert M.subset_accuracy(Y, D) == 0.0
    assert M.subset_accuracy(Y, Y) == 1.0


def test_apply_min_confidence() -> None:
    guesses = [("plumbing", 0.6), ("hvac", 0.3)]
    d = M.apply_min_confidence(guesses, 0.5)
    assert (d.label, d.probability, d.labels) == ("plumbing", 0.6, ["plumbing", "hvac"])
    d = M.apply_min_confidence(guesses, 0.7)
    assert d.label == M.UNKNOWN == "unknown"
    assert d.probability == 0.6 and d.labels == ["plumbing", "hvac"] and d.probabilities == [0.6, 0.3]
    assert M.apply_min_confidence([], 0.5).label == "unknown"
