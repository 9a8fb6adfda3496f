"""CLI commands of the predict and serve stages (thin: flags → stage function)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from siteclass.cli.app import ConfigOption, app, settings_from

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model folder (siteclass train …). Default: the bundled zero-shot NAICS model."),
]


@app.command("predict")
def predict_command(
    url: Annotated[str | None, typer.Argument(help="A website to crawl live and classify, e.g. acme.com.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The business name (a model feature).")] = None,
    model: ModelOption = None,
    sites: Annotated[Path | None, typer.Option("--sites", help="CSV/Parquet with url[,id,name]: crawl, then predict.")] = None,
    crawl: Annotated[Path | None, typer.Option("--crawl", help="An existing crawl folder (sites.parquet, pages.parquet).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Predictions Parquet file (with --sites/--crawl).")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Industries listed per site.")] = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help="Below this probability the label is 'unknown'.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Sites per model call.")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="local, or spark (mapInPandas) with --crawl.")] = None,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL (default local[*]).")] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help="Pages crawled per site.")] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", help="HTTP proxy the crawl goes through.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the single-site answer as JSON.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    config: ConfigOption = None,
) -> None:
    """Industry of one website (crawled live), or of every site of a sites file or crawl, into Parquet."""
    from siteclass.predict import PredictResult, predict

    settings = settings_from(
        config,
        **{
            "predict.top_k": top_k, "predict.min_confidence": min_confidence, "predict.batch_size": batch_size,
            "predict.engine": engine, "predict.progress": False if no_progress else None,
            "crawl.max_pages": max_pages, "crawl.proxy": proxy, "spark.master": spark_master,
        },
    )
    result = predict(url, sites=sites, crawl=crawl, out=out, model=model, name=name, settings=settings)
    if isinstance(result, PredictResult):
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(result.status_counts.items()))
        typer.echo(f"{result.n_sites} sites, {result.n_predicted} predicted ({counts}) → {result.out}")
        return
    if as_json:
        typer.echo(json.dumps({**result.row(), "pages": result.pages, "error": result.error}, indent=2))
        return
    _print_site(result)


def _print_site(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result.url}[/bold]  status: {result.status}")
    if result.error:
        console.print(f"  {result.error}")
    if result.labels:
        table = Table("industry", "probability")
        for label, p in zip(result.labels, result.probabilities):
            table.add_row(label, f"{p:.3f}")
        console.print(table)
        console.print(f"label: [bold]{result.label}[/bold]")
    if result.pages:
        console.print("pages used:")
        for page in result.pages:
            console.print(f"  {page['url']}  {page.get('title') or ''}")


@app.command("serve")
def serve_command(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Let live fetches reach private/loopback addresses (intranets, tests).")
    ] = False,
    allow_network: Annotated[
        list[str] | None, typer.Option("--allow-network", help="A CIDR range live fetches may reach; repeatable.")
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option("--proxy", help="HTTP proxy for live fetches: a CONNECT tunnel to the address checked here."),
    ] = None,
    proxy_resolves: Annotated[
        bool,
        typer.Option("--proxy-resolves", help="Send names that do not resolve here to the proxy unchecked "
                     "(the proxy must then refuse private addresses itself)."),
    ] = False,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Industries per answer.")] = None,
    min_confidence: Annotated[float | None, typer.Option("--min-confidence", help="'unknown' below this.")] = None,
    deadline: Annotated[float | None, typer.Option("--deadline", help="Seconds per request before 504.")] = None,
    max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", help="Requests in flight before 503.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Server processes, each with the model.")] = None,
    inference: Annotated[
        str | None, typer.Option("--inference", help="Where the model runs: auto (default: a child process for "
                                 "fasttext/linear, a worker thread for the others), thread, inline or process.")
    ] = None,
    model_cpus: Annotated[
        int | None, typer.Option("--model-cpus", help="CPUs reserved for the model process (inference process, "
                                 "Linux); the HTTP process runs on the others. Default 0: no pinning.")
    ] = None,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help="A log line per request (default: on).")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    config: ConfigOption = None,
) -> None:
    """Serve the model over HTTP (FastAPI + uvicorn); OpenAPI at /docs and /openapi.json."""
    import uvicorn

    from siteclass.serve.app import create_app

    settings = settings_from(
        config,
        **{
            "serve.host": host, "serve.port": port, "serve.allow_private": True if allow_private else None,
            "serve.allow_networks": allow_network or None, "serve.proxy": proxy,
            "serve.proxy_resolves": True if proxy_resolves else None, "serve.top_k": top_k,
            "serve.min_confidence": min_confidence, "serve.deadline_s": deadline,
            "serve.max_concurrency": max_concurrency, "serve.workers": workers,
            "serve.inference": inference, "serve.access_log": access_log, "serve.model_cpus": model_cpus,
        },
    )
    if model is not None and not Path(model).is_dir():
        from siteclass.errors import InputError

        raise InputError(f"model folder {model} does not exist; pass the folder `siteclass train --out` wrote")
    serve = settings.serve
    if serve.workers > 1:  # (one worker: the app checks it with the inference mode it resolves)
        from siteclass.serve.cpus import check_model_cpus

        check_model_cpus(serve.model_cpus, serve.inference, serve.workers)
    typer.echo(f"siteclass serving {model or 'the zero-shot NAICS model'} on http://{serve.host}:{serve.port}"
               f" ({serve.workers} worker{'s' if serve.workers > 1 else ''})")
    from siteclass.serve.protocol import NoDelayHTTPProtocol

    if serve.workers == 1:
        uvicorn.run(create_app(model, settings), host=serve.host, port=serve.port, log_level=log_level,
                    access_log=serve.access_log, timeout_graceful_shutdown=5, http=NoDelayHTTPProtocol)
        return
    import os
    import tempfile

    from siteclass.config import save_settings
    from siteclass.serve.app import MODEL_ENV, SETTINGS_ENV

    with tempfile.TemporaryDirectory(prefix="siteclass-serve-") as tmp:
        os.environ[SETTINGS_ENV] = str(save_settings(settings, tmp))
        os.environ[MODEL_ENV] = str(Path(model).resolve()) if model else ""
        from siteclass.serve.protocol import reuse_port_supported, serve_workers

        if reuse_port_supported():  # a socket per worker: the kernel spreads the connections evenly
            serve_workers("siteclass.serve.app:app_from_env", serve.workers, serve.host, serve.port, log_level,
                          serve.access_log)
            return
        uvicorn.run("siteclass.serve.app:app_from_env", factory=True, workers=serve.workers, host=serve.host,
                    port=serve.port, log_level=log_level, access_log=serve.access_log, timeout_graceful_shutdown=5,
                    http=NoDelayHTTPProtocol)
