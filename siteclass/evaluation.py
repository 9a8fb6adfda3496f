"""Evaluate a model on a labelled table: metrics, per-class statistics, confusions, calibration, HTML report.

    result = siteclass.evaluate("model/", "ds/test.parquet", out="report/")
    result.metrics["macro_f1"]; result.report   # report/report.html, one self-contained page

``compare(models, data)`` puts several models side by side; ``calibrate(model, data)`` fits the temperature.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siteclass import metrics as M
from siteclass.config import EvaluateSettings, Settings, save_settings
from siteclass.data.io import Split, read_split
from siteclass.errors import InputError
from siteclass.metrics import UNKNOWN, Decision, apply_min_confidence
from siteclass.models.base import Classifier
from siteclass.models.registry import resolve_model
from siteclass.records import record_text
from siteclass.training_log import read_metrics_log

__all__ = [
    "UNKNOWN",
    "Decision",
    "EvaluationResult",
    "Scores",
    "apply_min_confidence",
    "calibrate",
    "compare",
    "evaluate",
    "score",
]

KAPPA_CI_METHOD = "analytic: kappa ± 1.96·SE, SE of Fleiss, Cohen & Everitt (1969)"
SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")


# ----------------------------------------------------------------------------------------------- data
def _label_of(v: Any) -> str | list[str]:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if hasattr(v, "tolist"):
        v = v.tolist()
    return [str(x) for x in v] if isinstance(v, list | tuple) else str(v)


# ----------------------------------------------------------------------------------------------- scoring
@dataclass
class Scores:
    """Everything computed from (labels, probabilities): the numbers behind metrics.json and the report."""

    metrics: dict[str, Any]
    classes: list[str]  # class order of the confusion matrix (model classes, then unseen true labels)
    confusion: np.ndarray
    per_class: list[dict[str, Any]]
    coverage: list[dict[str, float]]
    reliability: dict[str, list[dict[str, float]]]
    true_idx: np.ndarray  # per row, index in `classes` used by the confusion matrix (-1: none)
    pred_idx: np.ndarray
    confidence: np.ndarray


def score(
    classes: Sequence[str],
    multi_label: bool,
    labels: Sequence[Any],
    proba: np.ndarray,
    raw_proba: np.ndarray | None = None,
    settings: EvaluateSettings | None = None,
    threshold: float = 0.5,
) -> Scores:
    """Compute every metric from true labels and (calibrated) probabilities in ``classes`` order.

    ``raw_proba`` — the probabilities before temperature scaling — adds ``ece_uncalibrated`` and
    ``log_loss_uncalibrated``. Multi-label decisions are ``p ≥ threshold`` (the top class when none passes).
    """
    s = settings or EvaluateSettings.model_validate({})
    classes = list(classes)
    n, k = proba.shape
    index = {c: i for i, c in enumerate(classes)}
    labels = [_label_of(v) for v in labels]
    if len(labels) != n:
        raise InputError(f"{len(labels)} labels but {n} rows of probabilities")
    top1 = proba.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    confidence = proba.max(axis=1) if n else np.zeros(0)
    out: dict[str, Any] = {"n": n, "n_classes": k, "multi_label": multi_label}

    if multi_label:
        sets = [[v] if isinstance(v, str) else list(v) for v in labels]
        Y = np.zeros((n, k), dtype=np.int8)
        unknown = 0
        for i, row in enumerate(sets):
            for lab in row:
                if lab in index:
                    Y[i, index[lab]] = 1
                else:
                    unknown += 1
        D = (proba >= threshold).astype(np.int8)
        D[np.arange(n), top1] |= (D.sum(axis=1) == 0).astype(np.int8)
        counts = M.ClassCounts.from_multilabel(Y, D)
        avg = M.averaged_scores(counts)
        correct = Y[np.arange(n), top1] > 0
        # confusion of the top prediction against the true label it matched (else the row's first known label)
        true_idx = np.full(n, -1, dtype=np.int64)
        for i, row in enumerate(sets):
            known = [index[lab] for lab in row if lab in index]
            if known:
                true_idx[i] = top1[i] if top1[i] in known else known[0]
        keep = true_idx >= 0
        cm = M.confusion_matrix(true_idx[keep], top1[keep], k)
        out.update(
            accuracy=M.subset_accuracy(Y, D),
            p_at_1=M.precision_at_1(Y, proba),
            micro_f1=avg["micro_f1"],
            log_loss=M.binary_log_loss(Y, proba),
            top_k_accuracy={str(t): M.multilabel_top_k(Y, proba, t) for t in s.top_k},
            n_unknown_labels=unknown,
            accuracy_definition="exact match of the predicted label set",
            kappa_definition="top prediction vs the true label it matched (else the row's first label)",
        )
        raw_log_loss = (lambda p: M.binary_log_loss(Y, p)) if raw_proba is not None else None
        all_classes = classes
    else:
        flat = [v if isinstance(v, str) else (v[0] if v else "") for v in labels]
        extra = sorted({v for v in flat if v not in index})
        all_classes = classes + extra
        full = {c: i for i, c in enumerate(all_classes)}
        true_idx = np.array([full[v] for v in flat], dtype=np.int64)
        y_model = np.where(true_idx < k, true_idx, -1)
        cm = M.confusion_matrix(true_idx, top1, len(all_classes))
        counts = M.ClassCounts.from_confusion(cm)
        avg = M.averaged_scores(counts)
        correct = true_idx == top1
        out.update(
            accuracy=M.accuracy(true_idx, top1),
            log_loss=M.log_loss(y_model, proba),
            top_k_accuracy={str(t): M.top_k_accuracy(y_model, proba, t) for t in s.top_k},
            n_unknown_labels=int((y_model < 0).sum()),
        )
        raw_log_loss = (lambda p: M.log_loss(y_model, p)) if raw_proba is not None else None

    kappa = M.cohen_kappa(cm)
    out.update(
        macro_f1=avg["macro_f1"],
        weighted_f1=avg["weighted_f1"],
        macro_precision=avg["macro_precision"],
        macro_recall=avg["macro_recall"],
        cohen_kappa=kappa.kappa,
        cohen_kappa_ci95=[kappa.low, kappa.high],
        cohen_kappa_se=kappa.se,
        cohen_kappa_ci_method=KAPPA_CI_METHOD,
        ece=M.expected_calibration_error(confidence, correct, s.bins),
        ece_bins=s.bins,
    )
    if multi_label:
        out["macro_f1_ovr"] = avg["macro_f1"]
        out["micro_f1_ovr"] = avg["micro_f1"]
    reliability = {"calibrated": M.reliability_bins(confidence, correct, s.bins)}
    if raw_proba is not None and raw_log_loss is not None:
        raw_top = raw_proba.argmax(axis=1)
        raw_conf = raw_proba.max(axis=1)
        raw_correct = (Y[np.arange(n), raw_top] > 0) if multi_label else (true_idx == raw_top)
        out["ece_uncalibrated"] = M.expected_calibration_error(raw_conf, raw_correct, s.bins)
        out["log_loss_uncalibrated"] = raw_log_loss(raw_proba)
        reliability["temperature 1 (uncalibrated)"] = M.reliability_bins(raw_conf, raw_correct, s.bins)
    thresholds = np.arange(s.coverage_steps) / s.coverage_steps
    coverage = M.accuracy_coverage(confidence, correct, thresholds)
    pc_counts = counts if multi_label else M.ClassCounts.from_confusion(cm)
    per_class = M.per_class_table(pc_counts, all_classes)
    return Scores(out, all_classes, cm, per_class, coverage, reliability, true_idx, top1, confidence)


def _predict(model: Classifier, records: list[dict[str, Any]], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(calibrated probabilities, probabilities at temperature 1) from one pass of logits."""
    parts = [model.decision_function(records[i : i + batch_size]) for i in range(0, len(records), batch_size)]
    logits = np.concatenate(parts) if parts else np.zeros((0, len(model.classes_)))
    proba = model.proba_from_logits(logits)
    saved, model.temperature_ = model.temperature_, 1.0
    try:
        raw = model.proba_from_logits(logits)
    finally:
        model.temperature_ = saved
    return proba, raw


def check_labels_known(classes: Sequence[str], labels: Sequence[Any], where: str) -> None:
    """Refuse data whose labels are none of the model's classes (every metric would be 0 or NaN); warn when only
    some are unknown (their rows count as errors)."""
    seen = {lab for v in labels for lab in ([v] if isinstance(v, str) else v) if lab}
    unknown = sorted(seen - set(classes))
    if not seen or not unknown:
        return
    if len(unknown) == len(seen):
        raise InputError(f"the labels of {where} share nothing with the model's classes (data: "
                         f"{', '.join(unknown[:4])}{' …' if len(unknown) > 4 else ''}; model: "
                         f"{', '.join(list(classes)[:4])}{' …' if len(classes) > 4 else ''}); evaluate a model trained "
                         "on these labels, or map the data's labels to the model's first")
    warnings.warn(f"{len(unknown)} of the {len(seen)} labels of {where} are not classes of the model "
                  f"({', '.join(unknown[:4])}{' …' if len(unknown) > 4 else ''}): their rows count as errors",
                  UserWarning, stacklevel=3)


def _as_model(model: str | Path | Classifier) -> tuple[Classifier, str]:
    """The model and the name the report gives it (its folder, or its class)."""
    if isinstance(model, Classifier):
        return model, type(model).__name__
    path = Path(model)
    if not path.exists():
        raise InputError(f"model folder {path} does not exist; pass a folder written by `siteclass train`")
    return resolve_model(path), str(path)


# ----------------------------------------------------------------------------------------------- evaluate
@dataclass
class EvaluationResult:
    metrics: dict[str, Any]
    per_class: list[dict[str, Any]]
    classes: list[str]
    confusion: np.ndarray
    top_confusions: list[dict[str, Any]]
    coverage: list[dict[str, float]]
    out: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    reliability: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    @property
    def report(self) -> Path | None:
        return self.files.get("report")

    def __repr__(self) -> str:
        m = self.metrics
        return (f"EvaluationResult(n={m['n']}, accuracy={m['accuracy']:.4f}, macro_f1={m['macro_f1']:.4f}, "
                f"ece={m['ece']:.4f}, out={self.out})")


def _top_confusions(sc: Scores, rows: list[dict[str, Any]], labels: list[Any], s: EvaluateSettings,
                    model_classes: list[str]) -> list[dict[str, Any]]:
    cm = sc.confusion.copy()
    np.fill_diagonal(cm, 0)
    flat = np.argsort(-cm, axis=None, kind="stable")[: s.top_confusions]
    out = []
    for f in flat:
        i, j = np.unravel_index(f, cm.shape)
        if cm[i, j] == 0:
            break
        hit = np.flatnonzero((sc.true_idx == i) & (sc.pred_idx == j))
        hit = hit[np.argsort(-sc.confidence[hit], kind="stable")][: s.examples_per_confusion]
        examples = []
        for r in hit:
            row = rows[r]
            text = row.get("text") if isinstance(row.get("text"), str) and row.get("text") else record_text(row)
            lab = labels[r]
            examples.append({
                "id": str(row.get("id", r)),
                "name": str(row.get("name") or ""),
                "domain": str(row.get("domain") or ""),
                "snippet": " ".join(str(text).split())[: s.snippet_chars],
                "true": lab if isinstance(lab, str) else ", ".join(lab),
                "predicted": model_classes[j],
                "confidence": float(sc.confidence[r]),
            })
        row_total = int(sc.confusion[i].sum())
        out.append({"true": sc.classes[i], "predicted": sc.classes[j], "count": int(cm[i, j]),
                    "share_of_true": cm[i, j] / row_total if row_total else 0.0, "examples": examples})
    return out


def evaluate(
    model: str | Path | Classifier,
    data: Any,
    out: str | Path | None = None,
    settings: Settings | EvaluateSettings | None = None,
) -> EvaluationResult:
    """Score *model* on labelled *data*; with *out*, write metrics.json, per_class.csv, confusion_matrix.png/.csv,
    top_confusions.json, coverage.csv/.png, reliability.png, settings.toml and report.html there."""
    s = settings.evaluate if isinstance(settings, Settings) else (settings or EvaluateSettings.model_validate({}))
    clf, model_name = _as_model(model)
    split = data if isinstance(data, Split) else read_split(data)
    rows, labels, records = split.records, split.labels, split.records
    check_labels_known(clf.classes_, labels, str(data) if isinstance(data, str | Path) else "the data table")
    started = time.perf_counter()
    proba, raw = _predict(clf, records, s.batch_size)
    seconds = time.perf_counter() - started
    T = float(clf.temperature_)
    sc = score(clf.classes_, clf.multi_label_, labels, proba, raw if abs(T - 1.0) > 1e-9 else None, s,
               clf.multi_label_threshold)
    sc.metrics.update(
        model=model_name,
        model_type=clf.model_type,
        data=str(data) if isinstance(data, str | Path) else "table",
        temperature=T,
        predict_seconds=round(seconds, 4),
        rows_per_second=round(len(rows) / seconds, 1) if seconds > 0 else None,
    )
    confusions = _top_confusions(sc, rows, labels, s, sc.classes)
    result = EvaluationResult(sc.metrics, sc.per_class, sc.classes, sc.confusion, confusions, sc.coverage,
                              reliability=sc.reliability)
    if out is not None:
        result.out = Path(out)
        history = read_metrics_log(model) if isinstance(model, str | Path) else []
        result.files = _write_report(result, sc, s, Path(out), history)
    return result


def _write_report(result: EvaluationResult, sc: Scores, s: EvaluateSettings, out: Path,
                  history: list[dict[str, float]]) -> dict[str, Path]:
    """The report files; *history* (the model's ``metrics.jsonl``) adds its training curves."""
    import csv

    from siteclass.report import embed_png, render_html
    from siteclass.report.plots import (
        confusion_matrix_png,
        coverage_png,
        reliability_png,
        training_curves_png,
    )

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics": out / "metrics.json",
        "per_class": out / "per_class.csv",
        "confusion_csv": out / "confusion_matrix.csv",
        "confusion_png": out / "confusion_matrix.png",
        "top_confusions": out / "top_confusions.json",
        "coverage_csv": out / "coverage.csv",
        "coverage_png": out / "accuracy_coverage.png",
        "reliability_png": out / "reliability.png",
    }
    files["metrics"].write_text(json.dumps(_json_safe(result.metrics), indent=2), encoding="utf-8")
    with files["per_class"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(sc.per_class[0]))
        w.writeheader()
        w.writerows(sc.per_class)
    with files["confusion_csv"].open("w", newline="", encoding="utf-8") as fh:
        w2 = csv.writer(fh)
        w2.writerow(["true \\ predicted", *sc.classes])
        for name, row in zip(sc.classes, sc.confusion):
            w2.writerow([name, *row.tolist()])
    files["top_confusions"].write_text(json.dumps(result.top_confusions, indent=2, ensure_ascii=False),
                                       encoding="utf-8")
    with files["coverage_csv"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["threshold", "coverage", "accuracy", "n"])
        w.writeheader()
        w.writerows(sc.coverage)
    confusion_matrix_png(sc.confusion, sc.classes, files["confusion_png"])
    coverage_png(sc.coverage, files["coverage_png"])
    reliability_png(sc.reliability, files["reliability_png"])
    if history:
        files["training_png"] = training_curves_png(history, out / "training_curves.png")
    save_settings(s, out, section="evaluate")
    headline = ["n", "accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "log_loss", "ece",
                "p_at_1", "micro_f1_ovr", "macro_f1_ovr", "temperature", "ece_uncalibrated",
                "log_loss_uncalibrated", "n_unknown_labels", "rows_per_second"]
    files["report"] = render_html(
        "evaluate.html.j2",
        out / "report.html",
        m=result.metrics,
        headline=[(k, result.metrics[k]) for k in headline if k in result.metrics],
        per_class=sorted(sc.per_class, key=lambda r: -r["support"]),
        confusions=result.top_confusions,
        coverage=sc.coverage,
        images={k: embed_png(files[k]) for k in ("confusion_png", "coverage_png", "reliability_png", "training_png")
                if k in files},
        history=history,
    )
    return files


def _json_safe(obj: Any) -> Any:
    """NaN/inf → null, so metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


# ----------------------------------------------------------------------------------------------- compare
COMPARE_COLUMNS = ["model", "model_type", "n", "accuracy", "macro_f1", "weighted_f1", "macro_precision",
                   "macro_recall", "top_3", "cohen_kappa", "log_loss", "ece", "temperature", "rows_per_second"]


def compare(models: Sequence[str | Path | Classifier], data: Any,
            settings: Settings | EvaluateSettings | None = None,
            out: str | Path | None = None) -> list[dict[str, Any]]:
    """One row of headline metrics per model, all scored on the same *data* (read once). With *out*, also write
    ``compare.csv`` (those rows), ``compare.json`` (rows, per-class F1 of every model, reliability bins),
    ``reliability.png`` (every model's curve in one picture), ``report.html`` (self-contained) and
    ``settings.toml`` there."""
    if not models:
        raise InputError("compare needs at least one model folder")
    rows = read_split(data)
    table = []
    results = []
    for m in models:
        result = evaluate(m, rows, settings=settings)
        r = result.metrics
        r["top_3"] = r["top_k_accuracy"].get("3")
        table.append({c: r.get(c) for c in COMPARE_COLUMNS})
        results.append(result)
    if out is not None:
        s = settings.evaluate if isinstance(settings, Settings) else (settings or EvaluateSettings.model_validate({}))
        _write_compare(table, results, str(data) if isinstance(data, str | Path) else "table", s, Path(out))
    return table


def _model_names(table: list[dict[str, Any]]) -> list[str]:
    """A short distinct name per compared model: the folder name, numbered where two share it."""
    base = [Path(str(r["model"])).name or str(r["model"]) for r in table]
    return [f"{i + 1}. {b}" if base.count(b) > 1 else b for i, b in enumerate(base)]


def _write_compare(table: list[dict[str, Any]], results: list[EvaluationResult], data: str, s: EvaluateSettings,
                   out: Path) -> dict[str, Path]:
    import csv

    from siteclass.report import embed_png, render_html
    from siteclass.report.plots import reliability_png

    out.mkdir(parents=True, exist_ok=True)
    names = _model_names(table)
    classes: list[str] = []
    for res in results:
        classes += [c for c in res.classes if c not in classes]
    f1 = [{r["class"]: r for r in res.per_class} for res in results]
    per_class: list[dict[str, Any]] = []
    for c in classes:
        support = next((t[c]["support"] for t in f1 if c in t), 0)
        per_class.append({"class": c, "support": support,
                          "f1": {n: (t[c]["f1"] if c in t else None) for n, t in zip(names, f1)}})
    per_class.sort(key=lambda r: (-int(r["support"]), str(r["class"])))
    reliability = {n: res.reliability.get("calibrated", []) for n, res in zip(names, results)}
    files = {"csv": out / "compare.csv", "json": out / "compare.json", "reliability_png": out / "reliability.png"}
    with files["csv"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["name", *COMPARE_COLUMNS])
        w.writeheader()
        w.writerows({"name": n, **row} for n, row in zip(names, table))
    files["json"].write_text(json.dumps(_json_safe({
        "data": data, "models": [{"name": n, **row} for n, row in zip(names, table)],
        "per_class_f1": per_class, "reliability": reliability,
    }), indent=2, ensure_ascii=False), encoding="utf-8")
    reliability_png(reliability, files["reliability_png"])
    save_settings(s, out, section="evaluate")
    files["report"] = render_html(
        "compare.html.j2", out / "report.html", data=data, names=names,
        columns=[c for c in COMPARE_COLUMNS if c != "model"], rows=list(zip(names, table)), per_class=per_class,
        images={"reliability_png": embed_png(files["reliability_png"])},
    )
    return files


# ----------------------------------------------------------------------------------------------- calibrate
def calibrate(model: str | Path | Classifier, data: Any, save: bool = True,
              settings: Settings | EvaluateSettings | None = None) -> dict[str, float]:
    """Fit the model's temperature on labelled *data* (a validation split) and, for a folder, save it in place.

    Returns ECE and log loss before and after, and the temperatures."""
    s = settings.evaluate if isinstance(settings, Settings) else (settings or EvaluateSettings.model_validate({}))
    clf, _ = _as_model(model)
    split = read_split(data, "val")
    rows, labels, records = split.records, split.labels, split.records
    before_t = float(clf.temperature_)
    proba, _ = _predict(clf, records, s.batch_size)
    before = score(clf.classes_, clf.multi_label_, labels, proba, None, s, clf.multi_label_threshold).metrics
    clf.calibrate(records, labels)
    proba, _ = _predict(clf, records, s.batch_size)
    after = score(clf.classes_, clf.multi_label_, labels, proba, None, s, clf.multi_label_threshold).metrics
    if save and not isinstance(model, Classifier):
        clf.save(Path(model))
    return {"temperature_before": before_t, "temperature_after": float(clf.temperature_),
            "ece_before": before["ece"], "ece_after": after["ece"],
            "log_loss_before": before["log_loss"], "log_loss_after": after["log_loss"], "n": len(rows)}

