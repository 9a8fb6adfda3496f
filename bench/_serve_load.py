"""Load-test plumbing for ``bench/serve.py``: the server under test (a ``siteclass serve`` process, as users run
it), the load generator (its own process: ``python bench/_serve_load.py
--url URL --bodies FILE …``; asyncio keep-alive connections with a minimal HTTP/1.1 client, uvloop when installed)
and one load level's figures (requests/s, latency, the server's CPU time, batches)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


# ----------------------------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``siteclass serve --workers N --inference MODE`` on a saved model, started as users start it (its own
    process; N > 1: N processes share the port). ``--log-level warning``: no access-log line per request."""

    def __init__(self, model_dir: Path, port: int, workers: int, inference: str) -> None:
        self.workers = workers
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
    cmd = [sys.executable, str(Path(__file__).resolve()), "--url", server.url, "--bodies",
           str(bodies_file), "--concurrency", str(concurrency), "--duration", str(seconds),
           "--max-requests", str(max_requests)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    before = server_counters(server.url)
    steal_before = cpu_steal_seconds()
    cpu = server.cpu_seconds()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    spread = None
    if server.workers > 1:
        time.sleep(min(2.0, seconds / 2))
        spread = server.connections_per_worker()
    stdout, stderr = proc.communicate(timeout=seconds + 120)
    if proc.returncode:
        raise RuntimeError(f"load generator failed: {stderr[-2000:]}")
    server_cpu = server.cpu_seconds() - cpu
    steal_after = cpu_steal_seconds()
    result = dict(json.loads(stdout.strip().splitlines()[-1]))
    result["connections_per_worker"] = spread
    after = server_counters(server.url)
    records, calls, model_cpu = (after[k] - before[k] for k in after)
    n = max(1, result["requests"] + concurrency)  # the timed requests and one warm-up request per connection
    result.update(server_cpu_ms=1000 * server_cpu / n, loadgen_cpu_ms=1000 * result["loadgen_cpu_s"] / n,
                  loadgen_core=result["loadgen_cpu_s"] / result["elapsed_s"], mean_batch=records / max(1, calls),
                  model_cpu_share=model_cpu / server_cpu if server_cpu else 0.0, steal=None)
    if steal_before is not None and steal_after is not None and steal_after[1] > steal_before[1]:
        result["steal"] = (steal_after[0] - steal_before[0]) / (steal_after[1] - steal_before[1])
    return result


def cpu_steal_seconds() -> tuple[float, float] | None:
    """(steal, total) CPU seconds of the machine so far (psutil; None where the system reports no steal: not
    Linux). Steal is time the hypervisor ran something else while this VM's vCPUs had work: it is what makes a
    shared host's figures drift."""
    import psutil

    times = psutil.cpu_times()
    steal = getattr(times, "steal", None)
    if steal is None:
        return None
    total = sum(getattr(times, f) for f in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"))
    return steal, total


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


def loadgen_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the load generator of bench/serve.py")
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True, help="request bodies, one JSON per line")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    return loadgen_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(loadgen_cli())
