"""LabelsSettings with keyword updates from the Python API, validated; an invalid value is one line naming it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from siteclass.config import LabelsSettings
from siteclass.errors import InputError


def labels_settings(settings: LabelsSettings | None, **updates: Any) -> LabelsSettings:
    """*settings* (defaults when None) with the *updates* that are not None."""
    s = settings if settings is not None else LabelsSettings()
    clean = {k: v for k, v in updates.items() if v is not None}
    if not clean:
        return s
    try:
        return LabelsSettings.model_validate({**s.model_dump(), **clean})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InputError(f"invalid labels settings: {problems}") from exc
