"""`siteclass` command line: one thin command per stage, registered from the modules below."""

from __future__ import annotations

import importlib
import sys

import typer

from siteclass.cli.app import app
from siteclass.errors import SiteclassError

# Each module registers its commands on `app` when imported; this order is the order of `siteclass --help`.
STAGE_MODULES = ("crawl", "dataset", "train", "evaluate", "tune", "labels", "predict", "serve", "export", "scale",
                 "quickstart")
for _name in STAGE_MODULES:
    importlib.import_module(f"siteclass.cli.{_name}")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with *argv* and return the exit code (0 ok, 2 bad input, 1 other failure)."""
    try:
        app(args=argv, prog_name="siteclass", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except SiteclassError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        return 130
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:]))


__all__ = ["app", "main", "run"]
