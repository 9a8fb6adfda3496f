"""``siteclass predict``: the industry of one website (crawled live) or of every site of a crawl, in batch.

    siteclass.predict("acme.com", model="model/")                     # one site → SitePrediction
    siteclass.predict(crawl="crawl/", out="pred.parquet", model=...)  # a crawl → PRED.parquet
    siteclass.predict(sites="sites.csv", out="pred.parquet")          # crawl first, then predict

The local engine is :mod:`siteclass.prediction.batch`, the Spark one :mod:`siteclass.prediction.spark`; both
write :data:`siteclass.prediction.schema.PREDICTION_SCHEMA`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from siteclass.config import Settings, settings_dict
from siteclass.errors import InputError
from siteclass.models.registry import ModelLike, resolve_model
from siteclass.prediction.batch import BatchPredictor
from siteclass.prediction.schema import PredictResult, SitePrediction


# ----------------------------------------------------------------------------------------------- entry points
def _settings(settings: Settings | None) -> Settings:
    return settings if settings is not None else Settings()


def _save_beside(out: Path, settings: Settings) -> None:
    import tomli_w

    data = {"predict": settings_dict(settings.predict), "dataset": settings_dict(settings.dataset)}
    out.with_name(out.stem + ".settings.toml").write_text(tomli_w.dumps(data), encoding="utf-8")


def predict_crawl(crawl_dir: str | Path, out: str | Path, model: ModelLike = None,
                  settings: Settings | None = None) -> PredictResult:
    """Predict every site of an existing crawl folder into *out* (a .parquet file)."""
    settings = _settings(settings)
    if settings.predict.engine == "spark":
        from siteclass.prediction.spark import predict_crawl_spark

        result: PredictResult = predict_crawl_spark(crawl_dir, out, model, settings)
    else:
        result = BatchPredictor.from_settings(resolve_model(model), settings).predict_crawl(crawl_dir, out)
    _save_beside(Path(out), settings)
    return result


def predict_sites(sites: str | Path, out: str | Path, model: ModelLike = None, settings: Settings | None = None,
                  crawl_out: str | Path | None = None) -> PredictResult:
    """Crawl a sites file (CSV/Parquet with url[, id, name]) with ``[crawl]`` settings, then predict it."""
    from siteclass.crawling.runner import crawl

    settings = _settings(settings)
    loaded = resolve_model(model)  # fail on a bad model before crawling
    target = Path(crawl_out) if crawl_out else Path(out).with_name(Path(out).stem + ".crawl")
    crawl(sites, target, settings.crawl, progress=settings.predict.progress)
    return predict_crawl(target, out, loaded, settings)


def predict_url(url: str, name: str | None = None, model: ModelLike = None,
                settings: Settings | None = None) -> SitePrediction:
    """Crawl one site live (the crawl's spider and settings) and predict it; ``pages`` lists the pages used."""
    from siteclass.crawling.runner import crawl

    settings = _settings(settings)
    loaded = resolve_model(model)
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
    out: str | Path | None = None,
    model: ModelLike = None,
    name: str | None = None,
    settings: Settings | None = None,
) -> SitePrediction | PredictResult:
    """One URL (*target*) → SitePrediction; ``sites=`` or ``crawl=`` with ``out=`` → PredictResult."""
    given = [x for x in (target, sites, crawl) if x is not None]
    if len(given) != 1:
        raise InputError("give exactly one of: a URL, --sites FILE, or --crawl DIR")
    if target is not None:
        return predict_url(str(target), name=name, model=model, settings=settings)
    if out is None:
        raise InputError("--out PRED.parquet is required with --sites or --crawl")
    if crawl is not None:
        return predict_crawl(crawl, out, model, settings)
    assert sites is not None
    return predict_sites(sites, out, model, settings)
