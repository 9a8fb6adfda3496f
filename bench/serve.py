"""HTTP serving load test: /v1/predict/pages at concurrency 1, 8, 32 beside the raw model's own throughput.

    python -m bench serve [--duration 15] [--rounds 5] [--concurrency 1,8,32] [--inference thread,inline,process]
    python -m bench serve --transformer        # the transformer from ONNX instead of fastText
    python bench/serve.py --duration 5

The anchor is the raw model in the same run: ``predict_top_k`` on batches of 32 records (what the micro-batcher
hands it at concurrency 32), in this process, records built before the clock starts (the anchor times the model
and nothing else). The machine's speed drifts (a shared host: the same anchor varies by ±25 % from one minute to
the next), so each load level runs in ``--rounds`` rounds, each between two anchor measurements: a round's share
is its requests/s over the faster of the two anchors around it, and a level reports its median round (every
round's share is printed too). The server is ``siteclass serve --model DIR --inference MODE --log-level warning``
(no access-log line per request) on 127.0.0.1, started as users start it, in its own process (with ``--inference
process`` its model runs in the child process the server starts); the load comes from a separate process
(``bench/_serve_load.py``: asyncio keep-alive connections with a minimal HTTP/1.1 client, uvloop when installed).
Payloads are the embedded demo sites' pages (real HTML → text), each request body distinct.
Default model: fastText trained here on the demo sites; ``--model-dir`` benchmarks a saved model instead.

Server modes: ``thread`` and ``inline`` run the model in the server process (a worker thread, or the event loop);
``process`` runs it in one child process, the HTTP side on another core — one copy of the model computing, like
the anchor. ``--workers N`` (``siteclass serve --workers N``: N processes, N copies of the model) is compared
with the same one-process anchor, and the report says so.

Besides requests/s and latency, every level prints the CPU time spent per request by the server (all its threads
and processes) and by the load generator — they share the machine's cores — and the mean micro-batch size.
``CPU share`` is the anchor's CPU time per record over the server's CPU time per request; ``model CPU`` is the
model calls' own CPU time (the server's ``siteclass_inference_cpu_seconds``) over the server's CPU time.
``steal`` is each round's share of the machine's CPU time the hypervisor gave to others (/proc/stat): on a shared
VM it moves the serving figures far more than the raw anchor's (a pipeline of two processes stalls whenever
either vCPU is preempted), so read a round's share beside it; a level whose median steal is above 10 % gets a
warning under its table.

Target: at concurrency 32 the server delivers ≥ 80 % of the raw model's batched throughput, p99 ≤ 3 × p50.
Results are printed and written to bench/out/serve.json (``--transformer``: serve_transformer.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._serve_load import ServerProcess, free_port, run_load

OUT = Path(__file__).resolve().parent / "out"

TARGET_SHARE = 0.8
TARGET_TAIL = 3.0
STEAL_WARNING = 0.10  # a level's median CPU steal above this gets a warning under its table


# ----------------------------------------------------------------------------------------------- data & model
def demo_records(pages_per_site: int = 5) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per demo site (name, url, pages of extracted text) and its label."""
    from siteclass.crawling.extract import extract_page
    from siteclass.crawling.urls import registered_domain
    from siteclass.demo.web import demo_sites_root

    root = demo_sites_root()
    demo = root.parent
    labels = {registered_domain(r["url"]): r["label"] for r in csv.DictReader((demo / "labels.csv").open())}
    names = {registered_domain(r["url"]): r["name"] for r in csv.DictReader((demo / "sites.csv").open())}
    records, y = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        domain = registered_domain(folder.name)
        if domain not in labels:
            continue
        files = sorted(folder.rglob("*.html"), key=lambda p: (p.name != "index.html", len(p.parts), p.name))
        pages = []
        for f in files[:pages_per_site]:
            url = f"http://{folder.name}/{f.relative_to(folder).as_posix()}".removesuffix("index.html")
            page = extract_page(f.read_text(encoding="utf-8", errors="replace"), url)
            pages.append({"url": url, "title": page.title, "text": page.text[:4000]})
        records.append({"name": names.get(domain, ""), "url": f"http://{folder.name}/", "pages": pages})
        y.append(labels[domain])
    return records, y


def fasttext_model(records: list[dict[str, Any]], y: list[str]) -> Any:
    from siteclass.config import TrainSettings
    from siteclass.models.fasttext import FastTextClassifier

    settings = TrainSettings()
    settings.fasttext.epochs = 5
    model = FastTextClassifier.from_settings(settings)
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        model.fit(records, y)
    return model


def transformer_onnx_model(records: list[dict[str, Any]], y: list[str], folder: Path) -> Any:
    """The transformer (bundled MiniLM encoder, frozen, one epoch on the demo sites), exported to ONNX and loaded
    through ``siteclass.load_model`` — which then runs its encoder in ONNX Runtime."""
    import contextlib
    import io

    import siteclass
    from siteclass.config import TrainSettings
    from siteclass.export import export_onnx
    from siteclass.models.transformer import TransformerClassifier

    settings = TrainSettings()
    settings.transformer.freeze_encoder = True
    settings.transformer.epochs = 1
    settings.transformer.max_tokens = 128
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        TransformerClassifier.from_settings(settings).fit(records, y).save(folder)
        export_onnx(folder)
    model = siteclass.load_model(folder)
    print(f"transformer backend: {model.backend_in_use} ({(folder / 'model.onnx').stat().st_size >> 20} MB onnx)")
    return model


def variants(records: list[dict[str, Any]], start: int, n: int) -> list[dict[str, Any]]:
    """*n* distinct copies of the payloads (a reference number opening each page), so that no cache of
    texts (the transformer's encoder keeps one) serves a repeated request; ranges from *start* do not overlap."""
    out = []
    for k in range(start, start + n):
        r = records[k % len(records)]
        pages = [{**p, "text": f"ref {k}. {p['text']}"} for p in r["pages"]]
        out.append({**r, "pages": pages})
    return out


def raw_throughput(model: Any, records: list[dict[str, Any]], batch: int, seconds: float, k: int,
                   start: int) -> tuple[float, float]:
    """Records per second of ``model.predict_top_k`` on batches of *batch* records, and CPU seconds per record.

    The records (distinct payloads, from *start* on) are built before the clock starts: the anchor is the model's
    own speed, nothing else."""
    from siteclass.records import site_record

    chunks = [[site_record(r["name"], r["url"], r["pages"]) for r in variants(records, start + i * batch, batch)]
              for i in range(max(1, int(seconds * 4000 / batch)))]  # more than the model gets through in *seconds*
    done = 0
    started, cpu = time.perf_counter(), time.process_time()
    for chunk in chunks:
        model.predict_top_k(chunk, k=k)
        done += batch
        if time.perf_counter() - started >= seconds:
            break
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done


# ----------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per concurrency level")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per level, each between two anchors")
    parser.add_argument("--anchor-seconds", type=float, default=2.0, help="seconds of each anchor measurement")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--model-dir", default=None, help="a saved model folder instead of the fastText model")
    parser.add_argument("--transformer", action="store_true",
                        help="train the transformer (frozen MiniLM), export it to ONNX and serve that")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--payloads", type=int, default=5_000, help="distinct request bodies cycled through")
    parser.add_argument("--inference", default="thread,inline,process",
                        help="server modes to measure: thread, inline, process")
    parser.add_argument("--workers", type=int, default=2, help="also measure `siteclass serve --workers N` (0: skip)")
    args = parser.parse_args(argv)

    import tempfile

    records, y = demo_records()
    keep = tempfile.TemporaryDirectory()
    saved: Path | None = None  # the model's folder (inference "process" and --workers load it from there)
    if args.model_dir:
        import siteclass

        saved = Path(args.model_dir)
        model, name = siteclass.load_model(saved), f"{args.model_dir}"
    elif args.transformer:
        saved = Path(keep.name) / "transformer"
        model = transformer_onnx_model(records, y, saved)
        name = "transformer (MiniLM, frozen) from ONNX"
    else:
        model, name = fasttext_model(records, y), "fasttext (trained on the demo sites)"
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"model: {name}; {len(records)} payloads, {sum(len(r['pages']) for r in records) / len(records):.1f} "
          f"pages and {sum(len(json.dumps(r)) for r in records) / len(records) / 1024:.1f} KB per request; "
          f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    starts = iter(range(10_000_000, 10**12, 1_000_000))  # each anchor predicts payloads no other run used

    def anchor(batch: int = 32, seconds: float = args.anchor_seconds) -> tuple[float, float]:
        return raw_throughput(model, records, batch, seconds, args.top_k, next(starts))

    raw = {b: anchor(b, min(5.0, args.duration)) for b in (1, 32)}
    print(f"raw model: {raw[1][0]:.0f} records/s one at a time, {raw[32][0]:.0f} records/s in batches of 32 "
          f"({1000 * raw[32][1]:.3f} CPU ms per record)")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        made = [0]

        def bodies() -> Path:
            """Request bodies no earlier run has sent: the transformer's encoder caches the vectors of texts it
            has seen, which would turn a repeat within one server into a hit."""
            made[0] += 1
            path = Path(tmp) / f"bodies{made[0]}.jsonl"
            rows = variants(records, 1_000_000 * made[0], args.payloads)
            path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
            return path

        def levels_of(server: Any) -> list[dict[str, Any]]:
            return [measure(server, c, anchor, bodies, args) for c in levels]

        model_dir = saved or Path(tmp) / "model"
        if saved is None:
            model.save(model_dir)
        for mode in [m for m in args.inference.split(",") if m]:
            # `siteclass serve --inference MODE` on the saved model, its own process (its own copy of the model)
            with ServerProcess(model_dir, free_port(), 1, mode) as server:
                results = levels_of(server)
            title = (f"siteclass serve --inference {mode} (one process)" if mode != "process" else
                     "siteclass serve --inference process (the HTTP process and one model process: one copy of "
                     "the model computing)")
            runs.append({"title": title, "mode": mode, "processes": 1, "results": results})
            report(runs[-1])
        if args.workers > 1:
            with ServerProcess(model_dir, free_port(), args.workers, "inline") as proc:
                results = levels_of(proc)
            runs.append({"title": f"siteclass serve --workers {args.workers} --inference inline",
                         "mode": f"workers{args.workers}", "processes": args.workers, "results": results})
            report(runs[-1])
    OUT.mkdir(parents=True, exist_ok=True)
    result_file = OUT / ("serve_transformer.json" if args.transformer else "serve.json")
    result_file.write_text(json.dumps({
        "model": name, "cpus": os.cpu_count(), "raw_records_per_s": {"1": raw[1][0], "32": raw[32][0]},
        "rounds": args.rounds, "runs": runs,
        "target": {"share_of_raw": TARGET_SHARE, "p99_over_p50": TARGET_TAIL},
    }, indent=2), encoding="utf-8")
    print(f"wrote {result_file}")
    return 0


def measure(server: Any, concurrency: int, anchor: Any, bodies: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One concurrency level as ``--rounds`` rounds of load, each between two anchor measurements; a round's
    share is its requests/s over the faster of its two anchors. The level's figures are the median round's."""
    rounds = []
    before = anchor()
    for _ in range(args.rounds):
        r = run_load(server, bodies(), concurrency, args.duration / args.rounds, args.max_requests)
        after = anchor()
        r.update(anchor=max(before[0], after[0]), anchor_cpu_ms=1000 * min(before[1], after[1]))
        r.update(share=r["rps"] / r["anchor"], tail=r["p99_ms"] / r["p50_ms"],
                 cpu_share=r["anchor_cpu_ms"] / r["server_cpu_ms"])
        rounds.append(r)
        before = after
    level: dict[str, Any] = {"concurrency": concurrency, "rounds": rounds,
                             "errors": sum(r["errors"] for r in rounds), "requests": sum(r["requests"] for r in rounds)}
    for key in ("rps", "p50_ms", "p99_ms", "anchor", "share", "tail", "mean_batch", "server_cpu_ms", "cpu_share",
                "model_cpu_share", "loadgen_cpu_ms", "loadgen_core"):
        level[key] = statistics.median(r[key] for r in rounds)
    steal = [r["steal"] for r in rounds if r.get("steal") is not None]
    level["steal"] = statistics.median(steal) if steal else None
    spread = [r["connections_per_worker"] for r in rounds if r.get("connections_per_worker")]
    level["connections_per_worker"] = spread[0] if spread else None
    return level


def report(run: dict[str, Any]) -> None:
    processes, results = run["processes"], run["results"]
    cores = "" if processes == 1 else f" (vs raw: {processes} server processes against the one-process anchor)"
    print(f"{run['title']}{cores}; medians of {len(results[0]['rounds'])} rounds:")
    print(f"{'conc':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'anchor':>7} {'vs raw':>7} "
          f"{'rounds':>16} {'errors':>6} {'batch':>6} {'srv CPU ms/req':>15} {'CPU share':>10} {'model CPU':>10} "
          f"{'loadgen CPU ms/req':>19} {'steal':>16}")
    for r in results:
        batch, model = (f"{r['mean_batch']:>6.1f}", f"{r['model_cpu_share']:>9.0%}") if processes == 1 else (
            f"{'n/a':>6}", f"{'n/a':>9}")  # /metrics is per worker process
        shares = "/".join(f"{x['share']:.0%}" for x in r["rounds"])
        steal = "/".join("?" if x.get("steal") is None else f"{x['steal']:.0%}" for x in r["rounds"])
        print(f"{r['concurrency']:>5} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['tail']:>8.2f} "
              f"{r['anchor']:>7.0f} {r['share']:>6.0%} {shares:>16} {r['errors']:>6} {batch} "
              f"{r['server_cpu_ms']:>15.3f} {r['cpu_share']:>9.0%} {model} {r['loadgen_cpu_ms']:>19.3f} {steal:>16}")
    spread = [f"c={r['concurrency']}: {'/'.join(map(str, r['connections_per_worker']))}" for r in results
              if r.get("connections_per_worker")]
    if spread:
        print(f"connections per worker process: {', '.join(spread)}")
    stolen = [f"c={r['concurrency']}: {r['steal']:.0%}" for r in results
              if r.get("steal") is not None and r["steal"] > STEAL_WARNING]
    if stolen:
        print(f"warning: the hypervisor took more than {STEAL_WARNING:.0%} of this machine's CPU time (median steal "
              f"{', '.join(stolen)}): a pipeline of processes stalls with it and the raw anchor hardly does, so "
              "these shares measure the host as much as the server (docs/scaling.md)")
    top = next((r for r in results if r["concurrency"] == 32), None)
    if top is not None:
        ok = top["share"] >= TARGET_SHARE and top["tail"] <= TARGET_TAIL
        print(f"target at concurrency 32: ≥ {TARGET_SHARE:.0%} of raw and p99 ≤ {TARGET_TAIL:g}× p50 → "
              f"{top['share']:.0%}, {top['tail']:.2f}× : {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    sys.exit(main())
