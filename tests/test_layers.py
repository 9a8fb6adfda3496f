"""The layers of docs/architecture.md hold: no module imports a module of a higher layer (lazy imports included).

Every import of a ``siteclass`` module is read from the source with ``ast`` — top-level and inside functions alike,
since a lazy import is still a dependency. A unit is a top-level module or subpackage of ``siteclass``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "siteclass"

# Lowest first. A unit may import units of a lower layer only (and itself). Some modules sit below their package:
# the prediction schema (pyarrow only; the labelling queue reads predictions) and the overrides with the label
# table readers they use (predict and serve apply overrides).
LAYERS: list[set[str]] = [
    {"_version", "errors"},
    {"config", "charsets"},
    {"records", "metrics", "training_log", "prediction.schema"},
    {"models", "report"},
    {"crawling"},
    {"data", "demo"},
    {"labels.tables"},
    {"training", "evaluation", "export", "labels.overrides"},
    {"bundled"},
    {"tuning", "prediction", "labels"},
    {"serve"},
    {"quickstart"},
    {"cli"},
    {"__main__"},
]
# URL helpers with no siteclass import but errors: the one place that knows registered domains.
LEAF_MODULES = {"siteclass.crawling.urls"}
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a siteclass module in *path*."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("siteclass")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "siteclass":  # `from siteclass import metrics` names a submodule
                out += [(node.lineno, f"siteclass.{a.name}") for a in node.names]
            elif node.module.startswith("siteclass."):
                out.append((node.lineno, node.module))
    return out


def _unit(module: str) -> str:
    """``siteclass.serve.app`` → ``serve``; a module with a layer of its own (``prediction.schema``) is its own unit."""
    parts = module.split(".")
    if len(parts) > 2 and ".".join(parts[1:3]) in LAYER_OF:
        return ".".join(parts[1:3])
    return parts[1] if len(parts) > 1 else ""


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _unit(_module_name(path))
        if not here:
            continue  # siteclass/__init__.py: the flat API names its modules as strings and imports them lazily
        if here not in LAYER_OF:
            found.append(f"{path}: unit {here!r} has no layer in tests/test_layers.py (add it, and to the docs)")
            continue
        for line, module in _imports(path):
            there = _unit(module)
            if not there or there == here or module in LEAF_MODULES or module.startswith("siteclass._version"):
                continue
            if there not in LAYER_OF:
                continue  # a name re-exported by siteclass/__init__ (`from siteclass import __version__`)
            if LAYER_OF[there] >= LAYER_OF[here]:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {here} (layer {LAYER_OF[here]}) imports "
                             f"{module} (layer {LAYER_OF[there]})")
    return found


def test_no_module_imports_a_higher_or_sibling_layer() -> None:
    assert _violations() == []


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {""}
    assert units <= set(LAYER_OF), sorted(units - set(LAYER_OF))


@pytest.mark.parametrize("source", [
    "from siteclass.cli.app import app\n",
    "def f():\n    import siteclass.serve.app\n",
])
def test_the_check_catches_an_upward_import(tmp_path: Path, source: str) -> None:
    bad = tmp_path / "siteclass" / "training.py"
    bad.parent.mkdir()
    bad.write_text(source, encoding="utf-8")
    (_line, module), = _imports(bad)
    assert LAYER_OF[_unit(module)] > LAYER_OF["training"]


def test_report_renders_only() -> None:
    """report/ takes plain values from the stages and imports none of them."""
    stage_units = {"training", "evaluation", "tuning", "prediction", "crawling", "data", "serve", "export", "labels"}
    for path in (PACKAGE / "report").rglob("*.py"):
        assert not {_unit(m) for _, m in _imports(path)} & stage_units, path
