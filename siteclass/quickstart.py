"""`siteclass quickstart`: the main job, end to end, on the embedded demo websites.

1. serve the demo sites on 127.0.0.1 through a local forward proxy that answers by host name;
2. crawl them with the real spider;
3. build a dataset from the crawl and the demo labels;
4. train the default model (`[train] model`; `--model` picks another) and show its validation score;
5. evaluate it on the test split and write the HTML report;
6. start the HTTP server on that model, ask it about one demo site, print the answer.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from siteclass.config import Settings

console = Console()


def _step(n: int, title: str) -> None:
    console.rule(f"[bold cyan]{n}. {title}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_quickstart(out: str | Path = "quickstart-out", *, fresh: bool = True, serve: bool = True,
                   model: str | None = None) -> dict[str, Any]:
    """Run every stage on the demo; returns a summary dict (paths and headline figures). *model*: the model to
    train (default: ``[train] model``)."""
    from siteclass.crawling.runner import crawl
    from siteclass.data.build import build_dataset
    from siteclass.demo import labels_csv, sites_csv
    from siteclass.demo.web import serve_demo_sites
    from siteclass.evaluation import evaluate
    from siteclass.training import train

    if model is not None:
        from siteclass.models.registry import model_class

        model_class(model)  # an unknown name fails here, naming the choices, before any crawling
    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"out": str(out)}
    started = time.perf_counter()

    with serve_demo_sites() as web:
        _step(1, f"Serving the demo websites through a local proxy at {web.proxy_url}")
        _step(2, "Crawling the demo websites")
        crawl_result = crawl(str(sites_csv()), str(out / "crawl"), proxy=web.proxy_url)
        summary["crawl"] = {"sites": crawl_result.n_sites, "ok": crawl_result.n_ok, "pages": crawl_result.n_pages}

        _step(3, "Building the dataset from the crawl and the demo labels")
        ds = build_dataset(crawl=out / "crawl", labels=labels_csv(), out=out / "dataset")
        summary["dataset"] = {"out": str(ds.out), "rows": ds.counts, "labels": len(ds.labels)}
        console.print(
            f"{len(ds.labels)} industries; rows per split: "
            + ", ".join(f"{k} {v}" for k, v in ds.counts.items())
            + f"; dropped {ds.stats.get('rows_dropped', 0)} (reasons in {ds.out / 'stats.json'})"
        )

        _step(4, f"Training the {model or Settings().train.model} model")
        trained = train(out / "dataset", model=model, out=out / "model")  # default: [train] model
        val_metrics = dict(getattr(trained, "metrics", {}) or {})
        summary["train"] = {"model": str(out / "model"), "val": val_metrics}
        console.print(
            "validation: " + ", ".join(f"{k} {v:.3f}" for k, v in val_metrics.items() if isinstance(v, float))
        )

        _step(5, "Evaluating on the test split")
        report = evaluate(out / "model", out / "dataset" / "test.parquet", out=out / "report")
        metrics = getattr(report, "metrics", {}) or {}
        table = Table("metric", "value", title="test split")
        for key in ("n", "accuracy", "macro_f1", "weighted_f1", "top_3_accuracy", "ece"):
            if key in metrics:
                v = metrics[key]
                table.add_row(key, f"{v:.3f}" if isinstance(v, float) else str(v))
        console.print(table)
        console.print(f"HTML report: [bold]{out / 'report' / 'report.html'}[/bold]")
        summary["evaluate"] = {"report": str(out / "report" / "report.html"), "metrics": metrics}

        if serve:
            _step(6, "Serving the model over HTTP and asking it about one demo site")
            summary["serve"] = _ask_server(out / "model", web.proxy_url, _demo_site_url())

    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    console.print(Panel(f"done in {summary['elapsed_s']} s — everything is in {out}/", style="green"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return summary


def _demo_site_url() -> str:
    import csv

    from siteclass.demo import sites_csv

    with open(sites_csv(), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    url = rows[len(rows) // 2]["url"]
    # The local proxy terminates https with a throwaway certificate that the server rightly refuses to trust,
    # so the demo asks for the plain-http address of the site.
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return f"http://{host}/"


def _ask_server(model_dir: Path, proxy_url: str, site_url: str) -> dict[str, Any]:
    import httpx

    port = _free_port()
    cmd = [
        sys.executable, "-m", "siteclass", "serve", "--model", str(model_dir), "--host", "127.0.0.1",
        "--port", str(port), "--proxy", proxy_url, "--allow-private",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited early: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("the server did not become ready within 120 s")
        console.print(f"server ready at {base} (OpenAPI at {base}/docs)")
        console.print(f"POST {base}/v1/predict {{'url': '{site_url}'}}")
        answer: dict[str, Any] = httpx.post(f"{base}/v1/predict", json={"url": site_url}, timeout=60).json()
        table = Table("industry", "probability", title=f"{answer.get('domain')} — status {answer.get('status')}")
        for item in answer.get("industries", []):
            table.add_row(item["label"], f"{item['probability']:.3f}")
        console.print(table)
        for page in answer.get("pages", []):
            console.print(f"  page used: {page.get('url')}  {page.get('title') or ''}")
        return answer
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
