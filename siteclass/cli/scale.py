"""CLI commands of the scale stage (thin: flags → stage function): `scrapyd-conf`, and the `--scrapyd` crawl path.

``siteclass crawl SITES --out DIR --scrapyd URL[,URL…]`` (the crawl command) hands over to
:func:`crawl_with_scrapyd` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from siteclass.cli.app import ConfigOption, app, default_help, settings_from
from siteclass.errors import InputError

if TYPE_CHECKING:
    from siteclass.config import Settings
    from siteclass.crawling.scrapyd import ScrapydCrawlResult


@app.command("scrapyd-conf")
def scrapyd_conf_command(
    port: Annotated[int | None, typer.Option("--port", help=default_help("scrapyd.http_port", "HTTP port of the Scrapyd API."))] = None,
    bind: Annotated[
        str | None, typer.Option("--bind", help=default_help("scrapyd.bind_address", "Address to listen on (0.0.0.0 for a cluster "
                                                "node behind a firewall)."))
    ] = None,
    max_proc: Annotated[
        int | None, typer.Option("--max-proc", help=default_help("scrapyd.max_proc", "Crawl processes at once; 0 = max_proc_per_cpu × CPUs."))
    ] = None,
    max_proc_per_cpu: Annotated[
        int | None, typer.Option("--max-proc-per-cpu", help=default_help("scrapyd.max_proc_per_cpu", "Crawl processes per CPU when --max-proc is 0."))
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Folder for Scrapyd's eggs/, logs/ and dbs/ (default: the folder "
                                                 "Scrapyd is started from).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print a ready scrapyd.conf: loopback-bound, process slots per CPU, SQLite queue and job storage.

    Usage: `siteclass scrapyd-conf > scrapyd.conf && scrapyd` (Scrapyd reads ./scrapyd.conf).
    """
    from siteclass.crawling.scrapyd import scrapyd_conf

    settings = settings_from(
        config, **{"scrapyd.http_port": port, "scrapyd.bind_address": bind, "scrapyd.max_proc": max_proc,
                   "scrapyd.max_proc_per_cpu": max_proc_per_cpu}
    )
    typer.echo(scrapyd_conf(settings.scrapyd, directory), nl=False)


def parse_scrapyd_urls(value: str) -> list[str]:
    """``"http://a:6800, http://b:6800"`` → two URLs; an empty or malformed list is an InputError."""
    urls = [u.strip() for u in value.split(",") if u.strip()]
    if not urls:
        raise InputError("--scrapyd is empty; pass http://HOST:6800[,http://HOST2:6800]")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--scrapyd value {url!r} is not a URL; pass http://HOST:6800[,http://HOST2:6800]")
    return urls


def crawl_with_scrapyd(
    sites: Any, out: Any, scrapyd: str, settings: Settings, quiet: bool = False
) -> ScrapydCrawlResult:
    """What `siteclass crawl SITES --out DIR --scrapyd URL[,URL…]` runs: the crawl spread over Scrapyd servers,
    progress lines on stderr (unless *quiet*), a summary at the end."""
    from siteclass.crawling.scrapyd import crawl_on_scrapyd, print_progress

    urls = parse_scrapyd_urls(scrapyd)
    result = crawl_on_scrapyd(sites, out, urls, settings, progress=None if quiet else print_progress)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(result.status_counts.items(), key=lambda kv: -kv[1]))
    typer.echo(
        f"{result.n_sites} sites ({counts}), {result.n_pages} pages in {result.elapsed_s:.1f} s; "
        f"{result.chunks} chunks on {len(result.servers)} Scrapyd server(s), {result.failed_chunks} failed"
        f"{' (resumed)' if result.resumed else ''} → {result.out}",
        err=True,
    )
    return result
