"""The typer app every command module registers on. Commands stay thin: parse flags, call a stage function."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from siteclass._version import __version__

app = typer.Typer(
    name="siteclass",
    help="Tell what industry a business is in from its website: crawl → dataset → train → evaluate → serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def escape(text: str) -> str:
    """*text* for a help string: rich markup would take ``[crawl]`` for a style and print nothing."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


# help text → the setting whose default it shows (tests/test_cli_help.py checks each against config.py)
HELP_DEFAULTS: dict[str, str] = {}


@functools.cache
def _defaults() -> Any:
    from siteclass.config import Settings

    return Settings.model_validate({})


def setting_default(key: str) -> Any:
    """The default of a dotted setting (``"crawl.max_pages"`` → 5), from siteclass/config.py. ``train.*.epochs``:
    the default of each model table that has the field, as ``{"fasttext": 4, "transformer": 3}``."""
    if key.startswith("train.*."):
        field = key.removeprefix("train.*.")
        train = _defaults().train
        return {name: getattr(getattr(train, name), field) for name in sorted(type(train).model_tables())
                if hasattr(getattr(train, name), field)}
    node: Any = _defaults()
    for part in key.split("."):
        node = getattr(node, part)
    return node


def format_default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ",".join(format_default(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_default(v)}" for k, v in value.items())
    return str(value)


def default_help(key: str, text: str) -> str:
    """*text* with the default of setting *key* appended: ``default_help("crawl.max_pages", "Pages crawled per
    site.")`` → "Pages crawled per site. Default: 5." (options default to None so that a --config file can set
    them; typer would show no default)."""
    out = escape(f"{text.rstrip()} Default: {format_default(setting_default(key))}.")
    HELP_DEFAULTS[out] = key
    return out


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help=escape("TOML settings file ([crawl], [dataset], [train] … tables); "
                                               "flags win.")),
]

EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help=default_help("dataset.encoding", "Character encoding of CSV inputs: auto "
                 "(UTF-8, else detected, else refused), or a name such as utf-8, cp1252, latin-1.")),
]

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model folder (siteclass train …). Default: the bundled zero-shot NAICS model."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"siteclass {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """siteclass: website → industry."""


def settings_from(config: Path | None, **overrides: Any) -> Any:
    """Load settings: defaults ← --config file ← flags given (None = not given). Keys are dotted."""
    from siteclass.config import load_settings

    return load_settings(config, overrides)
