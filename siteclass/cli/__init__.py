"""`siteclass` command line: one thin command per stage, registered from the modules below."""

from __future__ import annotations

import sys

import typer

from siteclass.cli.app import app
from siteclass.errors import SiteclassError

# Each module registers its commands on `app` when imported.
from siteclass.cli import crawl as _crawl  # noqa: E402,F401
from siteclass.cli import dataset as _dataset  # noqa: E402,F401
from siteclass.cli import train as _train  # noqa: E402,F401
from siteclass.cli import evaluate as _evaluate  # noqa: E402,F401
from siteclass.cli import serve as _serve  # noqa: E402,F401
from siteclass.cli import scale as _scale  # noqa: E402,F401
from siteclass.cli import quickstart as _quickstart  # noqa: E402,F401
from siteclass.cli import export as _export  # noqa: E402,F401


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
