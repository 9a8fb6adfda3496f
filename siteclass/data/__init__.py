"""Dataset stage: table I/O, cleaning, near-duplicate removal, balancing, the domain-grouped split.

``build_dataset`` (siteclass.data.build) makes a dataset folder; ``read_split`` / ``load_labels`` read one
(``read_split`` also reads a labelled table file or an in-memory table).
"""

from __future__ import annotations

from siteclass.data.io import Split, load_labels, read_split, read_table, write_parquet

__all__ = ["Split", "load_labels", "read_split", "read_table", "write_parquet"]
