"""`siteclass quickstart`: the whole pipeline on the embedded demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import app


@app.command()
def quickstart(
    out: Annotated[Path, typer.Option("--out", help="Folder for every artifact of the run.")] = Path("quickstart-out"),
    fresh: Annotated[bool, typer.Option("--fresh/--reuse", help="Start over instead of resuming.")] = True,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model to train (default: the train.model "
                                              "setting, hybrid; ensemble needs neither torch nor onnx).")] = None,
) -> None:
    """Run the main job on the embedded demo: serve its sites locally, crawl, build a dataset, train, evaluate, serve."""
    from siteclass.quickstart import run_quickstart

    run_quickstart(out, fresh=fresh, model=model)
