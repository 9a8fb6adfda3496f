"""Which class a model name means, and the one way every stage gets a ready model.

A model is named by
- a registered name (:data:`MODEL_CLASSES`: ``linear``, ``fasttext``, ``transformer``, ``zeroshot``),
- an entry point of the ``siteclass.models`` group of an installed package
  (``[project.entry-points."siteclass.models"] mymodel = "mypkg.models:MyClassifier"``), or
- an import path, ``"mypkg.models:MyClassifier"``.

A saved model records its class's import path in ``config.json`` (``model_class``), so a process that loads it
— a server's model process, a Spark worker — imports the same class again. Adding a model to siteclass itself is one
module under ``siteclass/models/`` and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from siteclass.errors import InputError, ModelError
from siteclass.models.base import Classifier, load_model

MODEL_CLASSES: dict[str, str] = {
    "linear": "siteclass.models.linear:LinearClassifier",
    "fasttext": "siteclass.models.fasttext:FastTextClassifier",
    "ensemble": "siteclass.models.ensemble:SparseEnsembleClassifier",
    "hybrid": "siteclass.models.hybrid:HybridClassifier",
    "transformer": "siteclass.models.transformer:TransformerClassifier",
    "zeroshot": "siteclass.models.zeroshot:ZeroShotClassifier",
}
ENTRY_POINT_GROUP = "siteclass.models"
ModelLike = str | Path | Classifier | Callable[[], Classifier] | None


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def model_names() -> list[str]:
    """Every name :func:`model_class` takes without an import path: the registered ones, then entry points."""
    return [*MODEL_CLASSES, *(n for n in _entry_points() if n not in MODEL_CLASSES)]


def is_model_name(name: str) -> bool:
    """A registered name, an entry point name, or an import path (``module:Class``)."""
    return ":" in name or name in MODEL_CLASSES or name in _entry_points()


def model_class(name: str) -> type[Classifier]:
    """The :class:`Classifier` subclass that *name* means (see the module docstring)."""
    target = MODEL_CLASSES.get(name) or _entry_points().get(name) or (name if ":" in name else None)
    if target is None:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(model_names())}, "
                         "or give a class as 'package.module:ClassName'")
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"model {name!r}: cannot import {target} ({exc}); install the package that defines it "
                         "or fix the 'package.module:ClassName' path") from exc
    if not (isinstance(obj, type) and issubclass(obj, Classifier)):
        raise InputError(f"model {name!r}: {target} is not a siteclass Classifier subclass; "
                         "subclass siteclass.Classifier and implement _fit, _logits, _state and _load_state")
    return obj


def resolve_model(model: ModelLike) -> Classifier:
    """A ready model from what a stage was given: a model object as it is, a saved folder (``load_model``; its
    ONNX graph when configured), a factory (called), or None — the bundled zero-shot NAICS model."""
    if isinstance(model, Classifier):
        return model
    if model is None:
        from siteclass.models.zeroshot import default_zeroshot_model

        return default_zeroshot_model()
    if isinstance(model, str | Path):
        return load_model(model)
    if callable(model):
        made = model()
        if not isinstance(made, Classifier):
            raise InputError(f"the model factory returned a {type(made).__name__}, not a siteclass Classifier")
        return made
    raise InputError(f"cannot use a {type(model).__name__} as a model; pass a model folder or a Classifier")


def build_model(train_settings: Any) -> Classifier:
    """A fresh, unfitted model for ``[train]`` settings: ``from_settings`` when the class has it, else the class
    built from ``[train] params`` (models outside siteclass)."""
    cls = model_class(train_settings.model)
    if hasattr(cls, "from_settings"):
        return cls.from_settings(train_settings)  # type: ignore[no-any-return]
    params = dict(getattr(train_settings, "params", {}) or {})
    valid = set(cls._param_names())
    unknown = sorted(set(params) - valid)
    if unknown:
        raise InputError(f"[train] params has {', '.join(map(repr, unknown))}, which {cls.__name__} does not take; "
                         f"its hyperparameters are {sorted(valid)}")
    return cls(**params)


def check_model_folder(folder: str | Path) -> type[Classifier]:
    """Fail fast, before a server binds its port or a batch starts, when *folder* is not a usable saved model:
    it must exist, hold ``config.json`` and ``labels.json``, and name a class this process can import."""
    from siteclass.models.base import CONFIG_FILE, LABELS_FILE, read_config

    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"model folder {path} does not exist; pass the folder `siteclass train --out` wrote")
    missing = [name for name in (CONFIG_FILE, LABELS_FILE) if not (path / name).is_file()]
    if missing:
        raise InputError(f"{path} is not a siteclass model folder (no {' or '.join(missing)}); pass the folder "
                         "`siteclass train --out` wrote")
    try:
        config = read_config(path)
    except ModelError as exc:
        raise InputError(str(exc)) from exc
    return model_class(config.get("model_class") or config["model_type"])
