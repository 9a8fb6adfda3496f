"""Quality on crawled sites: the whole path (crawl → dataset → train → evaluate) once per page extractor.

    python -m bench crawl_quality [--limit N] [--extractors fast,exact] [--seed 0]

Issue #21 asks that the ``fast`` extractor keep the words the classifier sees (checked page by page in
tests/crawling/test_extract_fast.py) *and* that quality on crawled sites be unchanged. This bench measures the
second end to end. The single task of the shared Crunchbase table (40 industry groups; 9.2K companies, or the
first ``--limit`` by a hash of their domain) is rendered as small local websites served offline by LocalWeb —
one per company, under its real domain, each page in one of the demo corpus's five HTML layouts (header,
navigation, footer, sidebars, tables; chosen by the domain's hash):

- ``/``: the company's name and one-line ``description``;
- ``/about``: its ``full_description``, a few sentences a paragraph;
- ``/contact`` and ``/careers``: the same boilerplate for every company (a distractor).

Then, for each extractor, the product's own commands in subprocesses, each into a fresh folder:
``siteclass crawl --extractor X`` (defaults otherwise), ``siteclass dataset build --crawl … --labels …
--split 0.7,0.1,0.2`` (split by domain: the same sites on each side for both extractors), ``siteclass train``
(the default model) and ``siteclass evaluate`` on the test split. Printed: each extractor's accuracy and macro-F1
with its crawl time, and, per site, the token Jaccard of the crawled text between the extractors (median, share
identical); the verdict: macro-F1 and accuracy of ``fast`` within 0.005 of ``exact``'s. Results go to
bench/out/crawl_quality.json. About 12 minutes on 2 cores for the 9.2K sites (two crawls of ~37K pages).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.quality import DATA

OUT = Path(__file__).resolve().parent / "out"
TOLERANCE = 0.005  # |fast − exact| on accuracy and macro-F1 that still reads "unchanged"
NAV = [("/", "Home"), ("/about", "About us"), ("/contact", "Contact"), ("/careers", "Careers")]
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_TOKEN = re.compile(r"\w+")
_CONTACT: list[Any] = [
    ("h2", "Get in touch"),
    ("p", "Send us a message with the form below and a member of our team will get back to you within two business "
          "days."),
    ("dl", [("Phone", "+1 555 0100"), ("Email", "info@example.com"), ("Hours", "Monday to Friday, 9am to 5pm")]),
]
_CAREERS: list[Any] = [
    ("h2", "Join our team"),
    ("p", "We are always looking for talented, curious people. We offer flexible working, a learning budget and a "
          "friendly team."),
    ("ul", ["Competitive salary", "Health insurance", "Remote-friendly"]),
    ("p", "Send your CV and a short cover letter to our team."),
]


def load_rows(limit: int | None) -> list[dict[str, str]]:
    """The single-task rows (name, domain, description, full_description, label), first ``limit`` by domain hash."""
    import pyarrow.parquet as pq

    cols = ["name", "domain", "description", "full_description", "industry_group_single"]
    rows = [r for r in pq.read_table(DATA, columns=cols).to_pylist() if r["industry_group_single"] and r["domain"]]
    rows.sort(key=lambda r: zlib.crc32(r["domain"].encode("utf-8")))
    return rows[:limit] if limit else rows


def _paragraphs(text: str, per: int = 3) -> list[str]:
    sentences = [s for s in _SENTENCE.split(text.strip()) if s]
    return [" ".join(sentences[i : i + per]) for i in range(0, len(sentences), per)] or [text]


def build_web(rows: list[dict[str, str]]) -> tuple[Any, list[dict[str, str]], list[dict[str, str]]]:
    """A LocalWeb (not started) with one site per row; the sites and labels tables (by site id)."""
    from siteclass.demo._layouts import LAYOUTS, Block, Page
    from siteclass.demo.web import LocalWeb, Reply

    layouts = list(LAYOUTS.values())
    web = LocalWeb()
    sites, labels = [], []
    for i, r in enumerate(rows):
        host, name = r["domain"], r["name"] or r["domain"]
        render = layouts[zlib.crc32(host.encode("utf-8")) % len(layouts)]
        about: list[Block] = [("p", p) for p in _paragraphs(r["full_description"] or "")]
        pages: dict[str, tuple[list[Block], str, str | None]] = {
            "/": ([("p", r["description"] or "")], name, r["description"] or None),
            "/about": ([("h2", f"About {name}"), *about], f"About | {name}", None),
            "/contact": (_CONTACT, f"Contact | {name}", None),
            "/careers": (_CAREERS, f"Careers | {name}", None),
        }
        for path, (blocks, title, description) in pages.items():
            page = Page(site_name=name, title=title, heading=title.split(" | ")[0], blocks=blocks, nav=NAV,
                        footer_links=[("/privacy", "Privacy"), ("/contact", "Contact")], description=description,
                        lang="en")
            web.add(host, path, Reply(render(page).encode("utf-8"), content_type="text/html; charset=utf-8"))
        sites.append({"id": f"s{i}", "name": name, "url": f"https://{host}/"})
        labels.append({"id": f"s{i}", "label": r["industry_group_single"]})
    return web, sites, labels


def _run(cmd: list[str], what: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-600:]}")
    return time.perf_counter() - started


def pipeline(extractor: str, sites_csv: Path, labels_csv: Path, proxy: str, work: Path, seed: int) -> dict[str, Any]:
    """crawl → dataset → train → evaluate with one extractor; the metrics and the stage times."""
    siteclass = [sys.executable, "-m", "siteclass"]
    crawl, ds, model, report = (work / f"{part}-{extractor}" for part in ("crawl", "dataset", "model", "eval"))
    times = {
        "crawl_s": _run([*siteclass, "crawl", str(sites_csv), "--out", str(crawl), "--proxy", proxy, "--extractor",
                         extractor, "--quiet"], f"crawl ({extractor})"),
        "dataset_s": _run([*siteclass, "dataset", "build", "--crawl", str(crawl), "--labels", str(labels_csv),
                           "--split", "0.7,0.1,0.2", "--out", str(ds)], f"dataset build ({extractor})"),
        "train_s": _run([*siteclass, "train", "--data", str(ds), "--out", str(model), "--seed", str(seed)],
                        f"train ({extractor})"),
    }
    times["evaluate_s"] = _run([*siteclass, "evaluate", "--model", str(model), "--data", str(ds), "--out",
                                str(report)], f"evaluate ({extractor})")
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    stats = json.loads((ds / "stats.json").read_text(encoding="utf-8"))
    return {"extractor": extractor, **times, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "n_test": metrics["n"], "dataset": stats, "crawl": str(crawl)}


def site_texts(crawl: Path) -> dict[str, list[str]]:
    """Each site's page texts (in crawl order), by site id."""
    import pyarrow.parquet as pq

    out: dict[str, list[str]] = {}
    for row in pq.read_table(crawl / "pages.parquet", columns=["site_id", "text"]).to_pylist():
        out.setdefault(str(row["site_id"]), []).append(row["text"] or "")
    return out


def text_agreement(a: Path, b: Path) -> dict[str, float]:
    """Per site, the token Jaccard of all its crawled text under two extractors: median, mean, share identical."""
    ta, tb = site_texts(a), site_texts(b)
    scores = []
    for site in sorted(set(ta) | set(tb)):
        wa = set(_TOKEN.findall(" ".join(ta.get(site, [])).lower()))
        wb = set(_TOKEN.findall(" ".join(tb.get(site, [])).lower()))
        scores.append(len(wa & wb) / len(wa | wb) if wa | wb else 1.0)
    return {"sites": len(scores), "median": statistics.median(scores) if scores else 0.0,
            "mean": statistics.fmean(scores) if scores else 0.0,
            "identical_words": sum(s == 1.0 for s in scores) / max(len(scores), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crawl_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="companies (sites) to render; default all ~9.2K")
    parser.add_argument("--extractors", default="fast,exact", help="comma-separated; the first is compared with "
                        "the second")
    parser.add_argument("--seed", type=int, default=0, help="the training seed")
    args = parser.parse_args(argv)
    extractors = [e.strip() for e in args.extractors.split(",") if e.strip()]
    if len(extractors) != 2 or any(e not in ("fast", "exact") for e in extractors):
        parser.error(f"--extractors wants two of fast, exact (e.g. fast,exact), not {args.extractors!r}")
    if args.limit is not None and args.limit < 100:
        parser.error(f"--limit wants 100 sites or more (a test split of 40 classes), not {args.limit}")
    if not DATA.is_file():
        print(f"error: {DATA} is missing: this bench needs the shared Crunchbase table (../shared/data)",
              file=sys.stderr)
        return 2
    import pandas as pd

    rows = load_rows(args.limit)
    web, sites, labels = build_web(rows)
    print(f"{len(rows)} companies rendered as local sites (4 pages each)", flush=True)
    results = []
    with web, tempfile.TemporaryDirectory(prefix="siteclass-crawl-quality-") as tmp:
        work = Path(tmp)
        pd.DataFrame(sites).to_csv(work / "sites.csv", index=False)
        pd.DataFrame(labels).to_csv(work / "labels.csv", index=False)
        for extractor in extractors:
            r = pipeline(extractor, work / "sites.csv", work / "labels.csv", web.proxy_url, work, args.seed)
            results.append(r)
            print(f"{extractor:5s} extractor: accuracy {r['accuracy']:.4f}, macro-F1 {r['macro_f1']:.4f} "
                  f"(crawl {r['crawl_s']:.0f} s, dataset {r['dataset_s']:.0f} s, train {r['train_s']:.0f} s)",
                  flush=True)
        agreement = text_agreement(Path(results[0]["crawl"]), Path(results[1]["crawl"]))
    print(f"crawled text, {extractors[0]} vs {extractors[1]}, token Jaccard per site: median "
          f"{agreement['median']:.4f}, mean {agreement['mean']:.4f}; {agreement['identical_words']:.1%} of "
          f"{agreement['sites']} sites with the same words")
    d_acc = results[0]["accuracy"] - results[1]["accuracy"]
    d_f1 = results[0]["macro_f1"] - results[1]["macro_f1"]
    met = abs(d_acc) <= TOLERANCE and abs(d_f1) <= TOLERANCE
    print(f"#21 quality on crawled sites unchanged ({extractors[0]} − {extractors[1]} within ±{TOLERANCE}): "
          f"{'met' if met else 'missed'} (accuracy {d_acc:+.4f}, macro-F1 {d_f1:+.4f})")
    OUT.mkdir(exist_ok=True)
    for r in results:
        r.pop("crawl")
    (OUT / "crawl_quality.json").write_text(json.dumps({"sites": len(rows), "results": results,
                                                        "text_agreement": agreement, "met": met}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
