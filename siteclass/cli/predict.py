"""CLI command of the predict stage (thin: flags → ``siteclass.prediction``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from siteclass.charsets import use_encoding
from siteclass.cli.app import ConfigOption, EncodingOption, ModelOption, app, default_help, settings_from

NO_PREDICTION = 1  # the exit code of `siteclass predict URL` when the site could not be classified


@app.command("predict")
def predict_command(
    url: Annotated[str | None, typer.Argument(help="A website to crawl live and classify, e.g. acme.com.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The business name (a model feature); with --table: "
                                             "the column holding it.")] = None,
    model: ModelOption = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="CSV label[,description]: score against your own "
                                                "taxonomy zero-shot (no training); not with --model.")] = None,
    sites: Annotated[Path | None, typer.Option("--sites", help="CSV/Parquet with url[,id,name]: crawl, then predict.")] = None,
    url_column: Annotated[str | None, typer.Option("--url-column", help=default_help("crawl.url_column", "With --sites: the sites file's URL column."))] = None,
    crawl: Annotated[Path | None, typer.Option("--crawl", help="An existing crawl folder (sites.parquet, pages.parquet).")] = None,
    table: Annotated[Path | None, typer.Option("--table", help="CSV/Parquet/JSONL of descriptions: classify each row "
                                               "(no crawl).")] = None,
    text: Annotated[str | None, typer.Option("--text", help="With --table: the text column(s), COL[,COL…].")] = None,
    id_column: Annotated[str | None, typer.Option("--id", help="With --table: the id column (default: the row "
                                                  "number from 1).")] = None,
    keep: Annotated[str | None, typer.Option("--keep", help="With --table/--sites: input columns COL[,COL…] every "
                                             "prediction row keeps.")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Saved HTML: a file, a folder (one site per file or "
                                             "sub-folder of pages) or a quoted glob.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Predictions Parquet file (with --sites/--crawl/--table/--html).")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help=default_help("predict.top_k", "Industries listed per site."))] = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help=default_help("predict.min_confidence", "Below this probability the label is 'unknown'; none: the model's own minimum (the bundled NAICS model's [train.zeroshot] naics_min_confidence, 0 for other models)."))
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help=default_help("predict.batch_size", "Sites per model call."))] = None,
    engine: Annotated[str | None, typer.Option("--engine", help=default_help("predict.engine", "local, or spark (mapInPandas) with --crawl."))] = None,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help=default_help("spark.master", "Spark master URL."))] = None,
    max_pages: Annotated[int | None, typer.Option("--max-pages", help=default_help("crawl.max_pages", "Pages crawled per site."))] = None,
    proxy: Annotated[str | None, typer.Option("--proxy", help=default_help("crawl.proxy", "HTTP proxy the crawl goes through."))] = None,
    overrides: Annotated[Path | None, typer.Option("--overrides", help=default_help("predict.overrides", "CSV/Parquet/JSONL of domain|site_id,label[,note]: "
                                                  "those sites get that label (source 'override')."))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the single-site answer as JSON.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    encoding: EncodingOption = None,
    config: ConfigOption = None,
) -> None:
    """Industry of one website (crawled live), or of every site of a sites file, crawl, table of descriptions or
    set of saved HTML pages, into Parquet.

    Exit codes: 0 a prediction; 1 no prediction for the one website asked for (unreachable, invalid, blocked by
    robots.txt …: its status is printed); 2 bad input.
    """
    from siteclass.errors import InputError
    from siteclass.prediction import PredictResult, predict

    settings = settings_from(
        config,
        **{
            "predict.top_k": top_k, "predict.min_confidence": min_confidence, "predict.batch_size": batch_size,
            "predict.engine": engine, "predict.progress": False if no_progress else None,
            "predict.overrides": str(overrides) if overrides else None,
            "crawl.max_pages": max_pages, "crawl.proxy": proxy, "spark.master": spark_master,
            "crawl.url_column": url_column,
        },
    )
    if url_column is not None and sites is None:
        raise InputError("--url-column goes with --sites FILE")
    with use_encoding(encoding):
        result = predict(url, sites=sites, crawl=crawl, table=table, html=html, out=out, model=model,
                         labels=labels, name=None if table is not None else name, text=text, id_column=id_column,
                         name_column=name if table is not None else None, keep=keep, settings=settings)
    if isinstance(result, PredictResult):
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(result.status_counts.items()))
        typer.echo(f"{result.n_sites} sites, {result.n_predicted} predicted ({counts}) → {result.out}")
        if result.n_warned:
            typer.echo(f"{result.n_warned} with warning non_english_text: the bundled encoder reads English only")
        if result.n_unknown:
            typer.echo(f"{result.n_unknown} labelled unknown: best guess below min_confidence "
                       f"{result.min_confidence:g} (the row's note; --min-confidence 0 keeps every guess)")
        return
    if as_json:
        typer.echo(json.dumps({**result.row(), "pages": result.pages, "error": result.error}, indent=2))
    else:
        _print_site(result)
    if result.label is None:  # the site could not be read: scripts tell it from a prediction by the exit code
        typer.secho(f"no prediction for {result.url}: status {result.status}"
                    f"{' (' + result.error + ')' if result.error else ''}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(NO_PREDICTION)


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
    if result.warning:
        console.print(f"warning: {result.warning} (the encoder reads English only)")
        console.print(f"label: [bold]{result.label}[/bold]")
    if result.naics_code:
        console.print(f"NAICS 2022: {result.naics_code} {result.naics_title}")
    if result.note and result.source == "model":
        console.print(f"note: {result.note}")
    if result.pages:
        console.print("pages used:")
        for page in result.pages:
            console.print(f"  {page['url']}  {page.get('title') or ''}")
