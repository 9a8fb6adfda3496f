"""siteclass: tell what industry a business is in from its website.

Five-line flow::

    import siteclass
    pages = siteclass.crawl("sites.csv", "crawl/")                      # Scrapy crawl → Parquet
    ds = siteclass.build_dataset(crawl="crawl/", labels="labels.csv", out="ds/")
    siteclass.train("ds/", model="fasttext", out="model/")              # or FastTextClassifier().fit(X, y)
    siteclass.load_model("model/").predict({"name": "Acme", "text": "We fix pipes"})

The public API is flat and imported lazily, so ``import siteclass`` stays fast. No public function shares its name
with a subpackage or module (the stages live in ``crawling/``, ``data/``, ``training.py``, ``evaluation.py``,
``tuning.py``, ``prediction/``, ``serve/``), so importing any of them never hides a function here.
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
    "LabelsSettings": "siteclass.config",
    "load_settings": "siteclass.config",
    "save_settings": "siteclass.config",
    # errors
    "SiteclassError": "siteclass.errors",
    "InputError": "siteclass.errors",
    "ModelError": "siteclass.errors",
    # models
    "Classifier": "siteclass.models.base",
    "load_model": "siteclass.models.base",
    "resolve_model": "siteclass.models.registry",
    "model_class": "siteclass.models.registry",
    "as_records": "siteclass.records",
    "record_text": "siteclass.records",
    "site_record": "siteclass.records",
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
    "train": "siteclass.training",
    "evaluate": "siteclass.evaluation",
    "compare": "siteclass.evaluation",
    "calibrate": "siteclass.evaluation",
    "tune": "siteclass.tuning",
    "predict": "siteclass.prediction",
    "predict_crawl": "siteclass.prediction",
    "create_app": "siteclass.serve.app",
    # labels: the labelling loop
    "agree_labels": "siteclass.labels.agree",
    "label_queue": "siteclass.labels.queue",
    "load_overrides": "siteclass.labels.overrides",
    "Overrides": "siteclass.labels.overrides",
    "OverridesFile": "siteclass.labels.overrides",
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
