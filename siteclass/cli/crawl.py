"""CLI commands of the crawl stage (thin: flags → stage function)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.charsets import use_encoding
from siteclass.cli.app import ConfigOption, EncodingOption, app, default_help, settings_from
from siteclass.config import FAST_TEXT_CHARS


@app.command()
def crawl(
    sites: Annotated[Path, typer.Argument(help="CSV or Parquet with a 'url' column ('id' and 'name' optional).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder or fsspec URL (s3://bucket/prefix).")],
    url_column: Annotated[str | None, typer.Option("--url-column", help=default_help("crawl.url_column", "The sites file's URL column."))] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help=default_help("crawl.max_pages", "Pages per site, home page included."))] = None,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help=default_help("crawl.max_depth", "Link hops from the home page."))] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", help=default_help("crawl.proxy", "HTTP proxy every request goes through."))] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", help=default_help("crawl.concurrent_requests", "Requests in flight across all sites."))
    ] = None,
    per_domain: Annotated[
        int | None, typer.Option("--per-domain", help=default_help("crawl.concurrent_per_domain", "Requests in flight per site (1-2 is polite)."))
    ] = None,
    page_timeout: Annotated[
        float | None, typer.Option("--page-timeout", help=default_help("crawl.page_timeout_s", "Total deadline for one page, in seconds."))
    ] = None,
    site_timeout: Annotated[
        float | None, typer.Option("--site-timeout", help=default_help("crawl.site_timeout_s", "Total deadline for one site, in seconds."))
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option("--max-bytes", help=default_help("crawl.max_bytes", "Cap on a page's decompressed size, in bytes."))
    ] = None,
    robots: Annotated[
        bool | None, typer.Option("--robots/--ignore-robots", help=default_help("crawl.obey_robots", "Obey robots.txt."))
    ] = None,
    keep_raw: Annotated[
        bool | None, typer.Option("--raw/--no-raw", help=default_help("crawl.keep_raw", "Keep the raw HTML in raw.parquet."))
    ] = None,
    extractor: Annotated[
        str | None,
        typer.Option("--extractor", help=default_help("crawl.extractor", f"Page text: fast (a page read up to "
                                                      f"{FAST_TEXT_CHARS:,} characters of text) or exact (all of "
                                                      "it, slower).")),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help=default_help("crawl.workers", "Page-processing processes; -1: one per core, "
                                                    "0: in the crawl process (Scrapyd jobs: 0 unless given).")),
    ] = None,
    scrapyd: Annotated[
        str | None,
        typer.Option("--scrapyd", help="Scrapyd URL(s), comma-separated: crawl as Scrapyd jobs (docs/scaling.md)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary table.")] = False,
    encoding: EncodingOption = None,
    config: ConfigOption = None,
) -> None:
    """Crawl each site's home page and its most informative internal pages into DIR/pages.parquet,
    DIR/raw.parquet and DIR/sites.parquet (one row per input row). Re-running with the same --out resumes."""
    from siteclass.crawling.runner import crawl as run_crawl

    settings = settings_from(
        config,
        **{
            "crawl.max_pages": max_pages, "crawl.max_depth": max_depth, "crawl.proxy": proxy,
            "crawl.concurrent_requests": concurrency, "crawl.concurrent_per_domain": per_domain,
            "crawl.page_timeout_s": page_timeout, "crawl.site_timeout_s": site_timeout,
            "crawl.max_bytes": max_bytes, "crawl.obey_robots": robots, "crawl.keep_raw": keep_raw,
            "crawl.url_column": url_column, "crawl.extractor": extractor, "crawl.workers": workers,
        },
    )
    if scrapyd:
        from siteclass.cli.scale import crawl_with_scrapyd

        with use_encoding(encoding):
            crawl_with_scrapyd(sites, out, scrapyd, settings, quiet=quiet)
        return
    with use_encoding(encoding):
        result = run_crawl(sites, out, settings.crawl, progress=not quiet)
    if quiet:
        typer.echo(f"{result.n_ok}/{result.n_sites} sites ok, {result.n_pages} pages → {result.out}")
