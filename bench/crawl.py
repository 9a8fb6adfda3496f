"""Crawl throughput: pages/min of ``siteclass crawl`` over local sites, beside ``scrapy bench`` in the same run.

    python -m bench crawl [--sites 500] [--page-kb 40] [--skip-anchor]

The sites (default 500, 5 pages crawled of each, ~40 kB of realistic HTML a page: head, navigation, scripts and
styles, paragraphs, footer; robots.txt) are generated in memory and served by LocalWeb, the forward proxy the tests
use, on 127.0.0.1. ``siteclass crawl`` runs as a command (``python -m siteclass crawl … --proxy``) with its
default, polite settings (AutoThrottle, 2 requests per site, 64 in flight); its figure is pages stored per minute
of the whole command's wall time (start-up, crawl, text extraction, Parquet, merge).

Anchor: ``scrapy bench`` (its own local server, a spider that only follows links: no parsing, no storage),
run as a subprocess in the same run: pages received per minute from its final stats. Target ratio ≥ 0.3.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RATIO = 0.3
OUT = Path(__file__).resolve().parent / "out"

_SYLLABLES = ["ka", "lo", "mi", "ser", "vin", "dra", "ten", "por", "lu", "ba", "ric", "mon", "tal", "es", "ver", "na", "qui", "sto", "pel", "gar", "den", "ship", "ment", "al"]
INDUSTRIES = ["plumbing", "bakery", "law", "dental", "accounting", "trucking", "software", "restaurant",
              "construction", "realty", "autorepair", "salon"]
PAGES = ["/about-us", "/services", "/products", "/our-team", "/blog/news-1", "/blog/news-2", "/careers",
         "/privacy-policy", "/contact"]


def _paragraphs(rng: random.Random, n: int) -> list[str]:
    words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(3000)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(40, 120))).capitalize() + "." for _ in range(n)]


def _page(rng: random.Random, paras: list[str], host: str, industry: str, title: str, kb: int) -> bytes:
    nav = "".join(f"<li><a href='{p}'>{p.strip('/').replace('-', ' ').title()}</a></li>" for p in PAGES)
    nav += "".join(f"<li><a href='https://partner-{i}.example.org/'>Partner {i}</a></li>" for i in range(8))
    script = "<script>window.dataLayer=window.dataLayer||[];" + "function t(){return 42}" * 60 + "</script>"
    style = "<style>" + ".c{margin:0;padding:0;color:#333}" * 80 + "</style>"
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title} | {host}</title>"
            f"<meta name='description' content='{industry} company {host}'>{style}{script}</head><body>"
            f"<header><a href='/'>Home</a><nav><ul>{nav}</ul></nav></header><main><h1>{title}</h1>")
    foot = (f"</main><footer><p>© {host}</p><ul>{nav}</ul><a href='/privacy-policy'>Privacy</a></footer>"
            f"{script}</body></html>")
    body: list[str] = [f"<p>We are a {industry} business. </p>"]
    size = len(head) + len(foot)
    while size < kb * 1024:
        para = rng.choice(paras)
        body.append(f"<section><h2>{para[:30]}</h2><p>{para}</p></section>")
        size += len(body[-1])
    return (head + "".join(body) + foot).encode("utf-8")


def build_web(n_sites: int, page_kb: int, seed: int = 7) -> tuple[Any, list[dict[str, str]]]:
    """A LocalWeb (not started) with *n_sites* generated sites, and the input rows."""
    from siteclass.demo.web import LocalWeb, Reply

    rng = random.Random(seed)
    paras = _paragraphs(rng, 400)
    web = LocalWeb()
    rows = []
    for i in range(n_sites):
        industry = INDUSTRIES[i % len(INDUSTRIES)]
        host = f"bench{i:04d}-{industry}.com"
        web.add(host, "/robots.txt", Reply("User-agent: *\nDisallow: /admin\n", content_type="text/plain"))
        for path in ["/", *PAGES]:
            title = "Home" if path == "/" else path.strip("/").title()
            web.add(host, path, Reply(_page(rng, paras, host, industry, title, page_kb)))
        rows.append({"id": f"b{i}", "name": f"{industry.title()} {i}", "url": host if i % 2 else f"https://{host}"})
    return web, rows


def scrapy_bench(timeout_s: float = 120.0) -> dict[str, float]:
    """Run ``scrapy bench`` (default 10 s); pages/min = responses received / elapsed seconds × 60."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "scrapy", "bench"], cwd=tmp, capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    log = proc.stdout + proc.stderr
    received = re.search(r"'response_received_count': (\d+)", log)
    elapsed = re.search(r"'elapsed_time_seconds': ([\d.]+)", log)
    if not received or not elapsed:
        raise RuntimeError(f"could not read scrapy bench stats (exit {proc.returncode}): {log[-2000:]}")
    pages, seconds = int(received.group(1)), float(elapsed.group(1))
    return {"pages": pages, "seconds": seconds, "pages_per_min": 60.0 * pages / seconds}


def siteclass_crawl(n_sites: int, page_kb: int, extra: list[str]) -> dict[str, float]:
    import pandas as pd

    web, rows = build_web(n_sites, page_kb)
    with web, tempfile.TemporaryDirectory() as tmp:
        sites_csv = Path(tmp) / "sites.csv"
        pd.DataFrame(rows).to_csv(sites_csv, index=False)
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "siteclass", "crawl", str(sites_csv), "--out", str(out), "--proxy",
               web.proxy_url, "--quiet", *extra]
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - started
        sites = pd.read_parquet(out / "sites.parquet")
        pages = int(sites.pages.sum())
        ok = int((sites.status == "ok").sum())
        requests = len(web.requests)
    return {"sites": n_sites, "sites_ok": ok, "pages": pages, "requests": requests, "seconds": seconds,
            "pages_per_min": 60.0 * pages / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crawl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--page-kb", type=int, default=40)
    parser.add_argument("--skip-anchor", action="store_true", help="do not run scrapy bench")
    parser.add_argument("crawl_args", nargs="*", help="extra flags for siteclass crawl (after --)")
    args = parser.parse_args(argv)
    anchor = None if args.skip_anchor else scrapy_bench()
    if anchor:
        print(f"scrapy bench:     {anchor['pages_per_min']:8.0f} pages/min ({anchor['pages']} pages in "
              f"{anchor['seconds']:.1f} s; follows links only)", flush=True)
    ours = siteclass_crawl(args.sites, args.page_kb, args.crawl_args)
    print(f"siteclass crawl:  {ours['pages_per_min']:8.0f} pages/min ({ours['pages']} pages of "
          f"{ours['sites_ok']}/{ours['sites']} sites, {ours['requests']} requests, {ours['seconds']:.1f} s "
          f"wall incl. start-up and merge)")
    result: dict[str, Any] = {"siteclass_crawl": ours, "scrapy_bench": anchor, "target_ratio": TARGET_RATIO}
    if anchor:
        ratio = ours["pages_per_min"] / anchor["pages_per_min"]
        result["ratio"] = ratio
        verdict = "meets" if ratio >= TARGET_RATIO else "misses"
        print(f"ratio:            {ratio:8.2f} ({verdict} the target ≥ {TARGET_RATIO})")
    OUT.mkdir(exist_ok=True)
    (OUT / "crawl.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
