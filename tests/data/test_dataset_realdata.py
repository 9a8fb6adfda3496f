"""The shared crunchbase table: single-label and multi-label builds (real data, read in place)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from siteclass.data.build import build_dataset


@pytest.mark.slow
@pytest.mark.realdata
def test_crunchbase_single_and_groups(crunchbase: Path, tmp_path: Path) -> None:
    single = build_dataset(table=crunchbase, text="name,description,full_description", label="industry_group_single",
                           out=tmp_path / "single")
    st = single.stats
    assert st["rows_in"] == pq.ParquetFile(crunchbase).metadata.num_rows
    assert st["drops"]["no_label"] > 20_000  # "" means no label on most rows
    assert len(single.labels) == 40 and not single.multi_label
    assert st["rows_in"] - st["rows_dropped"] == st["rows_out"] == sum(single.counts.values())
    sides: dict[str, str] = {}
    for split in ("train", "val", "test"):
        for d in pq.read_table(tmp_path / "single" / f"{split}.parquet", columns=["domain"]).column(0).to_pylist():
            assert d and sides.setdefault(d, split) == split
    assert 0.5 < single.counts["train"] / st["rows_out"] < 0.7
    groups = build_dataset(table=crunchbase, text="name,description,full_description", label="industry_groups",
                           out=tmp_path / "groups", min_per_class=20)
    assert groups.multi_label and 40 <= len(groups.labels) <= 47
    assert groups.stats["rows_out"] > 30_000
