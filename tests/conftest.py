"""Shared fixtures. Stage-specific fixtures live in each test folder's conftest.py."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SITECLASS_SHARED", ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The bundled model's int8 export (siteclass/bundled.py) is built once per test session into a temporary
# folder, never into the user's ~/.cache; set SITECLASS_CACHE_DIR to keep it between sessions.
_SESSION_CACHE = None if os.environ.get("SITECLASS_CACHE_DIR") else tempfile.mkdtemp(prefix="siteclass-test-cache-")
if _SESSION_CACHE:
    os.environ["SITECLASS_CACHE_DIR"] = _SESSION_CACHE


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _SESSION_CACHE:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set SITECLASS_SHARED to the shared/ folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def crunchbase(shared_data: Path) -> Path:
    path = shared_data / "crunchbase" / "companies.parquet"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def real_pages(shared_data: Path) -> list[Path]:
    pages = sorted((shared_data / "real_pages").glob("*.html"))
    if not pages:
        pytest.skip(f"no real pages under {shared_data / 'real_pages'}")
    return pages
