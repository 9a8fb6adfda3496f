"""Crawl throughput on Scrapyd: 1 vs 2 Scrapyd processes, beside a local `siteclass crawl` of the same sites.

    python -m bench scale_crawl [--sites 1000] [--slots 1] [--chunk-size 100]
    python bench/scale_crawl.py --sites 300          # a smaller run on a busy machine

Every run serves N generated sites (home, /about, /services) from one LocalWeb proxy on 127.0.0.1 and crawls them
three ways, each into a fresh folder: one Scrapyd process with ``--slots`` crawl processes (a one-node cluster),
two such processes (two nodes: the scheduler spreads chunks across both), and the local crawl (one Scrapy
process: the anchor). Target: 2 Scrapyd processes ≥ 1.7 × the throughput of 1. Nothing else should run on the
machine: each Scrapyd slot is a Scrapy process that wants a CPU core.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RATIO = 1.7


def _serve_sites(n: int) -> tuple[Any, list[str]]:
    from siteclass.crawl.localweb import LocalWeb

    web = LocalWeb()
    hosts = []
    filler = " ".join(f"word{k}" for k in range(120))
    for i in range(n):
        host = f"bench-{i:05d}.example"
        web.add_site(host, {
            "/": (f"<html><head><title>Company {i}</title></head><body><h1>Company {i}</h1><p>{filler}</p>"
                  '<a href="/about">About us</a> <a href="/services">Services</a></body></html>'),
            "/about": f"<html><head><title>About {i}</title></head><body><p>About company {i}. {filler}</p></body></html>",
            "/services": f"<html><head><title>Services {i}</title></head><body><p>Services {i}. {filler}</p></body></html>",
        })
        hosts.append(host)
    return web.start(), hosts


def _write_sites(path: Path, hosts: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name", "url"])
        for i, host in enumerate(hosts):
            writer.writerow([f"b{i:05d}", f"Company {i}", f"http://{host}/"])
    return path


def _scrapyd_run(work: Path, sites: Path, servers: int, settings: Any, slots: int) -> dict[str, Any]:
    from siteclass.crawl.scrapyd import crawl_on_scrapyd
    from siteclass.crawl.scrapyd_api import LocalScrapyd

    nodes = [LocalScrapyd(work / f"scrapyd-{servers}-{k}", max_proc=slots).start() for k in range(servers)]
    crawled_at: list[float] = []

    def progress(p: Any) -> None:  # the moment the last chunk is done: the rest is the merge
        if p.chunks_done == p.chunks_total:
            crawled_at.append(time.perf_counter())

    try:
        started = time.perf_counter()
        result = crawl_on_scrapyd(sites, work / f"out-scrapyd-{servers}", [n.url for n in nodes], settings,
                                  progress=progress)
        elapsed = time.perf_counter() - started
    finally:
        for node in nodes:
            node.stop()
    crawl_s = (crawled_at[0] if crawled_at else started + elapsed) - started
    return {"elapsed_s": elapsed, "crawl_s": crawl_s, "merge_s": elapsed - crawl_s, "n_ok": result.n_ok,
            "n_sites": result.n_sites, "pages": result.n_pages, "chunks": result.chunks,
            "servers": len(result.servers)}


def _local_run(work: Path, sites: Path, settings: Any) -> dict[str, Any]:
    from siteclass.crawl.runner import crawl

    started = time.perf_counter()
    result = crawl(str(sites), str(work / "out-local"), settings.crawl, progress=False)
    elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "n_ok": result.n_ok, "n_sites": result.n_sites, "pages": result.n_pages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale_crawl", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=1000, help="generated local sites (default 1000)")
    parser.add_argument("--slots", type=int, default=1, help="crawl processes per Scrapyd process (default 1)")
    parser.add_argument("--chunk-size", type=int, default=100, help="sites per Scrapyd job (default 100)")
    parser.add_argument("--poll-s", type=float, default=1.0, help="scheduler poll interval (default 1 s)")
    parser.add_argument("--skip-local", action="store_true", help="skip the local-crawl anchor")
    parser.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "scale_crawl.json",
                        help="where the figures go as JSON (default bench/out/scale_crawl.json)")
    args = parser.parse_args(argv)

    from siteclass.config import Settings

    web, hosts = _serve_sites(args.sites)
    settings = Settings.model_validate({
        "crawl": {"proxy": web.proxy_url},
        "scrapyd": {"chunk_size": args.chunk_size, "poll_s": args.poll_s, "max_running": args.slots,
                    "max_pending": 1},
    })
    rows: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-crawl-") as tmp:
            work = Path(tmp)
            sites = _write_sites(work / "sites.csv", hosts)
            print(f"{args.sites} local sites, {os.cpu_count()} CPUs, {args.slots} crawl process(es) per Scrapyd, "
                  f"chunks of {args.chunk_size}", flush=True)
            for servers in (1, 2):
                rows[f"scrapyd x{servers}"] = _scrapyd_run(work, sites, servers, settings, args.slots)
                print(f"  scrapyd x{servers}: {rows[f'scrapyd x{servers}']}", flush=True)
            if not args.skip_local:
                rows["local crawl (anchor)"] = _local_run(work, sites, settings)
                print(f"  local: {rows['local crawl (anchor)']}", flush=True)
    finally:
        web.stop()

    print(f"\n{'run':<22}{'seconds':>9}{'sites/s':>9}{'pages/min':>11}{'ok':>7}")
    for name, r in rows.items():
        r["sites_per_s"] = r["n_sites"] / r["elapsed_s"]
        r["pages_per_min"] = 60 * r["pages"] / r["elapsed_s"]
        print(f"{name:<22}{r['elapsed_s']:>9.1f}{r['sites_per_s']:>9.1f}{r['pages_per_min']:>11.0f}{r['n_ok']:>7}")
    ratio = rows["scrapyd x2"]["sites_per_s"] / rows["scrapyd x1"]["sites_per_s"]
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"\n2 vs 1 Scrapyd processes: {ratio:.2f}x  ({verdict} the {TARGET_RATIO}x target)")
    crawl_ratio = rows["scrapyd x1"]["crawl_s"] / rows["scrapyd x2"]["crawl_s"]
    print(f"  crawl phase alone (deploy + jobs, without the merge: "
          f"{rows['scrapyd x1']['merge_s']:.1f} s / {rows['scrapyd x2']['merge_s']:.1f} s): {crawl_ratio:.2f}x")
    if "local crawl (anchor)" in rows:
        local = rows["local crawl (anchor)"]["sites_per_s"]
        print(f"scrapyd x2 vs local crawl: {rows['scrapyd x2']['sites_per_s'] / local:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sites": args.sites, "slots": args.slots, "ratio": ratio,
                                         "crawl_ratio": crawl_ratio, "runs": rows},
                                        indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
