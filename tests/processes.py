"""Finding a test's child processes by their command line (shared by test folders: torchrun, the page pool)."""

from __future__ import annotations

import contextlib
from typing import Any


def children_running(psutil: Any, pid: int, marker: str, recursive: bool = True) -> list[Any]:
    """The live children of *pid* whose command line holds *marker*. A child that is already a zombie, gone or
    not ours when its command line is read is skipped, not an error (CI once failed on a zombie here)."""
    found = []
    for child in psutil.Process(pid).children(recursive=recursive):
        with contextlib.suppress(psutil.Error):
            if marker in " ".join(child.cmdline()):
                found.append(child)
    return found
