"""Label taxonomies for the ``zeroshot`` model.

The package ships ``naics_2022.csv``: the 20 NAICS 2022 sectors (code, title, and a short description written
for this project). Any CSV with a ``label`` column (and optionally ``description``) replaces it; a CSV with
``code,title,description`` columns (like the bundled one) works too, the title being the label.

The bundled model also reads the NAICS 2022 hierarchy under these sectors (``naics.py``: 6-digit codes, the Census
index, shipped code vectors; ``build.py`` regenerates them). A labels file never does.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from siteclass.errors import InputError

NAICS_2022 = Path(__file__).with_name("naics_2022.csv")


@dataclass(frozen=True)
class Label:
    label: str
    description: str = ""
    code: str = ""

    @property
    def prompt(self) -> str:
        """The text embedded for this label: ``"title: description"`` (the title alone without a description)."""
        return f"{self.label}: {self.description}" if self.description else self.label


def load_labels(path: str | Path | None = None) -> list[Label]:
    """Labels from a CSV (``label[,description]`` or ``code,title,description``); the NAICS sectors by default."""
    path = Path(path) if path is not None else NAICS_2022
    if not path.is_file():
        raise InputError(f"labels file {path} does not exist; pass a CSV with columns label,description")
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"labels file {path} is not a readable UTF-8 CSV: {exc}") from exc
    if not rows:
        raise InputError(f"labels file {path} has no rows; add one row per label (label,description)")
    columns = {c.strip().lower(): c for c in rows[0] if c}
    key = columns.get("label") or columns.get("title")
    if key is None:
        raise InputError(f"labels file {path} has no 'label' column (columns: {', '.join(columns)}); add one")
    desc, code = columns.get("description"), columns.get("code")
    labels: list[Label] = []
    seen: set[str] = set()
    for i, row in enumerate(rows, start=2):
        name = (row.get(key) or "").strip()
        if not name:
            raise InputError(f"labels file {path}, line {i}: empty {key!r}; every row needs a label")
        if name in seen:
            raise InputError(f"labels file {path}, line {i}: label {name!r} appears twice; keep one row per label")
        seen.add(name)
        labels.append(
            Label(name, (row.get(desc) or "").strip() if desc else "", (row.get(code) or "").strip() if code else "")
        )
    if len(labels) < 2:
        raise InputError(f"labels file {path} has {len(labels)} label; a classifier needs at least 2")
    return labels


def naics_sectors() -> list[Label]:
    """The 20 NAICS 2022 sectors bundled with siteclass."""
    return load_labels(NAICS_2022)


__all__ = ["NAICS_2022", "Label", "load_labels", "naics_sectors"]
