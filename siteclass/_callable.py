"""Stage modules that double as functions: ``siteclass.train(...)`` works before and after
``import siteclass.train``.

Importing a submodule binds its name on the parent package, which would hide the function that the flat API
exports under the same name (``siteclass.train`` the function vs ``siteclass/train.py``). Each stage module
calls :func:`make_callable` at its end, so calling the module runs its stage function.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Make ``sys.modules[module_name](...)`` call *function*."""

    class _StageModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    _StageModule.__name__ = f"{function.__name__}_module"
    sys.modules[module_name].__class__ = _StageModule
