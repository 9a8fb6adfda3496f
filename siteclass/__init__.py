"""siteclass: tell what industry a business is in from its website.

Five-line flow::

    import siteclass
    pages = siteclass.crawl("sites.csv", "crawl/")                      # Scrapy crawl → Parquet
    ds = siteclass.build_dataset(crawl="crawl/", labels="labels.csv", out="ds/")
    model = siteclass.train("ds/", model="fasttext", out="model/")      # or FastTextClassifier().fit(X, y)
    siteclass.load_model("model/").predict({"name": "Acme", "text": "We fix pipes"})

The public API is flat and imported lazily, so ``import siteclass`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from siteclass._version import __version__

_EXPORTS: dict[str, str] = {
    # settings
    "Settings": "siteclass.config",
    "CrawlSettings": "siteclass.config",
    "DatasetSettings": "siteclass.config",
    "TrainSettings": "siteclass.config",
    "EvaluateSettings": "siteclass.config",
    "TuneSettings": "siteclass.config",
    "PredictSettings": "siteclass.config",
    "ServeSettings": "siteclass.config",
    "ScrapydSettings": "siteclass.config",
    "SparkSettings": "siteclass.config",
    "load_settings": "siteclass.config",
    "save_settings": "siteclass.config",
    # errors
    "SiteclassError": "siteclass.errors",
    "InputError": "siteclass.errors",
    "ModelError": "siteclass.errors",
    # models
    "Classifier": "siteclass.models.base",
    "load_model": "siteclass.models.base",
    "as_records": "siteclass.models.base",
    "record_text": "siteclass.models.base",
    "LinearClassifier": "siteclass.models.linear",
    "FastTextClassifier": "siteclass.models.fasttext",
    "TransformerClassifier": "siteclass.models.transformer",
    "ZeroShotClassifier": "siteclass.models.zeroshot",
    "default_zeroshot_model": "siteclass.models.zeroshot",
    "export_onnx": "siteclass.export",
    "load_onnx_model": "siteclass.export",
    # stages
    "crawl": "siteclass.crawling.runner",
    "crawl_on_scrapyd": "siteclass.crawling.scrapyd",
    "build_dataset": "siteclass.data.build",
    "train": "siteclass.train",
    "evaluate": "siteclass.evaluate",
    "tune": "siteclass.tune",
    "predict": "siteclass.predict",
    "create_app": "siteclass.serve.app",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'siteclass' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
