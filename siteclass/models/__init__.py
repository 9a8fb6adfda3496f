"""Models: one contract (`Classifier`, base.py), one module per model, the registry of names (registry.py)."""

from siteclass.models.base import Classifier, load_model
from siteclass.models.registry import MODEL_CLASSES, model_class, resolve_model
from siteclass.records import as_records, record_text

__all__ = ["MODEL_CLASSES", "Classifier", "as_records", "load_model", "model_class", "record_text", "resolve_model"]
