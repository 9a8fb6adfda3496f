"""The prediction schema: what `siteclass predict` writes, in one place (docs/architecture.md, "Predictions").

The local engine, the Spark engine and the labelling queue (which reads predictions) all take it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

PREDICTION_SCHEMA = pa.schema([
    ("site_id", pa.string()), ("name", pa.string()), ("url", pa.string()), ("status", pa.string()),
    ("label", pa.string()), ("probability", pa.float64()), ("labels", pa.list_(pa.string())),
    ("probabilities", pa.list_(pa.float64())), ("source", pa.string()), ("note", pa.string()),
    ("warning", pa.string()), ("naics_code", pa.string()), ("naics_title", pa.string()),
])
"""``site_id`` and ``name`` are the input's (a sites file's or table's id column, else its row number from 1).
``source`` is ``model``, or ``override`` where an overrides file (``--overrides``) fixed the answer (probability
1.0, the file's ``note``); sites without a prediction have no label and no source. ``warning`` is
``non_english_text`` where the model read text whose language is not English (``siteclass.prediction.language``),
else null. ``naics_code``/``naics_title``: the 6-digit NAICS 2022 code (and its title) of the best guess's
sector, from a model with a hierarchy (the bundled zero-shot NAICS model), else null; the best guess's also when
the label is ``unknown``. ``note`` is the override's note, or for a model's answer below the minimum confidence
why the label is ``unknown`` (``below min_confidence 0.4: best guess … (0.31)``).
``siteclass predict --keep COL,…`` adds the input's columns after these."""
OPTIONAL_COLUMNS = ("name", "source", "note", "warning", "naics_code", "naics_title")  # predictions written before these existed lack them


@dataclass
class SitePrediction:
    site_id: str
    url: str
    status: str
    label: str | None = None
    probability: float | None = None
    labels: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    source: str | None = None
    note: str | None = None
    name: str = ""
    warning: str | None = None
    naics_code: str | None = None
    naics_title: str | None = None
    pages: list[dict[str, str]] = field(default_factory=list)
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # the input's kept columns (--keep)

    def override(self, hit: Any) -> None:
        """Take the answer of an override (``siteclass.labels.overrides.Override``) instead of the model's."""
        answer = hit.prediction()
        self.label, self.probability = answer["label"], answer["probability"]
        self.labels, self.probabilities = answer["labels"], answer["probabilities"]
        self.source, self.note = answer["source"], answer["note"]
        self.warning = None  # the answer did not come from the text
        self.naics_code = self.naics_title = None

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in PREDICTION_SCHEMA.names}


@dataclass
class PredictResult:
    out: str
    n_sites: int
    n_predicted: int
    status_counts: dict[str, int]
    n_warned: int = 0  # rows with a warning (non_english_text)
    n_unknown: int = 0  # rows whose best guess fell below the minimum confidence (label unknown)
    min_confidence: float = 0.0  # the minimum in force (the setting, else the model's own default)




POSITIONED_SCHEMA = pa.schema([pa.field("pos", pa.int64()), *PREDICTION_SCHEMA])
"""Prediction rows with their place in sites.parquet (``pos``), as the engines produce them before sorting."""
