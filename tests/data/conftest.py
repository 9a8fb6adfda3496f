"""Fixtures of the dataset tests (helpers in dataset_helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def make_table(tmp_path: Path):
    def make(rows: list[dict[str, Any]], name: str = "table.parquet") -> Path:
        path = tmp_path / name
        pq.write_table(pa.Table.from_pylist(rows), path)
        return path

    return make
