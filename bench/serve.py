"""HTTP serving load test: /v1/predict/pages at concurrency 1, 8, 32 beside the raw model's own throughput.

    python -m bench serve [--duration 10] [--concurrency 1,8,32] [--model-dir DIR]
    python bench/serve.py --duration 5

The anchor is the raw model in the same run: ``predict_top_k`` on batches of 32 records (what the micro-batcher
hands it at concurrency 32) and on single records, records built before the clock starts (the anchor times the
model and nothing else). The server is real uvicorn on 127.0.0.1 (a thread of this process), the load comes from
a separate process (asyncio keep-alive connections with a minimal HTTP/1.1 client on uvloop when installed,
bounded in requests and time, loopback only). Payloads are the embedded demo sites' pages (real HTML → text).
Default model: fastText trained here on the demo sites; ``--model-dir`` benchmarks a saved model instead (e.g.
a transformer exported to ONNX, served through ``siteclass.load_model``).

Besides requests/s and latency, every level prints the CPU time spent per request by the server (all its
threads, or all its worker processes) and by the load generator — they share the machine's cores, so this says
where the time went — and the mean micro-batch size. ``CPU share`` is the raw model's CPU time per record (batches
of 32) over the server's CPU time per request; ``model CPU`` is the model calls' own CPU time (the server's
``siteclass_inference_cpu_seconds``) over the server's CPU time in the same interval: the fraction of the
server's work that is the model's, the figure that holds on a busy machine where requests/s do not (with one
core to itself, a server delivers about that share of the raw model's throughput). With ``--workers N``
(N processes) the requests/s share compares N cores of server with the one-core anchor: the report says so.

Target: at concurrency 32 the server delivers ≥ 80 % of the raw model's batched throughput, p99 ≤ 3 × p50.
Results are printed and written to bench/out/serve.json (``--transformer``: serve_transformer.json).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = Path(__file__).resolve().parent / "out"

TARGET_SHARE = 0.8
TARGET_TAIL = 3.0


# ----------------------------------------------------------------------------------------------- data & model
def demo_records(pages_per_site: int = 5) -> tuple[list[dict[str, Any]], list[str]]:
    """One record per demo site (name, url, pages of extracted text) and its label."""
    from siteclass.crawl.extract import extract_page
    from siteclass.crawl.localweb import demo_sites_root
    from siteclass.crawl.urls import registered_domain

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
    from siteclass.predict import site_record

    chunks = [[site_record(r["name"], r["url"], "", r["pages"]) for r in variants(records, start + i * batch, batch)]
              for i in range(max(1, int(seconds * 4000 / batch)))]  # more than the model gets through in *seconds*
    done = 0
    started, cpu = time.perf_counter(), time.process_time()
    for chunk in chunks:
        model.predict_top_k(chunk, k=k)
        done += batch
        if time.perf_counter() - started >= seconds:
            break
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done


# ----------------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``siteclass serve --workers N`` on a saved model: N processes share the port (uvicorn workers)."""

    def __init__(self, model_dir: Path, port: int, workers: int, inference: str) -> None:
        self.cmd = [sys.executable, "-m", "siteclass", "serve", "--model", str(model_dir), "--port", str(port),
                    "--workers", str(workers), "--inference", inference, "--max-concurrency", "1024",
                    "--log-level", "warning"]
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        import httpx

        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    time.sleep(2.0)  # let every worker finish loading
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server process did not become ready")

    def connections_per_worker(self) -> list[int]:
        """Established client connections of each worker process (how evenly the kernel spread them)."""
        import psutil

        assert self.proc is not None
        port = int(self.url.rsplit(":", 1)[1])
        counts = []
        for p in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                conns = [c for c in p.net_connections("tcp") if c.status == "ESTABLISHED" and c.laddr.port == port]
            except psutil.Error:
                continue
            if conns:
                counts.append(len(conns))
        return sorted(counts, reverse=True)

    def cpu_seconds(self) -> float:
        """CPU time of the server so far: the supervisor and every worker process."""
        import psutil

        assert self.proc is not None
        procs = [psutil.Process(self.proc.pid)]
        procs += procs[0].children(recursive=True)
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ServerThread:
    def __init__(self, model: Any, port: int, inference: str = "thread") -> None:
        import uvicorn

        from siteclass.config import ServeSettings
        from siteclass.serve.app import create_app

        settings = ServeSettings(max_concurrency=1024, inference=inference)  # type: ignore[arg-type]
        app = create_app(model, settings)
        from siteclass.serve.protocol import NoDelayHTTPProtocol

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                http=NoDelayHTTPProtocol)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ServerThread:
        import httpx

        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    @staticmethod
    def cpu_seconds() -> float:
        """CPU time of this process: the server thread (the main thread only waits for the load generator)."""
        return time.process_time()

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# ----------------------------------------------------------------------------------------------- load
async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One keep-alive HTTP/1.1 exchange on a raw connection (a minimal client keeps the load generator cheap)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


def _requests(host: str, bodies: list[bytes]) -> list[bytes]:
    return [
        b"POST /v1/predict/pages HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        for body in bodies
    ]


async def _load(url: str, bodies: list[bytes], concurrency: int, max_requests: int, seconds: float) -> dict[str, Any]:
    host, port = url.split("://", 1)[1].split(":")
    requests = _requests(host, bodies)
    latencies: list[float] = []
    errors = 0
    counter = {"sent": 0}
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await _post(reader, writer, requests[0])  # warm-up
            while counter["sent"] < max_requests and time.perf_counter() < stop_at:
                request = requests[counter["sent"] % len(requests)]
                counter["sent"] += 1
                t0 = time.perf_counter()
                status = await _post(reader, writer, request)
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


def loadgen_main(args: argparse.Namespace) -> int:
    bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines() if line]
    run: Any = asyncio.run
    loop_name = "asyncio"
    try:  # the cheapest event loop there is: the load generator shares the cores with the server
        import uvloop

        run, loop_name = uvloop.run, "uvloop"
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    cpu = time.process_time()
    result = run(_load(args.url, bodies, args.concurrency, args.max_requests, args.duration))
    result["loadgen_cpu_s"] = time.process_time() - cpu
    result["loadgen_loop"] = loop_name
    print(json.dumps(result))
    return 0


def run_load(server: Any, bodies_file: Path, concurrency: int, seconds: float, max_requests: int) -> dict[str, Any]:
    """One load level against *server*: the load generator's figures, plus the server's CPU time and batches."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen", "--url", server.url, "--bodies",
           str(bodies_file), "--concurrency", str(concurrency), "--duration", str(seconds),
           "--max-requests", str(max_requests)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    before = server_counters(server.url)
    cpu = server.cpu_seconds()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    spread = None
    if hasattr(server, "connections_per_worker"):
        time.sleep(min(2.0, seconds / 2))
        spread = server.connections_per_worker()
    stdout, stderr = proc.communicate(timeout=seconds + 120)
    if proc.returncode:
        raise RuntimeError(f"load generator failed: {stderr[-2000:]}")
    server_cpu = server.cpu_seconds() - cpu
    result = dict(json.loads(stdout.strip().splitlines()[-1]))
    result["connections_per_worker"] = spread
    after = server_counters(server.url)
    records, calls, model_cpu = (after[k] - before[k] for k in after)
    n = max(1, result["requests"] + concurrency)  # the timed requests and one warm-up request per connection
    result.update(server_cpu_ms=1000 * server_cpu / n, loadgen_cpu_ms=1000 * result["loadgen_cpu_s"] / n,
                  loadgen_core=result["loadgen_cpu_s"] / result["elapsed_s"], mean_batch=records / max(1, calls),
                  model_cpu_share=model_cpu / server_cpu if server_cpu else 0.0)
    return result


def server_counters(url: str) -> dict[str, float]:
    """Records, model calls and the model's CPU seconds so far, from the server's /metrics (with several worker
    processes: those of whichever worker answers)."""
    import httpx

    values = {"siteclass_batch_records_sum": 0.0, "siteclass_batch_records_count": 0.0,
              "siteclass_inference_cpu_seconds_total": 0.0}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in values:
            values[name] = float(value)
    return values


# ----------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per concurrency level")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--model-dir", default=None, help="a saved model folder instead of the fastText model")
    parser.add_argument("--transformer", action="store_true",
                        help="train the transformer (frozen MiniLM), export it to ONNX and serve that")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--payloads", type=int, default=5_000, help="distinct request bodies cycled through")
    parser.add_argument("--inference", default="thread,inline", help="server modes to measure: thread, inline")
    parser.add_argument("--workers", type=int, default=2, help="also measure `siteclass serve --workers N` (0: skip)")
    parser.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--bodies", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen:
        args.concurrency = int(args.concurrency)
        return loadgen_main(args)

    import tempfile

    records, y = demo_records()
    keep = tempfile.TemporaryDirectory()
    if args.model_dir:
        import siteclass

        model, name = siteclass.load_model(args.model_dir), f"{args.model_dir}"
    elif args.transformer:
        model = transformer_onnx_model(records, y, Path(keep.name) / "transformer")
        name = "transformer (MiniLM, frozen) from ONNX"
    else:
        model, name = fasttext_model(records, y), "fasttext (trained on the demo sites)"
    levels = [int(c) for c in args.concurrency.split(",")]
    print(f"model: {name}; {len(records)} payloads, {sum(len(r['pages']) for r in records) / len(records):.1f} "
          f"pages and {sum(len(json.dumps(r)) for r in records) / len(records) / 1024:.1f} KB per request; "
          f"{os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seconds = min(5.0, args.duration)
    raw = {b: raw_throughput(model, records, b, seconds, args.top_k, 10_000_000 * b) for b in (1, 32)}
    print(f"raw model: {raw[1][0]:.0f} records/s one at a time, {raw[32][0]:.0f} records/s in batches of 32 "
          f"({1000 * raw[32][1]:.3f} CPU ms per record)")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        made = [0]

        def bodies(_level: int) -> Path:
            """Request bodies no earlier run has sent: the transformer's encoder caches the vectors of texts it
            has seen (in the model object every in-process server shares), which would turn a repeat into a hit."""
            made[0] += 1
            path = Path(tmp) / f"bodies{made[0]}.jsonl"
            rows = variants(records, 1_000_000 * made[0], args.payloads)
            path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
            return path

        for mode in [m for m in args.inference.split(",") if m]:
            with ServerThread(model, free_port(), mode) as server:
                results = [run_load(server, bodies(c), c, args.duration, args.max_requests) for c in levels]
            runs.append({"title": f"server, model {mode} (one process)", "processes": 1, "results": results})
        if args.workers > 1:
            model_dir = Path(tmp) / "model"
            model.save(model_dir)
            with ServerProcess(model_dir, free_port(), args.workers, "inline") as proc:
                results = [run_load(proc, bodies(c), c, args.duration, args.max_requests) for c in levels]
            runs.append({"title": f"siteclass serve --workers {args.workers} --inference inline",
                         "processes": args.workers, "results": results})
    # The anchor again after the load: a busy machine (other jobs) slows both; the faster of the two is kept.
    after = raw_throughput(model, records, 32, seconds, args.top_k, 20_000_000)
    anchor = max(raw[32][0], after[0])
    cpu_per_record = min(raw[32][1], after[1])
    print(f"anchor: {anchor:.0f} records/s in batches of 32 (before the load {raw[32][0]:.0f}, after "
          f"{after[0]:.0f}; the faster one is the anchor), {1000 * cpu_per_record:.3f} CPU ms per record; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for run in runs:
        report(run["results"], anchor, cpu_per_record, run["title"], run["processes"])
    OUT.mkdir(parents=True, exist_ok=True)
    result_file = OUT / ("serve_transformer.json" if args.transformer else "serve.json")
    result_file.write_text(json.dumps({
        "model": name, "cpus": os.cpu_count(), "raw_records_per_s": {"1": raw[1][0], "32": anchor},
        "raw_cpu_ms_per_record_32": 1000 * cpu_per_record, "runs": runs,
        "target": {"share_of_raw": TARGET_SHARE, "p99_over_p50": TARGET_TAIL},
    }, indent=2), encoding="utf-8")
    print(f"wrote {result_file}")
    return 0


def report(results: list[dict[str, Any]], raw: float, raw_cpu: float, title: str, processes: int) -> None:
    cores = "" if processes == 1 else f" (vs raw: {processes} server processes against the one-core anchor)"
    print(f"{title}{cores}:")
    print(f"{'conc':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} {'vs raw':>7} {'errors':>6} "
          f"{'batch':>6} {'srv CPU ms/req':>15} {'CPU share':>10} {'model CPU':>10} {'loadgen CPU ms/req':>19} "
          f"{'loadgen core':>13}")
    for r in results:
        batch, model = (f"{r['mean_batch']:>6.1f}", f"{r['model_cpu_share']:>9.0%}") if processes == 1 else (
            f"{'n/a':>6}", f"{'n/a':>9}")  # /metrics is per worker process
        print(f"{r['concurrency']:>5} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
              f"{r['p99_ms'] / r['p50_ms']:>8.2f} {r['rps'] / raw:>6.0%} {r['errors']:>6} {batch} "
              f"{r['server_cpu_ms']:>15.3f} {1000 * raw_cpu / r['server_cpu_ms']:>9.0%} {model} "
              f"{r['loadgen_cpu_ms']:>19.3f} {r['loadgen_core']:>12.0%}")
    spread = [f"c={r['concurrency']}: {'/'.join(map(str, r['connections_per_worker']))}" for r in results
              if r.get("connections_per_worker")]
    if spread:
        print(f"connections per worker process: {', '.join(spread)}")
    top = next((r for r in results if r["concurrency"] == 32), None)
    if top is not None:
        share, tail = top["rps"] / raw, top["p99_ms"] / top["p50_ms"]
        ok = share >= TARGET_SHARE and tail <= TARGET_TAIL
        print(f"target at concurrency 32: ≥ {TARGET_SHARE:.0%} of raw and p99 ≤ {TARGET_TAIL:g}× p50 → "
              f"{share:.0%}, {tail:.2f}× : {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    sys.exit(main())
