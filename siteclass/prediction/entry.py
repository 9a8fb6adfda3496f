"""``siteclass predict``: the industry of one website (crawled live) or of every site of a crawl, a table of
descriptions or a set of saved HTML files, in batch.

    siteclass.predict("acme.com", model="model/")                     # one site → SitePrediction
    siteclass.predict(crawl="crawl/", out="pred.parquet", model=...)  # a crawl → PRED.parquet
    siteclass.predict(sites="sites.csv", out="pred.parquet")          # crawl first, then predict
    siteclass.predict(table="firms.csv", text="description", id_column="firm_id", out="pred.parquet")
    siteclass.predict(html="saved/", out="pred.parquet", labels="my_taxonomy.csv")   # your labels, zero-shot

The local engine is :mod:`siteclass.prediction.batch`, the Spark one :mod:`siteclass.prediction.spark`; both
write :data:`siteclass.prediction.schema.PREDICTION_SCHEMA`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from siteclass.bundled import resolve
from siteclass.config import Settings, settings_dict
from siteclass.errors import InputError
from siteclass.models.registry import ModelLike
from siteclass.prediction.batch import BatchPredictor, Kept
from siteclass.prediction.schema import PredictResult, SitePrediction


# ----------------------------------------------------------------------------------------------- entry points
def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else Settings()


def _save_beside(out: Path, settings: Settings) -> None:
    import tomli_w

    data = {"predict": settings_dict(settings.predict), "dataset": settings_dict(settings.dataset)}
    out.with_name(out.stem + ".settings.toml").write_text(tomli_w.dumps(data), encoding="utf-8")


def taxonomy_model(labels: str | Path, settings: Settings | None = None) -> ModelLike:
    """A zero-shot model over your own taxonomy (a CSV ``label[,description]``): no dataset, no training."""
    from siteclass.models.zeroshot import ZeroShotClassifier

    params = _settings(settings).train.zeroshot.model_dump()
    params.pop("labels_file", None)
    return ZeroShotClassifier.from_taxonomy(labels, **params)


def _model(model: ModelLike, labels: str | Path | None, settings: Settings | None) -> ModelLike:
    if labels is None:
        return model
    if model is not None:
        raise InputError("give --labels TAXONOMY.csv or --model DIR, not both: --labels scores against your labels "
                         "with the bundled encoder (zero-shot), --model uses a trained model")
    return taxonomy_model(labels, settings)


def _local_only(settings: Settings, what: str) -> None:
    if settings.predict.engine != "local":
        raise InputError(f"{what} runs on the local engine (it streams the input); --engine spark takes --crawl DIR")


def _check_out(out: str | Path) -> None:
    if Path(out).suffix.lower() not in (".parquet", ".pq"):
        raise InputError(f"--out {out} must be a .parquet file")


def predict_crawl(crawl_dir: str | Path, out: str | Path, model: ModelLike = None,
                  settings: Settings | None = None, kept: Kept | None = None) -> PredictResult:
    """Predict every site of an existing crawl folder into *out* (a .parquet file)."""
    settings = _settings(settings)
    if settings.predict.engine == "spark":
        if kept is not None:
            raise InputError("--keep works with the local engine; join the kept columns on site_id after Spark")
        from siteclass.prediction.spark import predict_crawl_spark

        result: PredictResult = predict_crawl_spark(crawl_dir, out, model, settings)
    else:
        result = BatchPredictor.from_settings(resolve(model), settings).predict_crawl(crawl_dir, out, kept)
    _save_beside(Path(out), settings)
    return result


def predict_sites(sites: str | Path, out: str | Path, model: ModelLike = None, settings: Settings | None = None,
                  crawl_out: str | Path | None = None, keep: list[str] | None = None) -> PredictResult:
    """Crawl a sites file (CSV/Parquet with url[, id, name]; ``[crawl] url_column`` names the URL column) with
    ``[crawl]`` settings, then predict it; *keep*: columns of the sites file every prediction row keeps."""
    from siteclass.crawling.runner import crawl
    from siteclass.prediction.inputs import sites_kept

    settings = _settings(settings)
    _check_out(out)
    kept = sites_kept(sites, keep) if keep else None  # a missing column fails before crawling
    loaded = resolve(model)  # so does a bad model
    target = Path(crawl_out) if crawl_out else Path(out).with_name(Path(out).stem + ".crawl")
    crawl(sites, target, settings.crawl, progress=settings.predict.progress)
    return predict_crawl(target, out, loaded, settings, kept)


def predict_table(table: str | Path, out: str | Path, text: str | list[str], *, id_column: str | None = None,
                  name_column: str | None = None, keep: list[str] | None = None, model: ModelLike = None,
                  settings: Settings | None = None) -> PredictResult:
    """Classify a CSV/Parquet/JSONL table of descriptions (no crawl): one prediction row per table row, streamed
    in ``[predict] batch_size`` rows; ``site_id`` is the *id_column* (else the row number from 1)."""
    from siteclass.prediction.inputs import TableInput, split_columns

    settings = _settings(settings)
    _check_out(out)
    _local_only(settings, "--table")
    source = TableInput(table, split_columns(text), id_column=id_column, name_column=name_column, keep=keep)
    predictor = BatchPredictor.from_settings(resolve(model), settings)
    result = predictor.write(source.sites(), out, kept=source.kept())
    _save_beside(Path(out), settings)
    return result


def predict_html(html: str | Path, out: str | Path, model: ModelLike = None,
                 settings: Settings | None = None) -> PredictResult:
    """Classify saved HTML (a file, a folder or a glob: one site per file or per folder of pages) through the
    crawl's own extraction; unreadable files are rows with a status (``siteclass.prediction.inputs``)."""
    from siteclass.prediction.inputs import HtmlInput

    settings = _settings(settings)
    _check_out(out)
    _local_only(settings, "--html")
    source = HtmlInput(html, pages_per_site=settings.dataset.pages_per_site, page_chars=settings.dataset.page_chars,
                       extractor=settings.crawl.extractor)
    predictor = BatchPredictor.from_settings(resolve(model), settings)
    result = predictor.write(source.sites(), out, total=len(source.targets))
    _save_beside(Path(out), settings)
    return result


def predict_url(url: str, name: str | None = None, model: ModelLike = None,
                settings: Settings | None = None) -> SitePrediction:
    """Crawl one site live (the crawl's spider and settings) and predict it; ``pages`` lists the pages used."""
    from siteclass.crawling.runner import crawl

    settings = _settings(settings)
    loaded = resolve(model)
    with tempfile.TemporaryDirectory(prefix="siteclass-predict-") as tmp:
        crawl([{"id": "1", "url": url, "name": name or ""}], tmp, settings.crawl, progress=False)
        predictor = BatchPredictor.from_settings(loaded, settings)
        predictions = [p for _, p in predictor.iter_predictions(tmp)]
        error = ""
        import pyarrow.parquet as pq

        sites = pq.read_table(Path(tmp) / "sites.parquet", columns=["error"]).column("error").to_pylist()
        error = (sites[0] or "") if sites else ""
    if not predictions:
        raise InputError(f"nothing was crawled for {url!r}")
    prediction = predictions[0]
    prediction.error = error
    return prediction


def predict(
    target: str | Path | None = None,
    *,
    sites: str | Path | None = None,
    crawl: str | Path | None = None,
    table: str | Path | None = None,
    html: str | Path | None = None,
    out: str | Path | None = None,
    model: ModelLike = None,
    labels: str | Path | None = None,
    name: str | None = None,
    text: str | list[str] | None = None,
    id_column: str | None = None,
    name_column: str | None = None,
    keep: str | list[str] | None = None,
    settings: Settings | None = None,
) -> SitePrediction | PredictResult:
    """One URL (*target*) → SitePrediction; ``sites=``, ``crawl=``, ``table=`` or ``html=`` with ``out=`` →
    PredictResult. ``labels=`` (a CSV ``label[,description]``) instead of ``model=``: zero-shot over your taxonomy."""
    from siteclass.prediction.inputs import split_columns

    given = [x for x in (target, sites, crawl, table, html) if x is not None]
    if len(given) != 1:
        raise InputError("give exactly one of: a URL, --sites FILE, --crawl DIR, --table FILE or --html DIR_OR_GLOB")
    kept = split_columns(keep)
    if kept and sites is None and table is None:
        raise InputError("--keep COL,… works with --sites and --table (the input's columns)")
    if table is None and (text is not None or id_column is not None or name_column is not None):
        raise InputError("--text and --id go with --table FILE (the table's columns)")
    model = _model(model, labels, settings)
    if target is not None:
        return predict_url(str(target), name=name, model=model, settings=settings)
    if out is None:
        raise InputError("--out PRED.parquet is required with --sites, --crawl, --table or --html")
    if crawl is not None:
        return predict_crawl(crawl, out, model, settings)
    if table is not None:
        if not text:
            raise InputError("--text COL[,COL…] is required with --table: the column(s) holding the description")
        return predict_table(table, out, text, id_column=id_column, name_column=name_column, keep=kept,
                             model=model, settings=settings)
    if html is not None:
        return predict_html(html, out, model, settings)
    assert sites is not None
    return predict_sites(sites, out, model, settings, keep=kept or None)
