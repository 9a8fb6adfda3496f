"""Fixtures of the serve tests: a small real model and a loopback listener (helpers live in ``serve_helpers``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import serve_models
from serve_helpers import Listener


@pytest.fixture(scope="session")
def keyword_model() -> serve_models.KeywordClassifier:
    return serve_models.trained()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()
