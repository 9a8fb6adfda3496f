"""The bundled zero-shot NAICS model against today's (sector prompts only) on real companies mapped to sectors.

    python -m bench zeroshot                     # every mapped row: choose on dev, report on test
    python -m bench zeroshot --limit 600         # a quick run on 600 mapped rows
    python -m bench zeroshot --max-tokens 128    # half the time; `siteclass predict` reads 256 (the default)
    python -m bench zeroshot --int8              # also the naics model as `siteclass export --bundled --int8`

Data: ../shared/data/crunchbase/companies.parquet (read in place), text = name + description + full_description.
Labels: Crunchbase industry groups mapped to NAICS 2022 sectors by ``bench/crunchbase_naics.csv`` (one line of
reason per group; only groups with an obvious sector). A row is kept when its ``industry_group_single`` maps, or,
without one, when all its ``industry_groups`` map to one sector. Split by domain (CRC-32 of the domain, even →
dev, odd → test), so no company is on both halves.

Models, both with the bundled encoder at ``--max-tokens`` (default: ``[train.zeroshot] max_tokens``, 256, what
``siteclass predict`` reads; 128 halves the time):

- **today**: the 20 sector prompts alone, cosine / 0.05, softmax (the bundled model before the NAICS hierarchy);
- **naics**: ``default_zeroshot_model()`` with its settings from siteclass/config.py (``[train.zeroshot]``): the
  sector prompts plus the shipped 6-digit code vectors and TF-IDF over the Census index.

Everything chosen is chosen on dev and reported on test: the blend weights (a small grid; among the blends
within one point of the best dev accuracy, the one with the most hits on ``SANITY``, 24 small-business
one-liners written for this benchmark — Crunchbase companies are mostly tech start-ups), the temperature (the dev NLL optimum) and ``naics_min_confidence`` (the lowest threshold whose
kept dev rows are ≥ ``KEPT_ACCURACY`` correct). Reported: accuracy and macro-F1 over the mapped sectors (a
prediction of another sector counts as wrong), rows/s (the test half in one call, each model from a cold encoder
cache; then again with every vector cached, which times the scoring alone), and under the configured minimum, the test coverage and the accuracy of the rows kept. Target: naics ≥
today + 10 points accuracy on test. Results go to bench/out/zeroshot.json.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import itertools
import json
import os
import shutil
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
MAPPING = ROOT / "bench" / "crunchbase_naics.csv"
OUT = ROOT / "bench" / "out"
TARGET_POINTS = 10.0  # accuracy points over today's model on test
KEPT_ACCURACY = 0.70
BLEND_WITHIN = 0.01  # dev accuracy: blends this close to the best count as ties (choose_blend)  # naics_min_confidence: the lowest threshold whose kept dev rows are this accurate
GRID = {"prompt_weight": (0.3, 0.4, 0.5), "lexical_weight": (0.0, 0.2, 0.4), "top_codes": (1, 2, 3, 5),
        "code_group_digits": (5, 6)}
# Small-business one-liners written for this benchmark with their NAICS sector (the 2022 manual's code for the
# activity): a sanity check beside the Crunchbase rows, whose companies are mostly tech start-ups (see
# choose_blend).
SANITY = (
    ("Bright Smile: family dentistry, cleanings, fillings and implants", "62"),
    ("Pipe Pros: emergency plumber for burst pipes, drains and boilers", "23"),
    ("Joe's Pizzeria: wood fired pizza and pasta, dine in or take out, open every day.", "72"),
    ("First National Bank: checking accounts, mortgages, business loans and credit cards.", "52"),
    ("Licensed plumbers and roofing contractors building homes.", "23"),
    ("Acme Freight: long-distance trucking and freight logistics", "48-49"),
    ("Smith & Partners LLP: attorneys for business law, contracts and litigation.", "54"),
    ("Glow Hair Studio: haircuts, coloring, blow-dry and bridal styling.", "81"),
    ("Main Street Auto: brake repair, oil changes, tires and engine diagnostics.", "81"),
    ("Sunrise Realty: homes for sale, rentals and property management.", "53"),
    ("Green Acres Farm: organic vegetables, eggs and grass-fed beef.", "11"),
    ("Iron Gym: personal training, group classes and 24/7 fitness center.", "71"),
    ("Harbor Hotel: 120 rooms by the sea, spa and conference rooms.", "72"),
    ("Lincoln Elementary School: kindergarten to grade 5, enrollment and calendar.", "61"),
    ("Bolt Electric: licensed electricians for wiring, panels and lighting installation.", "23"),
    ("Shield Insurance Agency: auto, home and life insurance quotes.", "52"),
    ("Chic Boutique: women's clothing, shoes and accessories, shop online.", "44-45"),
    ("Acme Steel: we manufacture structural steel beams and plates.", "31-33"),
    ("CloudDesk: software for customer support teams, free trial.", "51"),
    ("Numbers CPA: tax preparation, bookkeeping and payroll for small businesses.", "54"),
    ("Happy Paws Veterinary Clinic: vaccines, surgery and dental care for dogs and cats.", "54"),
    ("Sparkle Cleaning: office and home cleaning services.", "56"),
    ("City Print: business cards, flyers and banners printed same day.", "31-33"),
    ("Family Medical Center: primary care doctors, pediatrics and urgent care.", "62"),
)


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

    def blend(self, prompt_weight: float, lexical_weight: float, top_codes: int, code_weight: float,
              group_digits: int) -> np.ndarray:
        codes, _ = self.index.score(self.vectors, self.texts, self.sectors, top_codes=top_codes,
                                    code_weight=code_weight, lexical_weight=lexical_weight,
                                    group_digits=group_digits, lexical=self.lexical)
        return prompt_weight * self.prompt + codes  # type: ignore[no-any-return]

    def predict(self, raw: np.ndarray) -> list[str]:
        return [self.classes[j] for j in raw.argmax(axis=1)]


def grid(parts: Parts, y: list[str], code_weight: float, sanity: Parts, y_sanity: list[str]) -> list[dict[str, Any]]:
    """Every blend of GRID on dev (accuracy, macro-F1) and on SANITY (hits), best dev accuracy first."""
    rows = []
    for pw, lw, k, g in itertools.product(GRID["prompt_weight"], GRID["lexical_weight"], GRID["top_codes"],
                                          GRID["code_group_digits"]):
        raw = parts.blend(pw, lw, int(k), code_weight, int(g))
        hits = sum(a == b for a, b in zip(sanity.predict(sanity.blend(pw, lw, int(k), code_weight, int(g))), y_sanity))
        rows.append({"prompt_weight": pw, "lexical_weight": lw, "top_codes": k, "code_group_digits": g,
                     **scores(y, parts.predict(raw)), "sanity_hits": hits})
    return sorted(rows, key=lambda r: -r["accuracy"])


def choose_blend(rows: list[dict[str, Any]], within: float = BLEND_WITHIN) -> dict[str, Any]:
    """The blend the configured one should be: among the grid rows within *within* of the best dev accuracy
    (about one standard error on ~2,800 dev rows), the most SANITY hits; ties by dev accuracy."""
    best = max(r["accuracy"] for r in rows)
    near = [r for r in rows if r["accuracy"] >= best - within]
    return max(near, key=lambda r: (r["sanity_hits"], r["accuracy"]))


def timed_top(model: Any, records: list[dict[str, Any]]) -> tuple[list[Any], float]:
    """predict_top_k on *records* from a cold encoder cache: (top-1 guesses, rows/s)."""
    model._inference_encoder().clear_cache()
    started = time.perf_counter()
    top = model.predict_top_k(records, k=1)
    return [t[0] for t in top], len(records) / max(time.perf_counter() - started, 1e-9)


# ----------------------------------------------------------------------------------------------- run
def int8_copy(model: Any, folder: Path) -> Any:
    """*model* saved to *folder*, exported with ``siteclass export --int8`` (near ties rescored in fp32), loaded."""
    from siteclass.export import save_exported
    from siteclass.models.base import load_model

    save_exported(model, folder, int8=True)
    return load_model(folder)


def run(limit: int | None, max_tokens: int, int8: bool = False) -> dict[str, Any]:
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
    configured = parts.blend(p.prompt_weight, p.lexical_weight, p.top_codes, p.code_weight, p.code_group_digits)
    sanity_records = [{"text": t} for t, _ in SANITY]
    y_sanity = [by_code[s] for _, s in SANITY]
    sanity = Parts(new, sanity_records)
    dev_grid = grid(parts, y_dev, p.code_weight, sanity, y_sanity)
    y_idx = np.array([parts.classes.index(v) for v in y_dev])
    temperature = 0.05 * fit_temperature(configured / 0.05, y_idx, False)  # its search starts at 0.05
    proba = new.proba_from_logits(configured / p.naics_temperature)
    correct = proba.argmax(axis=1) == y_idx
    chosen_min = choose_min_confidence(proba.max(axis=1), correct)
    today_dev = scores(y_dev, today.predict(dev["records"]))
    sanity_report = {"n": len(SANITY), "today": int(sum(a == b for a, b in zip(today.predict(sanity_records), y_sanity))),
                     "naics": int(sum(a == b for a, b in zip(new.predict(sanity_records), y_sanity)))}
    dev_report = {"today": today_dev, "naics": scores(y_dev, parts.predict(configured)), "grid_top": dev_grid[:10],
                  "chosen_blend": choose_blend(dev_grid),
                  "sanity": sanity_report,
                  "nll_temperature": temperature, "chosen_min_confidence": chosen_min,
                  "configured_min_confidence": {"value": p.naics_min_confidence,
                                                **kept(proba.max(axis=1), correct, p.naics_min_confidence)},
                  "seconds": time.perf_counter() - started}

    # test: each model from a cold cache, the configured settings only
    y_test = [by_code[s] for s in test["sectors"]]
    test_report: dict[str, Any] = {}
    models: list[tuple[str, Any]] = [("today", today), ("naics", new)]
    if int8:
        folder = Path(tempfile.mkdtemp(prefix="siteclass-bench-"))
        atexit.register(shutil.rmtree, folder, True)  # ~115 MB of graphs, gone when the bench ends
        models.append(("naics_int8", int8_copy(new, folder / "naics")))
    for name, model in models:
        top, rate = timed_top(model, test["records"])
        pred = [str(g[0]) for g in top]
        started = time.perf_counter()
        model.predict_top_k(test["records"], k=1)  # again, every text's vector cached: the scoring alone
        warm = len(test["records"]) / max(time.perf_counter() - started, 1e-9)
        test_report[name] = {**scores(y_test, pred), "rows_per_s": rate, "rows_per_s_cached": warm}
        if name.startswith("naics"):
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
    print("  grid, best 10 by accuracy (prompt_weight, lexical_weight, top_codes, code_group_digits → accuracy / "
          "macro-F1, sanity hits):")
    for g in d["grid_top"]:
        print(f"    {g['prompt_weight']}, {g['lexical_weight']}, {g['top_codes']}, {g['code_group_digits']} → "
              f"{g['accuracy']:.3f} / "
              f"{g['macro_f1']:.3f}, {g['sanity_hits']}/{d['sanity']['n']}")
    c = d["chosen_blend"]
    print(f"  chosen (within {BLEND_WITHIN:.0%} of the best dev accuracy, most sanity hits): prompt_weight "
          f"{c['prompt_weight']}, lexical_weight {c['lexical_weight']}, top_codes {c['top_codes']}, code_group_digits "
          f"{c['code_group_digits']} (configured {r['settings']['prompt_weight']}, {r['settings']['lexical_weight']}, "
          f"{r['settings']['top_codes']}, {r['settings']['code_group_digits']})")
    s = d["sanity"]
    print(f"  small-business one-liners (SANITY): today {s['today']}/{s['n']}, naics {s['naics']}/{s['n']}")
    print(f"  temperature at the dev NLL optimum: {d['nll_temperature']:.4f} "
          f"(configured naics_temperature {r['settings']['naics_temperature']})")
    c = d["configured_min_confidence"]
    print(f"  min_confidence for ≥ {KEPT_ACCURACY:.0%} kept accuracy: {d['chosen_min_confidence']:.2f} "
          f"(configured {c['value']}: dev coverage {c['coverage']:.3f}, kept accuracy {c['kept_accuracy']:.3f})")
    print("\n# test (reported)")
    print(f"  {'model':8} {'accuracy':>9} {'macro-F1':>9} {'rows/s':>8} {'rows/s, vectors cached':>23}")
    for name in t:
        m = t[name]
        print(f"  {name:10} {m['accuracy']:9.3f} {m['macro_f1']:9.3f} {m['rows_per_s']:8.1f} "
              f"{m['rows_per_s_cached']:23.0f}")
    for name in (n for n in t if n.startswith("naics")):
        mc = t[name]["min_confidence"]
        print(f"  {name} under min_confidence {mc['value']}: coverage {mc['coverage']:.3f}, accuracy of the kept "
              f"rows {mc['kept_accuracy']:.3f}; a 6-digit code on {t[name]['with_code']:.0%} of rows "
              f"({t[name]['code_in_sector']:.0%} inside the predicted sector)")
    verdict = "PASS" if r["gain_points"] >= r["target_points"] else "FAIL"
    print(f"\n# verdict [{verdict}] naics − today = {r['gain_points']:+.1f} accuracy points on test "
          f"(target ≥ +{r['target_points']:.0f})")


def main(argv: list[str] | None = None) -> int:
    from siteclass.config import TrainSettings

    parser = argparse.ArgumentParser(prog="python -m bench zeroshot", description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use only N mapped rows (quick runs)")
    parser.add_argument("--max-tokens", type=int, default=TrainSettings().zeroshot.max_tokens,
                        help="encoder token limit of both models (default: what siteclass predict reads)")
    parser.add_argument("--int8", action="store_true",
                        help="also the naics model exported to int8 ONNX (siteclass export --bundled --int8)")
    parser.add_argument("--out", default=str(OUT / "zeroshot.json"), help="JSON results file")
    args = parser.parse_args(argv)
    if not DATA.is_file():
        print(f"skip: {DATA} not found (set SITECLASS_SHARED to the shared/ folder)")
        return 0
    report = run(args.limit, args.max_tokens, args.int8)
    print_report(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
