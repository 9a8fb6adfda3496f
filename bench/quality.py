"""Model quality and speed on real data, beside two anchors trained in the same run.

    python -m bench quality                          # every siteclass model + both anchors, both tasks
    python -m bench quality --skip transformer,zeroshot --tasks single
    python -m bench quality --models linear --anchors tfidf     # one model beside one anchor
    python bench/quality.py --limit 5000             # a quick run on a sample

Data: ../shared/data/crunchbase/companies.parquet (read in place). Split by domain (CRC-32 of the domain:
70 % train, 10 % val, 20 % test), text = name + description + full_description. Tasks:

- **single**: ``industry_group_single`` (non-empty rows, 40 classes): accuracy and macro-F1.
- **groups**: ``industry_groups`` (47 classes, multi-label): P@1 (the top label is a true one) and macro-F1 of
  the one-vs-rest decisions (probability ≥ 0.5; the top label when none passes) — the same rule for every model.

Models: each siteclass model from the registry (``linear``, ``fasttext``; ``transformer`` and ``zeroshot``
when their modules import — ``--skip`` leaves any out), with their default settings from siteclass/config.py;
they may use the val split (early stopping, calibration). Anchors, trained on the train split only:
scikit-learn TF-IDF (defaults) + LogisticRegression (one-vs-rest for groups), and the fastText library
(``fasttext-numpy2``: ``train_supervised`` with its defaults + ``wordNgrams=2``; benchmark only, never a
package dependency), on the same lower-cased word tokens.

Reported per model: the task metrics, training seconds and predictions/s (test split, one call).
Targets: ``fasttext`` macro-F1 ≥ the fastText library's, trained in ≤ 2× its time; the best siteclass model
≥ TF-IDF + LR + 3 points macro-F1 on both tasks. Results go to bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SITECLASS_SHARED", ROOT.parent / "shared")) / "data" / "crunchbase" / "companies.parquet"
OUT = ROOT / "bench" / "out"
SITECLASS_MODELS = ("linear", "fasttext", "transformer", "zeroshot")
_TOKEN = re.compile(r"\w+")


# ----------------------------------------------------------------------------------------------- data
def split_of(domain: str) -> str:
    h = zlib.crc32(domain.encode("utf-8")) % 10
    return "train" if h < 7 else ("val" if h == 7 else "test")


def load_task(task: str, limit: int | None) -> dict[str, Any]:
    import pyarrow.parquet as pq

    cols = ["name", "domain", "description", "full_description", "industry_groups", "industry_group_single"]
    rows = pq.read_table(DATA, columns=cols).to_pylist()
    if limit:
        rows = sorted(rows, key=lambda r: zlib.crc32(r["domain"].encode()))[:limit]
    parts: dict[str, dict[str, list[Any]]] = {s: {"records": [], "labels": []} for s in ("train", "val", "test")}
    for r in rows:
        if task == "single":
            label: Any = r["industry_group_single"]
            if not label:
                continue
        else:
            label = list(r["industry_groups"] or [])
            if not label:
                continue
        rec = {"name": r["name"] or "", "text": f"{r['description'] or ''}\n{r['full_description'] or ''}"}
        part = parts[split_of(r["domain"])]
        part["records"].append(rec)
        part["labels"].append(label)
    return parts


def plain_text(record: dict[str, Any]) -> str:
    return f"{record['name']}\n{record['text']}"


def tokens(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


# ----------------------------------------------------------------------------------------------- metrics
def encode(labels: list[Any], classes: list[str], multi: bool) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    if multi:
        Y = np.zeros((len(labels), len(classes)), dtype=np.float32)
        for i, labs in enumerate(labels):
            for lab in labs:
                if lab in index:
                    Y[i, index[lab]] = 1
        return Y
    return np.array([index.get(lab, -1) for lab in labels], dtype=np.int64)


def score(labels: list[Any], proba: np.ndarray, classes: list[str], multi: bool) -> dict[str, float]:
    from siteclass.metrics import classification_metrics

    return classification_metrics(encode(labels, classes, multi), proba, multi, threshold=0.5)


# ----------------------------------------------------------------------------------------------- runners
def run_siteclass(name: str, data: dict[str, Any], multi: bool, tmp: Path) -> dict[str, Any]:
    from siteclass.config import TrainSettings
    from siteclass.models.registry import model_class

    settings = TrainSettings.model_validate({"model": name})
    if name == "transformer":
        settings = TrainSettings.model_validate({"model": name, "transformer": {"single_text": True,
                                                                                "freeze_encoder": True}})
    if name == "zeroshot":
        classes = sorted({lab for labs in data["train"]["labels"] for lab in (labs if multi else [labs])})
        csv = tmp / "labels.csv"
        csv.write_text("label,description\n" + "".join(f'"{c}","{c}"\n' for c in classes), encoding="utf-8")
        settings = TrainSettings.model_validate({"model": name, "zeroshot": {"labels_file": str(csv)}})
    if name in ("fasttext", "transformer", "zeroshot"):
        import torch  # noqa: F401 - imported before the clock starts, like the fastText library
    cls = model_class(name)
    model = cls.from_settings(settings) if hasattr(cls, "from_settings") else cls()
    started = time.perf_counter()
    options: dict[str, Any] = {"progress": False} if name in ("fasttext", "transformer") else {}
    model.fit(data["train"]["records"], data["train"]["labels"], X_val=data["val"]["records"],
              y_val=data["val"]["labels"], **options)
    if settings.calibrate:
        model.calibrate(data["val"]["records"], data["val"]["labels"])
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    proba = model.predict_proba(data["test"]["records"])
    pred_s = time.perf_counter() - started
    return {"proba": proba, "classes": list(model.classes_), "train_s": train_s, "pred_s": pred_s}


def run_tfidf_lr(data: dict[str, Any], multi: bool) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    texts = [plain_text(r) for r in data["train"]["records"]]
    started = time.perf_counter()
    vec = TfidfVectorizer()
    X = vec.fit_transform(texts)
    if multi:
        mlb = MultiLabelBinarizer()
        Y = mlb.fit_transform(data["train"]["labels"])
        clf: Any = OneVsRestClassifier(LogisticRegression(max_iter=1000), n_jobs=1).fit(X, Y)
        classes = list(mlb.classes_)
    else:
        clf = LogisticRegression(max_iter=1000).fit(X, data["train"]["labels"])
        classes = list(clf.classes_)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    proba = clf.predict_proba(vec.transform([plain_text(r) for r in data["test"]["records"]]))
    pred_s = time.perf_counter() - started
    return {"proba": np.asarray(proba), "classes": classes, "train_s": train_s, "pred_s": pred_s}


def run_fasttext_lib(data: dict[str, Any], multi: bool, tmp: Path, tuned: bool = False) -> dict[str, Any]:
    """The fastText library. ``tuned``: the settings its tutorial recommends for small data (25 epochs, lr 0.5,
    one-vs-all loss on multi-label data) — with its bare defaults it barely learns on 40–47 classes."""
    import fasttext  # fasttext-numpy2: the benchmark anchor only

    def tag(label: str) -> str:
        return "__label__" + label.replace(" ", "_")

    path = tmp / "ft_train.txt"
    with open(path, "w", encoding="utf-8") as fh:
        for rec, labs in zip(data["train"]["records"], data["train"]["labels"]):
            labs = labs if multi else [labs]
            fh.write(" ".join(tag(lab) for lab in labs) + " " + tokens(plain_text(rec)) + "\n")
    started = time.perf_counter()
    extra: dict[str, Any] = {"epoch": 25, "lr": 0.5, "loss": "ova" if multi else "softmax"} if tuned else {}
    model = fasttext.train_supervised(input=str(path), wordNgrams=2, verbose=0, **extra)
    train_s = time.perf_counter() - started
    classes = sorted(lab[len("__label__"):].replace("_", " ") for lab in model.labels)
    index = {c: i for i, c in enumerate(classes)}
    started = time.perf_counter()
    texts = [tokens(plain_text(r)) for r in data["test"]["records"]]
    labels, probs = model.predict(texts, k=-1)
    proba = np.zeros((len(texts), len(classes)))
    for i, (labs, ps) in enumerate(zip(labels, probs)):
        for lab, p in zip(labs, ps):
            proba[i, index[lab[len("__label__"):].replace("_", " ")]] = p
    pred_s = time.perf_counter() - started
    return {"proba": proba, "classes": classes, "train_s": train_s, "pred_s": pred_s}


# ----------------------------------------------------------------------------------------------- main
def available_models(skip: set[str]) -> list[str]:
    import importlib

    from siteclass.models.registry import MODEL_CLASSES

    names = []
    for name in SITECLASS_MODELS:
        if name in skip or name not in MODEL_CLASSES:
            continue
        try:
            importlib.import_module(MODEL_CLASSES[name].split(":")[0])
        except ImportError:
            continue
        names.append(name)
    return names


ANCHORS = ("tfidf", "fasttext", "fasttext-tuned")


def run_task(task: str, models: list[str], limit: int | None, anchors: tuple[str, ...] = ANCHORS) -> dict[str, Any]:
    multi = task == "groups"
    data = load_task(task, limit)
    n = {s: len(data[s]["records"]) for s in data}
    print(f"\n## task {task}: train {n['train']}, val {n['val']}, test {n['test']} rows", flush=True)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runners: list[tuple[str, Any]] = [
            ("anchor: tfidf+lr", lambda: run_tfidf_lr(data, multi)),
            ("anchor: fasttext lib", lambda: run_fasttext_lib(data, multi, Path(tmp))),
            ("anchor: fasttext lib tuned", lambda: run_fasttext_lib(data, multi, Path(tmp), tuned=True)),
        ]
        runners = [r for r, key in zip(runners, ANCHORS) if key in anchors]
        runners += [(name, lambda name=name: run_siteclass(name, data, multi, Path(tmp))) for name in models]
        for label, run in runners:
            print(f"  training {label} …", flush=True)
            try:
                out = run()
            except Exception as exc:  # a model that fails is reported, not fatal
                results[label] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"    failed: {results[label]['error']}", flush=True)
                continue
            metrics = score(data["test"]["labels"], out["proba"], out["classes"], multi)
            results[label] = {
                **metrics,
                "train_s": round(out["train_s"], 2),
                "pred_per_s": round(n["test"] / max(out["pred_s"], 1e-9), 1),
            }
            print(f"    {results[label]}", flush=True)
    return {"task": task, "rows": n, "results": results}


def print_table(report: dict[str, Any]) -> None:
    multi = report["task"] == "groups"
    first = "p_at_1" if multi else "accuracy"
    print(f"\n{report['task']}: {'model':<22} {first:>9} {'macro_f1':>9} {'train_s':>9} {'pred/s':>10}")
    for name, r in report["results"].items():
        if "error" in r:
            print(f"{'':>{len(report['task']) + 1}} {name:<22} error: {r['error'][:70]}")
            continue
        print(f"{'':>{len(report['task']) + 1}} {name:<22} {r[first]:>9.4f} {r['macro_f1']:>9.4f} "
              f"{r['train_s']:>9.2f} {r['pred_per_s']:>10.1f}")


def check_targets(report: dict[str, Any]) -> list[tuple[str, bool, str]]:
    res = report["results"]
    checks: list[tuple[str, bool, str]] = []
    libs = [res.get(k, {}) for k in ("anchor: fasttext lib", "anchor: fasttext lib tuned")]
    libs = [lib for lib in libs if "macro_f1" in lib]
    ours = res.get("fasttext", {})
    if libs and "macro_f1" in ours:
        lib = max(libs, key=lambda r: r["macro_f1"])  # compare with the library's better configuration
        checks.append((f"{report['task']}: fasttext macro-F1 ≥ fastText library",
                       ours["macro_f1"] >= lib["macro_f1"], f"{ours['macro_f1']:.4f} vs {lib['macro_f1']:.4f}"))
        ratio = ours["train_s"] / max(lib["train_s"], 1e-9)
        checks.append((f"{report['task']}: fasttext train time ≤ 2× library", ratio <= 2.0,
                       f"{ours['train_s']:.1f} s vs {lib['train_s']:.1f} s ({ratio:.2f}×)"))
    anchor = res.get("anchor: tfidf+lr", {})
    mine = {k: v for k, v in res.items() if not k.startswith("anchor") and "macro_f1" in v}
    if "macro_f1" in anchor and mine:
        best = max(mine, key=lambda k: mine[k]["macro_f1"])
        gain = 100 * (mine[best]["macro_f1"] - anchor["macro_f1"])
        checks.append((f"{report['task']}: best siteclass model ≥ TF-IDF+LR + 3 points macro-F1", gain >= 3.0,
                       f"{best} {mine[best]['macro_f1']:.4f} vs {anchor['macro_f1']:.4f} ({gain:+.1f} points)"))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="single,groups", help="comma list: single, groups")
    parser.add_argument("--models", default=None, help="comma list of siteclass models (default: all available)")
    parser.add_argument("--skip", default="", help="comma list of siteclass models to leave out")
    parser.add_argument("--anchors", default=",".join(ANCHORS),
                        help=f"comma list of anchors to train (default: all of {', '.join(ANCHORS)})")
    parser.add_argument("--limit", type=int, default=None, help="use only N rows of the table (quick runs)")
    parser.add_argument("--out", default=str(OUT / "quality.json"), help="JSON results file")
    args = parser.parse_args(argv)
    if not DATA.is_file():
        print(f"skip: {DATA} not found (set SITECLASS_SHARED to the shared/ folder)")
        return 0
    skip = {s for s in args.skip.split(",") if s}
    models = [m for m in args.models.split(",") if m] if args.models else available_models(skip)
    anchors = tuple(a for a in args.anchors.split(",") if a)
    unknown = set(anchors) - set(ANCHORS)
    if unknown:
        parser.error(f"unknown anchors {sorted(unknown)}; choose from {', '.join(ANCHORS)}")
    reports = [run_task(task, models, args.limit, anchors) for task in args.tasks.split(",") if task]
    print("\n# Results (test split)")
    for report in reports:
        print_table(report)
    checks = [c for r in reports for c in check_targets(r)]
    print("\n# Targets")
    for name, ok, detail in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"reports": reports, "targets": [
        {"target": n, "ok": ok, "detail": d} for n, ok, d in checks]}, indent=2), encoding="utf-8")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
