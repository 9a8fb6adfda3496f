"""CLI command of the export stage (thin: flags → ``siteclass.export.export_onnx``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import app
from siteclass.errors import InputError


@app.command("export")
def export_command(
    model: Annotated[Path | None, typer.Option("--model", "-m", help="A saved model folder (siteclass train --out).")] = None,
    bundled: Annotated[bool, typer.Option(
        "--bundled", help="Export the bundled zero-shot NAICS model (what predict uses without --model) into --out; "
        "then predict --model OUT.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="With --bundled: a new folder to write.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Export format; only 'onnx'.")] = "onnx",
    int8: Annotated[bool, typer.Option("--int8", help="Quantize the encoder's weights to int8 (smaller, faster on CPU).")] = False,
    recheck_margin: Annotated[float | None, typer.Option(
        "--recheck-margin", min=0.0, max=0.99,
        help="With --int8: records whose two best labels are closer than this in probability are scored again by "
        "the fp32 graph, also written (model.fp32.onnx); 0 writes no fp32 graph. Default 0.01.",
    )] = None,
) -> None:
    """Export a transformer or zeroshot model to ONNX: writes MODEL/model.onnx, used by predict and serve
    (ONNX Runtime, no torch needed). `--bundled --out DIR --int8`: the bundled NAICS model, about 2x faster."""
    if format.lower() != "onnx":
        raise InputError(f"--format {format!r} is not supported; use --format onnx")
    if bundled == (model is not None):
        raise InputError("give --model DIR (a saved model) or --bundled --out DIR (the bundled NAICS model), one of them")
    if bundled and out is None:
        raise InputError("--bundled needs --out DIR, a new folder to write the bundled model to")
    if not bundled and out is not None:
        raise InputError("--out is for --bundled; --model DIR is exported in place")
    from siteclass.export import FALLBACK_ONNX_FILE, RECHECK_MARGIN, export_bundled, export_onnx

    margin = RECHECK_MARGIN if recheck_margin is None else recheck_margin
    if out is not None:
        path = export_bundled(out, int8=int8, recheck_margin=margin)
    else:
        assert model is not None
        path = export_onnx(model, int8=int8, recheck_margin=margin)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB{', int8' if int8 else ''})")
    if int8 and margin > 0:
        typer.echo(f"wrote {path.with_name(FALLBACK_ONNX_FILE)} (fp32, rescores records whose two best labels are "
                   f"within {margin} of each other)")
