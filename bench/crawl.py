"""Crawl throughput: pages/min of ``siteclass crawl`` over local sites, beside ``scrapy bench`` in the same run.

    python -m bench crawl [--sites 500] [--page-kb 40] [--skip-anchor]
    python -m bench crawl --real [--sites 300]     # the 109 real pages, then generated 40 kB and 130 kB pages
    python -m bench crawl --processing [--rounds 3] # only the HTML processing rates of the real pages

The sites (default 500, 5 pages crawled of each, ~40 kB of realistic HTML a page: head, navigation, scripts and
styles, paragraphs, footer; robots.txt) are generated in memory and served by LocalWeb, the forward proxy the tests
use, on 127.0.0.1. ``siteclass crawl`` runs as a command (``python -m siteclass crawl … --proxy``) with its
default, polite settings (AutoThrottle, 2 requests per site, 64 in flight); its figure is pages stored per minute
of the whole command's wall time (start-up, crawl, text extraction, Parquet, merge).

Anchor: ``scrapy bench`` (its own local server, a spider that only follows links: no parsing, no storage),
run as a subprocess in the same run: pages received per minute from its final stats. Targets (issue #21): ratio
≥ 0.8 with pages of 40 kB or less, ≥ 0.5 with larger ones (#21 names 130 kB); with ``--sites 1000 --page-kb 130``
also peak RSS ≤ 1.5 GB.

``--real`` serves the saved real pages (../shared/data/real_pages, several charsets, ~130 kB on average) as the
home and internal pages of local sites (each home page gets links to four internal pages, themselves real pages),
and reports, beside ``scrapy bench`` (run before and after; ratios against their mean): pages/min, CPU seconds per page (the crawl command and all its
processes), peak RSS (the sum over the crawl's processes, sampled every 0.2 s), the same for generated 40 kB and
130 kB pages, and the HTML processing rate (decode + extract, pages/s) of the page worker pool alone, beside the
exact extractor inline (#21's anchor), in interleaved rounds (``--rounds``; medians); then #21's verdicts: 40 kB
≥ 0.8 and 130 kB ≥ 0.5 of `scrapy bench`, processing ≥ 150 pages/s on the cores.
"""

from __future__ import annotations

import argparse
import contextlib
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

# issue #21: 40 kB and 130 kB pages/min as ratios to scrapy bench; real pages/s of HTML processing; peak RSS of a
# crawl of 1,000 sites × 5 pages of 130 kB
TARGET_40KB, TARGET_130KB, TARGET_PAGES_PER_S, TARGET_RSS_MB = 0.8, 0.5, 150.0, 1536.0
REAL_PAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_pages"
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


def build_real_web(n_sites: int, files: list[Path]) -> tuple[Any, list[dict[str, str]]]:
    """A LocalWeb with *n_sites* sites made of the real pages: home + /about-us, /services, /products, /our-team."""
    from siteclass.demo.web import LocalWeb, Reply

    bodies = [f.read_bytes() for f in files]
    inner = [*PAGES[:3], "/our-team"]
    links = "".join(f"<a href='{p}'>{p.strip('/').replace('-', ' ')}</a> " for p in inner).encode()
    web = LocalWeb()
    rows = []
    for i in range(n_sites):
        host = f"real{i:04d}.com"
        home = bodies[(5 * i) % len(bodies)]
        cut = home.lower().rfind(b"</body>")
        home = home[:cut] + links + home[cut:] if cut >= 0 else home + links
        web.add(host, "/", Reply(home, content_type="text/html"))
        for k, path in enumerate(inner, start=1):
            web.add(host, path, Reply(bodies[(5 * i + k) % len(bodies)], content_type="text/html"))
        rows.append({"id": f"r{i}", "name": "", "url": host})
    return web, rows


class _RssSampler:
    """Peak of the summed RSS of a process and its descendants, sampled every *interval* seconds."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        import threading

        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += proc.memory_info().rss
            except psutil.Error:
                break
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


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


def siteclass_crawl(n_sites: int, page_kb: int, extra: list[str], real: list[Path] | None = None) -> dict[str, float]:
    """One ``siteclass crawl`` command over generated (or, with *real*, real) pages: pages/min, CPU, peak RSS."""
    import resource

    import pandas as pd

    web, rows = build_real_web(n_sites, real) if real else build_web(n_sites, page_kb)
    with web, tempfile.TemporaryDirectory() as tmp:
        sites_csv = Path(tmp) / "sites.csv"
        pd.DataFrame(rows).to_csv(sites_csv, index=False)
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "siteclass", "crawl", str(sites_csv), "--out", str(out), "--proxy",
               web.proxy_url, "--quiet", *extra]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(cmd)
        sampler = _RssSampler(proc.pid)
        code = proc.wait()
        seconds = time.perf_counter() - started
        peak_rss = sampler.stop()
        if code != 0:
            raise RuntimeError(f"siteclass crawl failed with exit code {code}")
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        sites = pd.read_parquet(out / "sites.parquet")
        pages = int(sites.pages.sum())
        ok = int((sites.status == "ok").sum())
        requests = len(web.requests)
    return {"sites": n_sites, "sites_ok": ok, "pages": pages, "requests": requests, "seconds": seconds,
            "pages_per_min": 60.0 * pages / seconds, "cpu_s": cpu, "cpu_ms_per_page": 1000 * cpu / max(pages, 1),
            "peak_rss_mb": peak_rss / 2**20}


def processing_rate(files: list[Path], workers: int, extractor: str, rounds: int = 3) -> dict[str, float]:
    """Pages/s of decode + extract of the real pages in the page worker pool (*workers* processes; 0: inline)."""
    import asyncio

    from siteclass.crawling.pool import PagePool, process_page

    bodies = [f.read_bytes() for f in files] * rounds

    async def pooled(pool: PagePool) -> float:
        """Seconds for all the pages, after a warm-up round (worker start-up, imports)."""
        await asyncio.gather(*(pool.process(b, "text/html", "https://a.com/", extractor, True)  # type: ignore[arg-type]
                               for b in bodies[:len(files)]))
        started = time.perf_counter()
        await asyncio.gather(*(pool.process(b, "text/html", "https://a.com/", extractor, True)  # type: ignore[arg-type]
                               for b in bodies))
        return time.perf_counter() - started

    if workers == 0:
        started = time.perf_counter()
        for body in bodies:
            process_page(body, "text/html", "https://a.com/", extractor, True)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
    else:
        pool = PagePool(workers)
        try:
            seconds = asyncio.run(pooled(pool))
        finally:
            pool.close()
    return {"pages": len(bodies), "seconds": seconds, "pages_per_s": len(bodies) / seconds}


def _line(label: str, r: dict[str, float], anchor: dict[str, float] | None) -> str:
    ratio = f"  ratio {r['pages_per_min'] / anchor['pages_per_min']:.2f}" if anchor else ""
    return (f"{label:22s} {r['pages_per_min']:7.0f} pages/min ({r['pages']} pages of {r['sites_ok']}/{r['sites']} "
            f"sites, {r['seconds']:.1f} s), {r['cpu_ms_per_page']:.1f} ms CPU/page, peak RSS "
            f"{r['peak_rss_mb']:.0f} MB{ratio}")


def _real_pages() -> list[Path]:
    """The saved real pages; none: an error line (the shared folder is missing)."""
    files = sorted(REAL_PAGES.glob("*.html"))
    if not files:
        print(f"error: no real pages under {REAL_PAGES}", file=sys.stderr)
    return files


def main_real(args: argparse.Namespace) -> int:
    import os

    files = _real_pages()
    if not files:
        return 2
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs", flush=True)
    # the anchor runs before and after the crawls (the machine's speed drifts when it is shared): ratios are
    # against the mean of the two
    anchors = [] if args.skip_anchor else [scrapy_bench()]
    if anchors:
        print(f"{'scrapy bench (before)':22s} {anchors[0]['pages_per_min']:7.0f} pages/min (follows links only)",
              flush=True)
    crawls: dict[str, dict[str, float]] = {}
    for label, kb, real in ((f"real pages ({len(files)})", 0, files), ("generated 40 kB", 40, None),
                            ("generated 130 kB", 130, None)):
        crawls[label] = siteclass_crawl(args.sites, kb, args.crawl_args, real)
        print(_line(label, crawls[label], None), flush=True)
    anchor = None
    if anchors:
        anchors.append(scrapy_bench())
        anchor = {"pages_per_min": sum(a["pages_per_min"] for a in anchors) / 2}
        print(f"{'scrapy bench (after)':22s} {anchors[1]['pages_per_min']:7.0f} pages/min; mean "
              f"{anchor['pages_per_min']:.0f}", flush=True)
        for label, r in crawls.items():
            print(f"ratio {label:16s} {r['pages_per_min'] / anchor['pages_per_min']:.2f}")
        for label, target in (("generated 40 kB", TARGET_40KB), ("generated 130 kB", TARGET_130KB)):
            ratio = crawls[label]["pages_per_min"] / anchor["pages_per_min"]
            print(f"#21 target {label}: ratio ≥ {target}: {'met' if ratio >= target else 'missed'} ({ratio:.2f})")
    result: dict[str, Any] = {"scrapy_bench": anchors, "crawls": crawls,
                              **processing_rates(files, args.rounds)}
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    OUT.mkdir(exist_ok=True)
    (OUT / "crawl_real.json").write_text(json.dumps(result, indent=2))
    return 0


def processing_rates(files: list[Path], rounds: int) -> dict[str, Any]:
    """The HTML processing rates — exact extractor inline (the anchor: #21's "71 on one core"), fast inline, fast
    in a pool of one process per core — measured in *rounds* interleaved rounds, so a machine whose speed drifts
    slows all three alike; medians, and the median of each round's pool/exact ratio, with #21's verdict."""
    import os
    import statistics

    cores = os.cpu_count() or 1
    configs = ((0, "exact"), (0, "fast"), (cores, "fast"))
    runs: dict[str, list[dict[str, float]]] = {f"processing_{e}_{w}_workers": [] for w, e in configs}
    for index in range(rounds):
        for workers, extractor in configs:
            r = processing_rate(files, workers, extractor)
            runs[f"processing_{extractor}_{workers}_workers"].append(r)
            print(f"HTML processing, round {index + 1}/{rounds}, {extractor:5s} extractor, {workers} workers: "
                  f"{r['pages_per_s']:6.1f} pages/s", flush=True)
    median = {key: statistics.median(r["pages_per_s"] for r in rs) for key, rs in runs.items()}
    pooled, exact = runs[f"processing_fast_{cores}_workers"], runs["processing_exact_0_workers"]
    ratio = statistics.median(p["pages_per_s"] / e["pages_per_s"] for p, e in zip(pooled, exact))
    for (workers, extractor), key in zip(configs, runs):
        each = ", ".join(f"{r['pages_per_s']:.1f}" for r in runs[key])
        print(f"HTML processing, {extractor:5s} extractor, {workers} workers: median {median[key]:6.1f} pages/s "
              f"(rounds {each})")
    rate = median[f"processing_fast_{cores}_workers"]
    print(f"#21 target HTML processing ≥ {TARGET_PAGES_PER_S} pages/s on {cores} cores: "
          f"{'met' if rate >= TARGET_PAGES_PER_S else 'missed'} (median {rate:.1f}; {ratio:.2f}x the exact extractor "
          f"inline, median of the rounds' ratios; #21 asks {TARGET_PAGES_PER_S:.0f} / 71 = "
          f"{TARGET_PAGES_PER_S / 71:.2f}x)")
    return {**runs, "processing_median_pages_per_s": median, "processing_ratio_to_exact_inline": ratio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crawl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=None, help="sites per crawl (default 500; with --real 300)")
    parser.add_argument("--page-kb", type=int, default=40)
    parser.add_argument("--skip-anchor", action="store_true", help="do not run scrapy bench")
    parser.add_argument("--real", action="store_true", help="the real pages, then 40 and 130 kB generated pages "
                        "(--sites each; default 300 here), with CPU per page, peak RSS and the processing rate")
    parser.add_argument("--rounds", type=int, default=3, help="--real/--processing: interleaved rounds of the "
                        "processing rates (medians reported)")
    parser.add_argument("--processing", action="store_true", help="only the HTML processing rates of the real "
                        "pages (no crawl, no scrapy bench)")
    parser.add_argument("crawl_args", nargs="*", help="extra flags for siteclass crawl (after --)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds wants 1 or more, not {args.rounds}")
    if args.processing:
        files = _real_pages()
        if not files:
            return 2
        processing_rates(files, args.rounds)
        return 0
    if args.real:
        args.sites = args.sites or 300
        return main_real(args)
    args.sites = args.sites or 500
    anchor = None if args.skip_anchor else scrapy_bench()
    if anchor:
        print(f"scrapy bench:     {anchor['pages_per_min']:8.0f} pages/min ({anchor['pages']} pages in "
              f"{anchor['seconds']:.1f} s; follows links only)", flush=True)
    ours = siteclass_crawl(args.sites, args.page_kb, args.crawl_args)
    print(f"siteclass crawl:  {ours['pages_per_min']:8.0f} pages/min ({ours['pages']} pages of "
          f"{ours['sites_ok']}/{ours['sites']} sites, {ours['requests']} requests, {ours['seconds']:.1f} s "
          f"wall incl. start-up and merge), {ours['cpu_ms_per_page']:.1f} ms CPU/page, peak RSS "
          f"{ours['peak_rss_mb']:.0f} MB")
    target = TARGET_40KB if args.page_kb <= 40 else TARGET_130KB
    result: dict[str, Any] = {"siteclass_crawl": ours, "scrapy_bench": anchor, "target_ratio": target}
    if anchor:
        ratio = ours["pages_per_min"] / anchor["pages_per_min"]
        result["ratio"] = ratio
        verdict = "met" if ratio >= target else "missed"
        print(f"ratio:            {ratio:8.2f} (#21 target at {args.page_kb} kB pages ≥ {target}: {verdict})")
    if args.sites >= 1000 and args.page_kb >= 130:
        rss = ours["peak_rss_mb"]
        print(f"#21 target peak RSS ≤ {TARGET_RSS_MB / 1024:.1f} GB ({args.sites} sites × 5 pages of {args.page_kb} kB): "
              f"{'met' if rss <= TARGET_RSS_MB else 'missed'} ({rss:.0f} MB)")
    OUT.mkdir(exist_ok=True)
    (OUT / "crawl.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
