"""Scrapyd's job runner for siteclass eggs: ``scrapyd.runner`` without ``pkg_resources``.

Scrapyd starts every job as ``python -m <runner> crawl SPIDER …`` (``runner`` in ``scrapyd.conf``). Its own
runner imports ``pkg_resources`` and activates the egg through it, which costs about 1.5 s of CPU per job — a tenth
of a 100-site job on top of the Scrapy start-up itself. This runner does what that one does, directly:

1. fetch the egg of ``SCRAPY_PROJECT`` (version ``SCRAPYD_EGG_VERSION``, else the latest) from Scrapyd's egg
   storage (the ``eggstorage`` of ``scrapyd.conf``);
2. put it at the end of ``sys.path``, where ``pkg_resources`` puts an activated egg (an installed siteclass of the
   same version comes first, as with Scrapyd's runner);
3. set ``SCRAPY_SETTINGS_MODULE`` from the egg's ``[scrapy] settings`` entry point unless it is set;
4. run ``scrapy.cmdline.execute()``.

``siteclass scrapyd-conf`` writes ``runner = siteclass.crawl.scrapyd_runner`` (setting ``scrapyd.runner``), so a
node needs siteclass installed in Scrapyd's environment — which the egg's dependencies need anyway. Set
``scrapyd.runner = "scrapyd.runner"`` for Scrapyd's own.
"""

from __future__ import annotations

import configparser
import os
import shutil
import sys
import tempfile
import zipfile
from typing import Any


class EggError(RuntimeError):
    """The egg Scrapyd stored is not a Scrapy egg (no ``[scrapy] settings`` entry point)."""


def egg_settings_module(path: str) -> str:
    """The ``[scrapy] settings`` entry point of the egg at *path*."""
    try:
        with zipfile.ZipFile(path) as egg:
            text = egg.read("EGG-INFO/entry_points.txt").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise EggError(f"{path} is not a Scrapy egg: {exc}") from exc
    parser = configparser.ConfigParser()
    parser.read_string(text)
    try:
        return parser.get("scrapy", "settings").split(":", 1)[0].strip()
    except (configparser.NoSectionError, configparser.NoOptionError) as exc:
        raise EggError(f"{path} has no [scrapy] settings entry point") from exc


def activate_egg(path: str) -> None:
    """Make the egg at *path* importable and name its Scrapy settings module (like ``pkg_resources`` does)."""
    module = egg_settings_module(path)
    if path not in sys.path:
        sys.path.append(path)
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", module)


def _stored_egg(project: str) -> tuple[str | None, str | None]:
    """(path of the egg, temporary copy to delete or None) from Scrapyd's egg storage; (None, None): no egg."""
    from scrapyd.config import Config
    from scrapyd.utils import initialize_component

    storage: Any = initialize_component(Config(), "eggstorage", "scrapyd.eggstorage.FilesystemEggStorage")
    version, egg = storage.get(project, os.environ.get("SCRAPYD_EGG_VERSION"))
    if egg is None:
        return None, None
    try:
        name = getattr(egg, "name", None)
        if isinstance(name, str) and os.path.isfile(name):
            return name, None
        with tempfile.NamedTemporaryFile(suffix=".egg", prefix=f"{project}-{version}-", delete=False) as tmp:
            shutil.copyfileobj(egg, tmp)
        return tmp.name, tmp.name
    finally:
        egg.close()


def main() -> None:
    path, tmp = _stored_egg(os.environ["SCRAPY_PROJECT"])
    try:
        if path is not None:
            activate_egg(path)
        from scrapy.cmdline import execute

        execute()
    finally:
        if tmp is not None:
            os.remove(tmp)


if __name__ == "__main__":
    main()
