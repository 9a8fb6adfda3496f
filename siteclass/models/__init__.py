"""Models: one contract (`Classifier`), one module per model."""

from siteclass.models.base import MODEL_CLASSES, Classifier, as_records, load_model, model_class, record_text

__all__ = ["MODEL_CLASSES", "Classifier", "as_records", "load_model", "model_class", "record_text"]
