"""The bundled zero-shot NAICS model against today's (sector prompts only) on real companies mapped to sectors.

    python -m bench zeroshot                     # every mapped row: choose on dev, report on test
    python -m bench zeroshot --limit 600         # a quick run on 600 mapped rows
    python -m bench zeroshot --max-tokens 256    # the token limit of `siteclass predict` (twice the time)

Data: ../shared/data/crunchbase/companies.parquet (read in place), text = name + description + full_description.
Labels: Crunchbase industry groups mapped to NAICS 2022 sectors by ``bench/crunchbase_naics.csv`` (one line of
reason per group; only groups with an obvious sector). A row is kept when its ``industry_group_single`` maps, or,
without one, when all its ``industry_groups`` map to one sector. Split by domain (CRC-32 of the domain, even →
dev, odd → test), so no company is on both halves.

Models, both with the bundled encoder at ``--max-tokens`` (default 128, for time; ``siteclass predict`` reads 256):

- **today**: the 20 sector prompts alone, cosine / 0.05, softmax (the bundled model before the NAICS hierarchy);
- **naics**: ``default_zeroshot_model()`` with its settings from siteclass/config.py (``[train.zeroshot]``): the
  sector prompts plus the shipped 6-digit code vectors and TF-IDF over the Census index.

Everything chosen is chosen on dev and reported on test: the blend weights (a small grid, shown beside the
configured ones), the temperature (the dev NLL optimum) and ``naics_min_confidence`` (the lowest threshold whose
kept dev rows are ≥ ``KEPT_ACCURACY`` correct). Reported: accuracy and macro-F1 over the mapped sectors (a
prediction of another sector counts as wrong), rows/s (the test half in one call, each model from a cold encoder
cache), and under the configured minimum, the test coverage and the accuracy of the rows kept. Target: naics ≥
today + 10 points accuracy on test. Results go to bench/out/zeroshot.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SITECLASS_SHARED", ROOT.parent / "shared")) / "data" / "crunchbase" / "companies.parquet"
MAPPING = ROOT / "bench" / "crunchbase_naics.csv"
OUT = ROOT / "bench" / "out"
TARGET_POINTS = 10.0  # accuracy points over today's model on test
KEPT_ACCURACY = 0.70  # naics_min_confidence: the lowest threshold whose kept dev rows are this accurate
GRID = {"prompt_weight": (0.3, 0.4, 0.5), "lexical_weight": (0.0, 0.2, 0.4), "top_codes": (1, 3, 5)}


# ----------------------------------------------------------------------------------------------- data
def load_mapping(path: Path = MAPPING) -> dict[str, str]:
    """Crunchbase industry group → NAICS sector code (as the bundled sectors write it: ``52``, ``31-33``)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["group"]: r["sector"] for r in csv.DictReader(fh)}


def sector_of_row(single: str | None, groups: list[str] | None, mapping: dict[str, str]) -> str | None:
    """The sector of a company: its single group's, else the one sector all its groups map to; else None."""
    if single:
        return mapping.get(single)
    sectors = {mapping.get(g) for g in groups or []}
    if len(sectors) == 1 and None not in sectors:
        return sectors.pop()
    return None


def half_of(domain: str) -> str:
    return "dev" if zlib.crc32(domain.encode("utf-8")) % 2 == 0 else "test"


def load_rows(limit: int | None = None, mapping: dict[str, str] | None = None) -> dict[str, dict[str, list[Any]]]:
    """Mapped rows as ``{"dev"|"test": {"records": [...], "sectors": [...]}}``; *limit* keeps N rows by hash."""
    import pyarrow.parquet as pq

    mapping = mapping or load_mapping()
    cols = ["name", "domain", "description", "full_description", "industry_groups", "industry_group_single"]
    rows = [r for r in pq.read_table(DATA, columns=cols).to_pylist()
            if sector_of_row(r["industry_group_single"], r["industry_groups"], mapping)]
    if limit:
        rows = sorted(rows, key=lambda r: zlib.crc32(f"limit:{r['domain']}".encode()))[:limit]
    out: dict[str, dict[str, list[Any]]] = {h: {"records": [], "sectors": []} for h in ("dev", "test")}
    for r in rows:
        part = out[half_of(r["domain"])]
        part["records"].append({"name": r["name"] or "",
                                "text": f"{r['description'] or ''}\n{r['full_description'] or ''}"})
        part["sectors"].append(sector_of_row(r["industry_group_single"], r["industry_groups"], mapping))
    return out


# ----------------------------------------------------------------------------------------------- scoring
def scores(y: list[str], pred: list[str]) -> dict[str, float]:
    """Accuracy, and macro-F1 over the true sectors (a prediction of any other sector is a miss)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(y))
    return {"accuracy": float(np.mean(np.asarray(y) == np.asarray(pred))),
            "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0))}


def choose_min_confidence(confidence: np.ndarray, correct: np.ndarray, target: float = KEPT_ACCURACY) -> float:
    """The lowest threshold (a rounded observed confidence) whose kept rows are ≥ *target* correct; 1.0 if none."""
    for t in np.round(np.arange(0.0, 1.0, 0.01), 2):
        kept = confidence >= t
        if kept.any() and correct[kept].mean() >= target:
            return float(t)
    return 1.0


def kept(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, float]:
    keep = confidence >= threshold
    return {"coverage": float(keep.mean()) if len(keep) else 0.0,
            "kept_accuracy": float(correct[keep].mean()) if keep.any() else 0.0}


class Parts:
    """The pieces of the naics model's score on a set of records, computed once (the grid reuses them)."""

    def __init__(self, model: Any, records: list[dict[str, Any]]) -> None:
        from siteclass.models.taxonomy.naics import naics_index

        self.index = naics_index()
        self.vectors = model.embed(records)
        self.texts = [model.site_text(r) for r in records]
        self.prompt = self.vectors @ model.label_embeddings_.T
        self.lexical = self.index.lexical(self.texts)
        self.sectors = [lab.code for lab in model.labels_]
        self.classes = list(model.classes_)

    def blend(self, prompt_weight: float, lexical_weight: float, top_codes: int, code_weight: float) -> np.ndarray:
        codes, _ = self.index.score(self.vectors, self.texts, self.sectors, top_codes=top_codes,
                                    code_weight=code_weight, lexical_weight=lexical_weight, lexical=self.lexical)
        return prompt_weight * self.prompt + codes  # type: ignore[no-any-return]

    def predict(self, raw: np.ndarray) -> list[str]:
        return [self.classes[j] for j in raw.argmax(axis=1)]


def grid(parts: Parts, y: list[str], code_weight: float) -> list[dict[str, Any]]:
    rows = []
    for pw, lw, k in itertools.product(GRID["prompt_weight"], GRID["lexical_weight"], GRID["top_codes"]):
        raw = parts.blend(pw, lw, k, code_weight)
        rows.append({"prompt_weight": pw, "lexical_weight": lw, "top_codes": k, **scores(y, parts.predict(raw))})
    return sorted(rows, key=lambda r: -r["accuracy"])


def timed_top(model: Any, records: list[dict[str, Any]]) -> tuple[list[Any], float]:
    """predict_top_k on *records* from a cold encoder cache: (top-1 guesses, rows/s)."""
    model._inference_encoder().clear_cache()
    started = time.perf_counter()
    top = model.predict_top_k(records, k=1)
    return [t[0] for t in top], len(records) / max(time.perf_counter() - started, 1e-9)


# ----------------------------------------------------------------------------------------------- run
def run(limit: int | None, max_tokens: int) -> dict[str, Any]:
    from siteclass.config import TrainSettings
    from siteclass.models.base import fit_temperature
    from siteclass.models.taxonomy import load_labels
    from siteclass.models.zeroshot import ZeroShotClassifier, default_zeroshot_model

    data = load_rows(limit)
    settings = TrainSettings.model_validate({"zeroshot": {"max_tokens": max_tokens}})
    p = settings.zeroshot
    new = default_zeroshot_model(settings)
    today = ZeroShotClassifier.from_settings(settings)
    today._prepare(load_labels(None), hierarchy=False)
    by_code = {lab.code: lab.label for lab in new.labels_}
    code_of = {lab.label: lab.code for lab in new.labels_}
    dev, test = data["dev"], data["test"]
    print(f"rows: dev {len(dev['records'])}, test {len(test['records'])} (mapped by {MAPPING.name}); "
          f"max_tokens {max_tokens}")

    # dev: the configured blend beside the grid, the temperature, the minimum confidence
    started = time.perf_counter()
    parts = Parts(new, dev["records"])
    y_dev = [by_code[s] for s in dev["sectors"]]
    configured = parts.blend(p.prompt_weight, p.lexical_weight, p.top_codes, p.code_weight)
    dev_grid = grid(parts, y_dev, p.code_weight)
    y_idx = np.array([parts.classes.index(v) for v in y_dev])
    temperature = 0.05 * fit_temperature(configured / 0.05, y_idx, False)  # its search starts at 0.05
    proba = new.proba_from_logits(configured / p.naics_temperature)
    correct = proba.argmax(axis=1) == y_idx
    chosen_min = choose_min_confidence(proba.max(axis=1), correct)
    today_dev = scores(y_dev, today.predict(dev["records"]))
    dev_report = {"today": today_dev, "naics": scores(y_dev, parts.predict(configured)), "grid_top5": dev_grid[:5],
                  "nll_temperature": temperature, "chosen_min_confidence": chosen_min,
                  "configured_min_confidence": {"value": p.naics_min_confidence,
                                                **kept(proba.max(axis=1), correct, p.naics_min_confidence)},
                  "seconds": time.perf_counter() - started}

    # test: each model from a cold cache, the configured settings only
    y_test = [by_code[s] for s in test["sectors"]]
    test_report: dict[str, Any] = {}
    for name, model in (("today", today), ("naics", new)):
        top, rate = timed_top(model, test["records"])
        pred = [str(g[0]) for g in top]
        test_report[name] = {**scores(y_test, pred), "rows_per_s": rate}
        if name == "naics":
            conf = np.array([g[1] for g in top])
            ok = np.array([a == b for a, b in zip(pred, y_test)])
            test_report[name]["min_confidence"] = {"value": p.naics_min_confidence,
                                                   **kept(conf, ok, p.naics_min_confidence)}
            test_report[name]["with_code"] = float(np.mean([g.code is not None for g in top]))
            test_report[name]["code_in_sector"] = float(np.mean(
                [g.code is not None and code_of[str(g[0])] == sector_code(g.code) for g in top]))
    gain = 100 * (test_report["naics"]["accuracy"] - test_report["today"]["accuracy"])
    return {"rows": {"dev": len(y_dev), "test": len(y_test)}, "max_tokens": max_tokens, "dev": dev_report,
            "test": test_report, "gain_points": gain, "target_points": TARGET_POINTS,
            "settings": p.model_dump()}


def sector_code(code: str) -> str:
    from siteclass.models.taxonomy.naics import sector_of

    return sector_of(code)


def print_report(r: dict[str, Any]) -> None:
    d, t = r["dev"], r["test"]
    print("\n# dev (choices)")
    print(f"  today: accuracy {d['today']['accuracy']:.3f}, macro-F1 {d['today']['macro_f1']:.3f}")
    print(f"  naics (configured): accuracy {d['naics']['accuracy']:.3f}, macro-F1 {d['naics']['macro_f1']:.3f}")
    print("  grid, best 5 by accuracy (prompt_weight, lexical_weight, top_codes → accuracy / macro-F1):")
    for g in d["grid_top5"]:
        print(f"    {g['prompt_weight']}, {g['lexical_weight']}, {g['top_codes']} → {g['accuracy']:.3f} / "
              f"{g['macro_f1']:.3f}")
    print(f"  temperature at the dev NLL optimum: {d['nll_temperature']:.4f} "
          f"(configured naics_temperature {r['settings']['naics_temperature']})")
    c = d["configured_min_confidence"]
    print(f"  min_confidence for ≥ {KEPT_ACCURACY:.0%} kept accuracy: {d['chosen_min_confidence']:.2f} "
          f"(configured {c['value']}: dev coverage {c['coverage']:.3f}, kept accuracy {c['kept_accuracy']:.3f})")
    print("\n# test (reported)")
    print(f"  {'model':8} {'accuracy':>9} {'macro-F1':>9} {'rows/s':>8}")
    for name in ("today", "naics"):
        m = t[name]
        print(f"  {name:8} {m['accuracy']:9.3f} {m['macro_f1']:9.3f} {m['rows_per_s']:8.1f}")
    mc = t["naics"]["min_confidence"]
    print(f"  naics under min_confidence {mc['value']}: coverage {mc['coverage']:.3f}, accuracy of the kept rows "
          f"{mc['kept_accuracy']:.3f}; a 6-digit code on {t['naics']['with_code']:.0%} of rows "
          f"({t['naics']['code_in_sector']:.0%} inside the predicted sector)")
    verdict = "PASS" if r["gain_points"] >= r["target_points"] else "FAIL"
    print(f"\n# verdict [{verdict}] naics − today = {r['gain_points']:+.1f} accuracy points on test "
          f"(target ≥ +{r['target_points']:.0f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench zeroshot", description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use only N mapped rows (quick runs)")
    parser.add_argument("--max-tokens", type=int, default=128, help="encoder token limit of both models")
    parser.add_argument("--out", default=str(OUT / "zeroshot.json"), help="JSON results file")
    args = parser.parse_args(argv)
    if not DATA.is_file():
        print(f"skip: {DATA} not found (set SITECLASS_SHARED to the shared/ folder)")
        return 0
    report = run(args.limit, args.max_tokens)
    print_report(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
