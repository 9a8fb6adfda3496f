"""Model quality and cost on real data, every siteclass model beside three honest anchors trained in the same run.

    python -m bench quality                               # every model + anchors A, B, C; both tasks; seed 0
    python -m bench quality --seeds 0,1                   # the verdicts must hold on both seeds
    python -m bench quality --models linear --anchors A,B --tasks single
    python -m bench quality --skip transformer,zeroshot --limit 5000     # a quick run on a sample
    python -m bench quality --tasks single --models transformer --finetune --seeds 0,1   # on a GPU (#18 part 5)

Data: ../shared/data/crunchbase/companies.parquet (read in place), text = name + description + full_description.
Split by domain: CRC-32 of the domain (seed 0; seed s > 0 hashes ``"s:domain"``, another split) → 70 % train,
10 % val, 20 % test. Tasks:

- **single**: ``industry_group_single`` (non-empty rows, 40 classes): accuracy and macro-F1.
- **groups**: ``industry_groups`` (47 classes, multi-label): P@1 (the top label is a true one) and macro-F1 of
  the one-vs-rest decisions (probability ≥ 0.5; the top label when none passes) — the same rule for every row.

Anchors (issue #18), trained on the train split only, on the same text:

- **A**: ``TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=300_000)`` +
  ``LogisticRegression(C=8, class_weight="balanced", max_iter=2000)``; one-vs-rest for groups.
- **B**: word (1, 2) + ``char_wb`` (2, 5) TF-IDF (same settings), stacked, + ``LinearSVC(C=0.3,
  class_weight="balanced")``; groups: one-vs-rest ``LinearSVC(C=0.1, class_weight="balanced")``, a label where
  its decision is > 0, the top one when none is; P@1 from the decisions. No probabilities (no ECE).
- **C**: the fastText library (``fasttext-numpy2``, a benchmark dependency only) with its tutorial settings:
  ``wordNgrams=2, epoch=25, lr=0.5`` and the one-vs-all loss on multi-label data.
- ``defaults`` (information only, not run unless named in ``--anchors``): TF-IDF and LogisticRegression at
  scikit-learn's defaults. No verdict uses it.

siteclass models: every model of the registry whose module imports (``--skip`` leaves any out), with its default
settings from siteclass/config.py and the run's seed; they may use the val split (early stopping, calibration,
fitted thresholds) as ``siteclass train`` lets them. Each model and anchor trains in its own fresh process, so
its peak RSS is its own (that process's high-water mark: Python, the loaded table and the model).

``transformer`` trains with its encoder frozen (the head only, on encodings computed once: fine-tuning runs at
about 5 texts/s on a CPU); ``--finetune`` trains the encoder too, with its default settings (on the GPU when torch
sees one), and names the row ``transformer (fine-tuned on cuda)``; ``--encoder`` gives it a local encoder folder
(``python -m bench.gpu_prep`` prepares such a run for a bare GPU machine).

Reported: the task metrics, ECE (top-1 confidence vs correct, 15 bins; calibrated models), training seconds,
prediction throughput (records/s, test split in one call) and peak RSS. Verdict per siteclass model, on every
seed run: macro-F1 ≥ the best anchor's + 1.5 points (single) / + 2 points (groups), and on groups P@1 ≥ anchor
A's. Results go to bench/out/quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SITECLASS_SHARED", ROOT.parent / "shared")) / "data" / "crunchbase" / "companies.parquet"
OUT = ROOT / "bench" / "out"
ANCHORS = ("A", "B", "C", "defaults")
DEFAULT_ANCHORS = ("A", "B", "C")
VERDICT_ANCHORS = ("A", "B", "C")
MARGIN = {"single": 1.5, "groups": 2.0}  # macro-F1 points over the best anchor
_TOKEN = re.compile(r"\w+")


# ----------------------------------------------------------------------------------------------- data
def split_of(domain: str, seed: int = 0) -> str:
    key = domain if seed == 0 else f"{seed}:{domain}"
    h = zlib.crc32(key.encode("utf-8")) % 10
    return "train" if h < 7 else ("val" if h == 7 else "test")


def load_task(task: str, limit: int | None, seed: int = 0) -> dict[str, Any]:
    import pyarrow.parquet as pq

    cols = ["name", "domain", "description", "full_description", "industry_groups", "industry_group_single"]
    rows = pq.read_table(DATA, columns=cols).to_pylist()
    if limit:
        rows = sorted(rows, key=lambda r: zlib.crc32(f"{seed}:{r['domain']}".encode()))[:limit]
    parts: dict[str, dict[str, list[Any]]] = {s: {"records": [], "labels": []} for s in ("train", "val", "test")}
    for r in rows:
        label: Any = r["industry_group_single"] if task == "single" else list(r["industry_groups"] or [])
        if not label:
            continue
        rec = {"name": r["name"] or "", "text": f"{r['description'] or ''}\n{r['full_description'] or ''}"}
        part = parts[split_of(r["domain"], seed)]
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


def score(labels: list[Any], proba: np.ndarray, classes: list[str], multi: bool, calibrated: bool) -> dict[str, Any]:
    from siteclass.metrics import classification_metrics, expected_calibration_error

    Y = encode(labels, classes, multi)
    out: dict[str, Any] = classification_metrics(Y, proba, multi, threshold=0.5)
    top = proba.argmax(axis=1)
    correct = Y[np.arange(len(Y)), top] > 0 if multi else top == Y
    out["ece"] = expected_calibration_error(proba.max(axis=1), correct) if calibrated else None
    return out


# ----------------------------------------------------------------------------------------------- runners
def run_siteclass(name: str, data: dict[str, Any], multi: bool, tmp: Path, seed: int, jobs: int,
                  finetune: bool = False, encoder: str | None = None) -> dict[str, Any]:
    from siteclass.config import TrainSettings
    from siteclass.models.registry import model_class

    base: dict[str, Any] = {"model": name, "seed": seed}
    if name == "transformer":  # frozen on CPU (fine-tuning runs ~5 texts/s there); --finetune trains the encoder
        base["transformer"] = {"single_text": True, "freeze_encoder": not finetune}
        if encoder:
            base["transformer"]["encoder"] = encoder
    if name == "zeroshot":
        classes = sorted({lab for labs in data["train"]["labels"] for lab in (labs if multi else [labs])})
        csv = tmp / "labels.csv"
        csv.write_text("label,description\n" + "".join(f'"{c}","{c}"\n' for c in classes), encoding="utf-8")
        base["zeroshot"] = {"labels_file": str(csv)}
    settings = TrainSettings.model_validate(base)
    if name in ("fasttext", "transformer", "zeroshot"):
        import torch  # noqa: F401 - imported before the clock starts, like the fastText library
    cls = model_class(name)
    model = cls.from_settings(settings) if hasattr(cls, "from_settings") else cls()
    if "n_jobs" in model.get_params():
        model.set_params(n_jobs=jobs)
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
    return {"proba": proba, "classes": list(model.classes_), "train_s": train_s, "pred_s": pred_s,
            "calibrated": bool(settings.calibrate)}


def _tfidf(**extra: Any) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=300_000, **extra)


def run_sklearn(anchor: str, data: dict[str, Any], multi: bool, seed: int, jobs: int) -> dict[str, Any]:
    """Anchors A, B and ``defaults`` (see the module docstring)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer
    from sklearn.svm import LinearSVC

    from siteclass.models.base import sigmoid, softmax

    texts = [plain_text(r) for r in data["train"]["records"]]
    started = time.perf_counter()
    if anchor == "B":
        vecs = [_tfidf(ngram_range=(1, 2)), _tfidf(analyzer="char_wb", ngram_range=(2, 5))]
        clf: Any = LinearSVC(C=0.1 if multi else 0.3, class_weight="balanced", random_state=seed)
    elif anchor == "A":
        vecs = [_tfidf(ngram_range=(1, 2))]
        clf = LogisticRegression(C=8, class_weight="balanced", max_iter=2000, random_state=seed)
    else:
        vecs = [TfidfVectorizer()]
        clf = LogisticRegression(max_iter=1000, random_state=seed)
    X = sparse.hstack([v.fit_transform(texts) for v in vecs], format="csr")
    if multi:
        mlb = MultiLabelBinarizer()
        y = mlb.fit_transform(data["train"]["labels"])
        classes = [str(c) for c in mlb.classes_]
        clf = OneVsRestClassifier(clf, n_jobs=jobs)
    else:
        y = np.asarray(data["train"]["labels"])
    clf.fit(X, y)
    classes = classes if multi else [str(c) for c in clf.classes_]
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    test = [plain_text(r) for r in data["test"]["records"]]
    Xt = sparse.hstack([v.transform(test) for v in vecs], format="csr")
    if anchor == "B":  # decisions, not probabilities: sigmoid(d) ≥ 0.5 ⇔ d ≥ 0; softmax keeps the argmax
        d = clf.decision_function(Xt)
        proba = sigmoid(d) if multi else softmax(d)
    else:
        proba = np.asarray(clf.predict_proba(Xt))
    pred_s = time.perf_counter() - started
    return {"proba": proba, "classes": classes, "train_s": train_s, "pred_s": pred_s, "calibrated": anchor != "B"}


def run_fasttext_lib(data: dict[str, Any], multi: bool, tmp: Path, seed: int, jobs: int) -> dict[str, Any]:
    """Anchor C: the fastText library with its tutorial settings for small data."""
    import fasttext  # fasttext-numpy2: the benchmark anchor only

    def tag(label: str) -> str:
        return "__label__" + label.replace(" ", "_")

    path = tmp / "ft_train.txt"
    with open(path, "w", encoding="utf-8") as fh:
        for rec, labs in zip(data["train"]["records"], data["train"]["labels"]):
            labs = labs if multi else [labs]
            fh.write(" ".join(tag(lab) for lab in labs) + " " + tokens(plain_text(rec)) + "\n")
    started = time.perf_counter()
    model = fasttext.train_supervised(input=str(path), wordNgrams=2, epoch=25, lr=0.5, seed=seed, thread=jobs,
                                      loss="ova" if multi else "softmax", verbose=0)
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
    return {"proba": proba, "classes": classes, "train_s": train_s, "pred_s": pred_s, "calibrated": True}


def _stop_worker_pools() -> None:
    """joblib's worker processes outlive their tasks by an idle timeout (300 s), and this job's process waits for
    its children before it exits: stop them now, or every job ends 5 minutes late."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def run_one(job: tuple[str, str, int, int | None, int, bool, str | None]) -> dict[str, Any]:
    """One model or anchor in this (fresh) process: load the task, train, predict, score, peak RSS."""
    label, task, seed, limit, jobs, finetune, encoder = job
    multi = task == "groups"
    data = load_task(task, limit, seed)
    with tempfile.TemporaryDirectory() as tmp:
        if label == "C":
            out = run_fasttext_lib(data, multi, Path(tmp), seed, jobs)
        elif label in ANCHORS:
            out = run_sklearn(label, data, multi, seed, jobs)
        else:
            out = run_siteclass(label, data, multi, Path(tmp), seed, jobs, finetune, encoder)
    metrics = score(data["test"]["labels"], out["proba"], out["classes"], multi, out["calibrated"])
    _stop_worker_pools()
    n_test = len(data["test"]["records"])
    return {**metrics, "train_s": round(out["train_s"], 2), "records_per_s": round(n_test / max(out["pred_s"], 1e-9), 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


# ----------------------------------------------------------------------------------------------- main
def _torch_device() -> str:
    """Where a transformer trains with ``device = "auto"`` (the training loop's own choice)."""
    from siteclass.models.torchloop import resolve_device

    try:
        return str(resolve_device("auto").type)
    except ImportError:  # no torch: the transformer's row will say why it failed
        return "cpu"


def available_models(skip: set[str]) -> list[str]:
    import importlib

    from siteclass.models.registry import MODEL_CLASSES

    names = []
    for name, target in MODEL_CLASSES.items():
        if name in skip:
            continue
        try:
            importlib.import_module(target.split(":")[0])
        except ImportError:
            continue
        names.append(name)
    return names


def run_task(task: str, seed: int, models: list[str], anchors: tuple[str, ...], limit: int | None,
             jobs: int, finetune: bool = False, encoder: str | None = None) -> dict[str, Any]:
    data = load_task(task, limit, seed)
    n = {s: len(data[s]["records"]) for s in data}
    del data
    print(f"\n## task {task}, seed {seed}: train {n['train']}, val {n['val']}, test {n['test']} rows", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for label in [*anchors, *models]:
        name = f"anchor {label}" if label in ANCHORS else label
        if label == "transformer":
            name = f"transformer ({'fine-tuned on ' + _torch_device() if finetune else 'frozen encoder'})"
        print(f"  training {name} …", flush=True)
        try:  # a fresh process per model: its own peak RSS, nothing shared with the one before
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                job = (label, task, seed, limit, jobs, finetune, encoder)
                results[name] = pool.submit(run_one, job).result()
        except Exception as exc:  # a model that fails is reported, not fatal
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"    {results[name]}", flush=True)
    return {"task": task, "seed": seed, "rows": n, "results": results}


def print_table(report: dict[str, Any]) -> None:
    multi = report["task"] == "groups"
    first = "p_at_1" if multi else "accuracy"
    width = max([16, *map(len, report["results"])])
    print(f"\n{report['task']} seed {report['seed']}:\n  {'model':<{width}} {first:>8} {'macro_f1':>8} {'ece':>6} "
          f"{'train_s':>8} {'records/s':>10} {'peak_MB':>8}")
    for name, r in report["results"].items():
        if "error" in r:
            print(f"  {name:<{width}} error: {r['error'][:90]}")
            continue
        ece = "—" if r["ece"] is None else f"{r['ece']:.3f}"
        print(f"  {name:<{width}} {r[first]:>8.4f} {r['macro_f1']:>8.4f} {ece:>6} {r['train_s']:>8.1f} "
              f"{r['records_per_s']:>10.0f} {r['peak_rss_mb']:>8.0f}")


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One verdict per siteclass model on this task and seed (see the module docstring)."""
    res, task = report["results"], report["task"]
    anchors = {k: res.get(f"anchor {k}", {}) for k in VERDICT_ANCHORS}
    anchors = {k: v for k, v in anchors.items() if "macro_f1" in v}
    if not anchors:
        return []
    best = max(anchors, key=lambda k: anchors[k]["macro_f1"])
    need = anchors[best]["macro_f1"] + MARGIN[task] / 100
    out = []
    for name, r in res.items():
        if name.startswith("anchor") or "macro_f1" not in r:
            continue
        ok = r["macro_f1"] >= need
        detail = f"macro-F1 {r['macro_f1']:.4f} vs anchor {best} {anchors[best]['macro_f1']:.4f} + {MARGIN[task]}"
        if task == "groups" and "A" in anchors:
            ok = ok and r["p_at_1"] >= anchors["A"]["p_at_1"]
            detail += f"; P@1 {r['p_at_1']:.4f} vs anchor A {anchors['A']['p_at_1']:.4f}"
        if len(anchors) < len(VERDICT_ANCHORS):
            detail += f" (anchors run: {', '.join(anchors)})"
        out.append({"model": name, "task": task, "seed": report["seed"], "ok": ok, "detail": detail})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="single,groups", help="comma list: single, groups")
    parser.add_argument("--models", default=None, help="comma list of siteclass models (default: all available)")
    parser.add_argument("--skip", default="", help="comma list of siteclass models to leave out")
    parser.add_argument("--anchors", default=",".join(DEFAULT_ANCHORS),
                        help=f"comma list of {', '.join(ANCHORS)} (default: {','.join(DEFAULT_ANCHORS)})")
    parser.add_argument("--seed", type=int, default=None, help="one seed (split and model seeds); default 0")
    parser.add_argument("--seeds", default=None, help="comma list of seeds, e.g. 0,1 (verdicts on every one)")
    parser.add_argument("--jobs", type=int, default=2, help="processes/threads a model or anchor may use")
    parser.add_argument("--limit", type=int, default=None, help="use only N rows of the table (quick runs)")
    parser.add_argument("--out", default=str(OUT / "quality.json"), help="JSON results file")
    parser.add_argument("--finetune", action="store_true",
                        help="train the transformer's encoder too (#18 part 5: for a GPU; ~5 texts/s on CPU)")
    parser.add_argument("--encoder", default=None, help="the transformer's encoder: a local Hugging Face folder "
                        "instead of the bundled all-MiniLM-L6-v2 (bench/gpu_prep.py writes one for the GPU run)")
    args = parser.parse_args(argv)
    named = args.models.split(",") if args.models else ["transformer"]
    if args.finetune and ("transformer" not in named or "transformer" in args.skip.split(",")):
        parser.error("--finetune applies to the transformer model: add it to --models (and not to --skip)")
    if args.encoder:
        from siteclass.errors import InputError
        from siteclass.models.encoder import resolve_encoder

        try:  # the transformer's own check: the bundled name or a local folder with config.json
            resolve_encoder(args.encoder)
        except InputError:
            parser.error(f"--encoder {args.encoder}: no config.json there; pass a local Hugging Face model folder")
    if not DATA.is_file():
        print(f"skip: {DATA} not found (set SITECLASS_SHARED to the shared/ folder)")
        return 0
    if args.seed is not None and args.seeds is not None:
        parser.error("give --seed or --seeds, not both")
    try:
        seeds = [int(s) for s in (args.seeds or str(args.seed or 0)).split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds wants integers, e.g. 0,1; got {args.seeds!r}")
    skip = {s for s in args.skip.split(",") if s}
    models = [m for m in args.models.split(",") if m] if args.models else available_models(skip)
    anchors = tuple(a for a in args.anchors.split(",") if a)
    unknown = set(anchors) - set(ANCHORS)
    if unknown:
        parser.error(f"unknown anchors {sorted(unknown)}; choose from {', '.join(ANCHORS)}")
    reports = [run_task(task, seed, models, anchors, args.limit, args.jobs, args.finetune, args.encoder)
               for seed in seeds for task in args.tasks.split(",") if task]
    print("\n# Results (test split; times on this machine, shared CPUs inflate them)")
    for report in reports:
        print_table(report)
    checks = [c for r in reports for c in check_targets(r)]
    print(f"\n# Verdicts (macro-F1 ≥ best of anchors {', '.join(VERDICT_ANCHORS)} + {MARGIN['single']} points on "
          f"single, + {MARGIN['groups']} on groups; groups P@1 ≥ anchor A)")
    for c in checks:
        print(f"  [{'PASS' if c['ok'] else 'FAIL'}] {c['model']} {c['task']} seed {c['seed']}: {c['detail']}")
    for name in dict.fromkeys(c["model"] for c in checks):
        mine = [c for c in checks if c["model"] == name]
        passed = sum(c["ok"] for c in mine)
        print(f"  {name}: {'PASS' if passed == len(mine) else 'FAIL'} ({passed} of {len(mine)} task × seed runs "
              f"pass; seeds {','.join(map(str, seeds))})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seeds": seeds, "reports": reports, "verdicts": checks}, indent=2), encoding="utf-8")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
