from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from siteclass.config import Settings, load_settings, save_settings
from siteclass.errors import InputError


def test_defaults_live_in_one_place() -> None:
    s = load_settings()
    assert s == Settings()
    assert s.crawl.max_pages == 5
    assert s.crawl.page_timeout_s == 20
    assert s.crawl.retries == 1
    assert s.crawl.max_bytes == 5 * 1024 * 1024
    assert s.crawl.max_redirects == 5
    assert s.dataset.split == (0.6, 0.2, 0.2)
    assert s.dataset.min_chars == 20


def test_toml_then_flags_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[crawl]\nmax_pages = 3\nretries = 2\n[train.fasttext]\ndim = 64\n", encoding="utf-8")
    s = load_settings(cfg, {"crawl.max_pages": 7, "crawl.retries": None})
    assert s.crawl.max_pages == 7  # flag wins
    assert s.crawl.retries == 2  # flag not given: file wins
    assert s.train.fasttext.dim == 64
    assert s.train.fasttext.lr == Settings().train.fasttext.lr  # untouched default


def test_unknown_key_names_it(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[crawl]\nmax_pagez = 3\n", encoding="utf-8")
    with pytest.raises(InputError, match="max_pagez"):
        load_settings(cfg)


def test_bad_value_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"crawl\.max_pages"):
        load_settings(None, {"crawl.max_pages": 0})
    with pytest.raises(InputError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[crawl\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_settings(bad)


def test_saved_settings_round_trip(tmp_path: Path) -> None:
    s = load_settings(None, {"crawl.max_pages": 9, "train.model": "linear", "train.linear.C": 2.5})
    path = save_settings(s, tmp_path)
    assert tomllib.loads(path.read_text(encoding="utf-8"))["crawl"]["max_pages"] == 9
    assert load_settings(path) == s


def test_section_save(tmp_path: Path) -> None:
    s = load_settings()
    path = save_settings(s.crawl, tmp_path, section="crawl")
    again = load_settings(path)
    assert again.crawl == s.crawl


@pytest.mark.parametrize(
    ("model", "section"),
    [("linear", "linear"), ("fasttext", "fasttext"), ("transformer", "transformer"), ("zeroshot", "zeroshot")],
)
def test_model_defaults_are_the_settings_defaults(model: str, section: str) -> None:
    """A model's constructor defaults (scikit-learn style) must be the ones in config.py: one source of truth."""
    import inspect

    from siteclass.models.registry import model_class

    cls = model_class(model)
    params = getattr(Settings().train, section).model_dump()
    train = Settings().train.model_dump()
    checked = 0
    for name, p in inspect.signature(cls.__init__).parameters.items():
        if p.default is inspect.Parameter.empty:
            continue
        expected = params.get(name, train.get(name, p.default))
        if isinstance(expected, list):
            expected = tuple(expected)
        default = tuple(p.default) if isinstance(p.default, list) else p.default
        assert default == expected, f"{cls.__name__}.{name}: {default!r} != config {expected!r}"
        checked += 1
    assert checked >= 3
