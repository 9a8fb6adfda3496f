"""The typer app every command module registers on. Commands stay thin: parse flags, call a stage function."""

from __future__ import annotations

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

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file ([crawl], [dataset], [train] … tables); flags win."),
]

EncodingOption = Annotated[
    str | None,
    typer.Option("--encoding", help="Character encoding of CSV inputs: auto (UTF-8, else detected, else refused), "
                 "or a name such as utf-8, cp1252, latin-1. Default: auto."),
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
