"""Dataset stage: table I/O, cleaning, near-duplicate removal, balancing, the domain-grouped split.

``build_dataset`` (siteclass.data.build) makes a dataset folder; ``load_split`` / ``load_labels`` read one.
"""

from __future__ import annotations

from siteclass.data.io import load_labels, load_split, read_table, write_parquet

__all__ = ["load_labels", "load_split", "read_table", "write_parquet"]
