"""CLI commands of the dataset stage (thin: flags → stage function)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import ConfigOption, EncodingOption, app, default_help, settings_from
from siteclass.errors import InputError

dataset_app = typer.Typer(
    help="Build train/val/test sets from a crawl and its labels, or from any labeled table.",
    no_args_is_help=True,
)
app.add_typer(dataset_app, name="dataset")


def _split(value: str | None) -> list[float] | None:
    if value is None:
        return None
    try:
        parts = [float(x) for x in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0:
        raise InputError(f"--split {value!r} must be three non-negative numbers TRAIN,VAL,TEST, e.g. 0.6,0.2,0.2")
    return parts


@dataset_app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dataset folder.")],
    crawl: Annotated[Path | None, typer.Option("--crawl", help="Crawl folder (sites.parquet, pages.parquet).")] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="CSV/Parquet with 'id', 'item' (site id or URL) or 'url', and 'label' (list or ';'-separated: multi-label); e.g. the consensus.csv of `siteclass labels agree`.")
    ] = None,
    min_share: Annotated[
        float | None, typer.Option("--min-share", help=default_help("dataset.min_share", "Keep only --labels items whose 'share' of agreeing judgements (consensus.csv of `siteclass labels agree`; compared at two decimals) is at least this, e.g. 0.67."))
    ] = None,
    table: Annotated[
        str | None, typer.Option("--table", help="Any CSV, Parquet or JSONL table (local path or fsspec URL).")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Text column(s) of --table, comma-separated; joined.")] = None,
    label: Annotated[
        str | None, typer.Option("--label", help=default_help("dataset.label_column", "Label column of --table (a list column: multi-label)."))
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help=default_help("dataset.split", "TRAIN,VAL,TEST fractions (0,0,1: test only)."))
    ] = None,
    balance: Annotated[
        str | None, typer.Option("--balance", help=default_help("dataset.balance", "none | downsample | upsample | weights (train split only)."))
    ] = None,
    min_per_class: Annotated[
        int | None, typer.Option("--min-per-class", help=default_help("dataset.min_per_class", "Drop classes with fewer rows (they are named)."))
    ] = None,
    min_chars: Annotated[int | None, typer.Option("--min-chars", help=default_help("dataset.min_chars", "Drop texts shorter than this."))] = None,
    fasttext: Annotated[
        bool | None, typer.Option("--fasttext/--no-fasttext", help=default_help("dataset.fasttext_files", "Also write train/val/test.txt in fastText format."))
    ] = None,
    dedup: Annotated[bool | None, typer.Option("--dedup/--no-dedup", help=default_help("dataset.dedup", "Drop near-duplicates."))] = None,
    engine: Annotated[str | None, typer.Option("--engine", help=default_help("dataset.engine", "local or spark."))] = None,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help=default_help("spark.master", "Spark master URL for --engine spark."))
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help=default_help("dataset.seed", "Seed of the split and shuffle hashes."))] = None,
    encoding: EncodingOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary table.")] = False,
    config: ConfigOption = None,
) -> None:
    """Build OUT/train|val|test.parquet, labels.json, stats.json, class_distribution.png and settings.toml.

    Either --crawl DIR --labels FILE, or --table FILE --text COL[,COL…] --label COL.

    Rows are cleaned (no label, no text, too short, near-duplicates: all counted), split by a hash of the registered domain (one site never on two sides), and shuffled; the same inputs give byte-identical files.
    """
    from siteclass.data.build import build_dataset
    from siteclass.data.report import print_summary

    settings = settings_from(
        config,
        **{
            "dataset.split": _split(split), "dataset.balance": balance, "dataset.min_per_class": min_per_class,
            "dataset.min_chars": min_chars, "dataset.fasttext_files": fasttext, "dataset.dedup": dedup,
            "dataset.engine": engine, "dataset.seed": seed, "dataset.min_share": min_share,
            "dataset.text_columns": [c.strip() for c in text.split(",") if c.strip()] if text else None,
            "dataset.label_column": label, "spark.master": spark_master, "dataset.encoding": encoding,
        },
    )
    result = build_dataset(crawl=crawl, labels=labels, table=table, out=out, settings=settings.dataset,
                           spark_settings=settings.spark)
    if quiet:
        typer.echo(f"{result.stats['rows_out']} rows ({', '.join(f'{k} {v}' for k, v in result.counts.items())}) → {out}")
    else:
        print_summary(result.stats, out)


@dataset_app.command("stats")
def stats(ds: Annotated[Path, typer.Argument(help="A dataset folder made by `siteclass dataset build`.")]) -> None:
    """Print the summary of a built dataset (rows, drops with reasons, rows per split) from its stats.json."""
    from siteclass.data.report import print_summary

    path = ds / "stats.json"
    if not path.is_file():
        raise InputError(f"{path} not found; {ds} is not a dataset folder (build one with `siteclass dataset build`)")
    print_summary(json.loads(path.read_text(encoding="utf-8")), ds)
