"""The predict stage: the prediction schema (schema.py), the local batch engine (batch.py), the Spark engine
(spark.py), the inputs that need no crawl (inputs.py: tables, saved HTML), the language check (language.py) and
the entry points that pick one (entry.py)."""

from siteclass.prediction.batch import BatchPredictor
from siteclass.prediction.entry import (
    predict,
    predict_crawl,
    predict_html,
    predict_sites,
    predict_table,
    predict_url,
    taxonomy_model,
)
from siteclass.prediction.schema import PREDICTION_SCHEMA, PredictResult, SitePrediction

__all__ = ["PREDICTION_SCHEMA", "BatchPredictor", "PredictResult", "SitePrediction", "predict", "predict_crawl",
           "predict_html", "predict_sites", "predict_table", "predict_url", "taxonomy_model"]
