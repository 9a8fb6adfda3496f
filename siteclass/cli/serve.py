"""CLI command of the serve stage (thin: flags → the HTTP server)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import ConfigOption, ModelOption, app, default_help, settings_from


@app.command("serve")
def serve_command(
    model: ModelOption = None,
    host: Annotated[str | None, typer.Option("--host", help=default_help("serve.host", "Interface to bind."))] = None,
    port: Annotated[int | None, typer.Option("--port", help=default_help("serve.port", "Port."))] = None,
    allow_private: Annotated[
        bool, typer.Option("--allow-private", help="Let live fetches reach private/loopback addresses (intranets, tests).")
    ] = False,
    allow_network: Annotated[
        list[str] | None, typer.Option("--allow-network", help=default_help("serve.allow_networks", "A CIDR range live fetches may reach; repeatable."))
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option("--proxy", help=default_help("serve.proxy", "HTTP proxy for live fetches: a CONNECT tunnel to the address checked here.")),
    ] = None,
    proxy_resolves: Annotated[
        bool,
        typer.Option("--proxy-resolves", help="Send names that do not resolve here to the proxy unchecked "
                     "(the proxy must then refuse private addresses itself)."),
    ] = False,
    top_k: Annotated[int | None, typer.Option("--top-k", help=default_help("serve.top_k", "Industries per answer."))] = None,
    min_confidence: Annotated[float | None, typer.Option("--min-confidence", help=default_help("serve.min_confidence", "'unknown' below this; none: the model's own minimum (bundled NAICS model: naics_min_confidence; others 0)."))] = None,
    deadline: Annotated[float | None, typer.Option("--deadline", help=default_help("serve.deadline_s", "Seconds per request before 504."))] = None,
    max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", help=default_help("serve.max_concurrency", "Requests in flight before 503."))] = None,
    workers: Annotated[int | None, typer.Option("--workers", help=default_help("serve.workers", "Server processes, each with the model."))] = None,
    inference: Annotated[
        str | None, typer.Option("--inference", help=default_help("serve.inference", "Where the model runs: auto (a child process for "
                                 "fasttext/linear, a worker thread for the others), thread, inline or process."))
    ] = None,
    model_cpus: Annotated[
        int | None, typer.Option("--model-cpus", help=default_help("serve.model_cpus", "CPUs reserved for the model process (inference process, "
                                 "Linux); the HTTP process runs on the others; 0: no pinning."))
    ] = None,
    access_log: Annotated[
        bool | None, typer.Option("--access-log/--no-access-log", help=default_help("serve.access_log", "A log line per request."))
    ] = None,
    overrides: Annotated[Path | None, typer.Option("--overrides", help=default_help("serve.overrides", "CSV/Parquet/JSONL of domain|site_id,label[,note]: "
                                                  "those sites get that label (source 'override'); re-read when "
                                                  "the file changes, no restart."))] = None,
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
            "serve.overrides": str(Path(overrides).resolve()) if overrides else None,
        },
    )
    if model is not None:  # before binding the port: a server that can never load its model must not start
        from siteclass.models.registry import check_model_folder

        check_model_folder(model)
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
