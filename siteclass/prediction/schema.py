"""The prediction schema: what `siteclass predict` writes, in one place (docs/architecture.md, "Predictions").

The local engine, the Spark engine and the labelling queue (which reads predictions) all take it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

PREDICTION_SCHEMA = pa.schema([
    ("site_id", pa.string()), ("url", pa.string()), ("status", pa.string()), ("label", pa.string()),
    ("probability", pa.float64()), ("labels", pa.list_(pa.string())), ("probabilities", pa.list_(pa.float64())),
])


@dataclass
class SitePrediction:
    site_id: str
    url: str
    status: str
    label: str | None = None
    probability: float | None = None
    labels: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    pages: list[dict[str, str]] = field(default_factory=list)
    error: str = ""

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in PREDICTION_SCHEMA.names}


@dataclass
class PredictResult:
    out: str
    n_sites: int
    n_predicted: int
    status_counts: dict[str, int]




POSITIONED_SCHEMA = pa.schema([pa.field("pos", pa.int64()), *PREDICTION_SCHEMA])
"""Prediction rows with their place in sites.parquet (``pos``), as the engines produce them before sorting."""
