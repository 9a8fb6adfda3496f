"""CLI commands of the labels stage (thin: flags → stage function): agree, queue, check-overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from siteclass.charsets import use_encoding
from siteclass.cli.app import ConfigOption, EncodingOption, app, default_help, settings_from
from siteclass.errors import InputError

labels_app = typer.Typer(
    help="The labelling loop: judgements → consensus and labeller scores, the sites to label next, overrides.",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")


def _num(v: object, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


@labels_app.command("agree")
def agree(
    judgements: Annotated[str, typer.Argument(help="CSV/Parquet/JSONL, one row per judgement: item (site id or "
                                                   "URL), labeller, label[, seconds][, group].")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (consensus.csv, agreement.json, "
                                                          "labellers.csv, groups.csv, report.html).")],
    gold: Annotated[str | None, typer.Option("--gold", help="Gold labels: item,label. Scores labellers; "
                                                            "shown beside the consensus, never replacing it.")] = None,
    max_seconds: Annotated[float | None, typer.Option("--max-seconds", help=default_help("labels.max_seconds", "Mark the groups whose median "
                                                                            "seconds per judgement is within this."))] = None,
    encoding: EncodingOption = None,
    config: ConfigOption = None,
) -> None:
    """Consensus per item (agreed / majority / tie / single), Fleiss' kappa and Krippendorff's alpha, leave-one-out
    agreement and gold accuracy per labeller and per group, and an HTML report."""
    from siteclass.labels.agree import LabelAgreement

    settings = settings_from(config, **{"labels.max_seconds": max_seconds})
    with use_encoding(encoding):
        result = LabelAgreement.from_settings(settings.labels).run(judgements, out, gold)
    a, c = result.agreement, result.agreement["counts"]
    typer.echo(f"{c['judgements']} judgements, {c['items']} items, {c['labellers']} labellers, "
               f"{c['groups']} groups, {c['labels']} labels")
    typer.echo("consensus: " + ", ".join(f"{k} {v}" for k, v in c["statuses"].items()))
    typer.echo(f"fleiss_kappa={_num(a['fleiss_kappa'])} (on {a['fleiss_items']} items × "
               f"{a['fleiss_judgements_per_item']})  krippendorff_alpha={_num(a['krippendorff_alpha'])} "
               f"(on {a['alpha_items']} items)  observed_agreement={_num(a['observed_agreement'])}")
    if "gold" in c:
        g = c["gold"]
        typer.echo(f"gold: consensus accuracy {_num(g['consensus_accuracy'])} on {g['items_judged']} items "
                   f"({g['items_not_judged']} gold items not judged)")
    for note in a["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"report: {result.files['report']}")


@labels_app.command("queue")
def queue(
    predictions: Annotated[str, typer.Option("--predictions", "-p", help="Predictions Parquet written by "
                                                                         "`siteclass predict --out`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Queue CSV to write (OUT.settings.toml beside it).")],
    budget: Annotated[int | None, typer.Option("--budget", "-n", help=default_help("labels.budget", "Sites to queue."))] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help=default_help("labels.strategy", "margin | entropy | diverse."))] = None,
    crawl: Annotated[Path | None, typer.Option("--crawl", help="Crawl folder: add each site's name and page "
                                                               "titles.")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Labels file(s) whose items are skipped "
                                                                        "(judgements, consensus.csv, id/url,label); "
                                                                        "repeatable.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help=default_help("labels.top_k", "Labels and probabilities shown per site."))] = None,
    encoding: EncodingOption = None,
    config: ConfigOption = None,
) -> None:
    """The N sites most worth labelling next: smallest margin between the two best labels, largest entropy, or
    smallest margins spread over the predicted labels. Sites not 'ok' and sites already labelled are skipped."""
    from siteclass.labels.queue import label_queue

    settings = settings_from(config, **{"labels.budget": budget, "labels.strategy": strategy,
                                        "labels.top_k": top_k})
    with use_encoding(encoding):
        result = label_queue(predictions, out, crawl=crawl, exclude=exclude or [], settings=settings.labels)
    c = result.counts
    skipped = f"{c['skipped_not_ok']} not ok"
    if "skipped_excluded" in c:
        skipped += f", {c['skipped_excluded']} already labelled"
    if c.get("skipped_no_probabilities"):
        skipped += f", {c['skipped_no_probabilities']} without probabilities"
    typer.echo(f"{result.rows} sites queued ({settings.labels.strategy}) of {c['eligible']} eligible; "
               f"{c['sites']} in {predictions}, skipped: {skipped} → {result.out}")
    if result.rows < settings.labels.budget:
        typer.echo(f"note: fewer sites than --budget {settings.labels.budget} were left to queue", err=True)


@labels_app.command("check-overrides")
def check_overrides(
    overrides: Annotated[str, typer.Argument(help="Overrides file: domain,label[,note] or site_id,label[,note].")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model or dataset folder (its labels.json): "
                                                                     "name the override labels it does not know.")] = None,
) -> None:
    """Check an overrides file as predict and serve will read it: count, sha256, labels unknown to the model."""
    import warnings

    from siteclass.labels.overrides import Overrides

    classes = _classes(model) if model is not None else None
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ov = Overrides.load(overrides, classes)
    info = ov.info()
    typer.echo(f"{info['count']} overrides ({info['site_ids']} by site id, {info['domains']} by domain) "
               f"sha256 {info['sha256']}")
    if ov.unknown:
        typer.echo(f"warning: {len(ov.unknown)} label(s) unknown to {model}: {', '.join(ov.unknown)}", err=True)


def _classes(folder: Path) -> list[str]:
    path = folder / "labels.json"
    if not path.is_file():
        raise InputError(f"{path} not found; --model takes a model folder of `siteclass train` (or a dataset folder)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [str(x) for x in (data["labels"] if isinstance(data, dict) else data)]
