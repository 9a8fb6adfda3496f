"""CLI command of the export stage (thin: flags → ``siteclass.export.export_onnx``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siteclass.cli.app import app
from siteclass.errors import InputError


@app.command("export")
def export_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="A saved model folder (siteclass train --out).")],
    format: Annotated[str, typer.Option("--format", "-f", help="Export format; only 'onnx'.")] = "onnx",
    int8: Annotated[bool, typer.Option("--int8", help="Quantize the encoder's weights to int8 (smaller, faster on CPU).")] = False,
    recheck_margin: Annotated[float | None, typer.Option(
        "--recheck-margin", min=0.0, max=0.99,
        help="With --int8: records whose two best labels are closer than this in probability are scored again by "
        "the fp32 graph, also written (model.fp32.onnx); 0 writes no fp32 graph. Default 0.01.",
    )] = None,
) -> None:
    """Export a transformer or zeroshot model to ONNX: writes MODEL/model.onnx, used by predict and serve
    (ONNX Runtime, no torch needed)."""
    if format.lower() != "onnx":
        raise InputError(f"--format {format!r} is not supported; use --format onnx")
    from siteclass.export import FALLBACK_ONNX_FILE, RECHECK_MARGIN, export_onnx

    margin = RECHECK_MARGIN if recheck_margin is None else recheck_margin
    path = export_onnx(model, int8=int8, recheck_margin=margin)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB{', int8' if int8 else ''})")
    if int8 and margin > 0:
        typer.echo(f"wrote {path.with_name(FALLBACK_ONNX_FILE)} (fp32, rescores records whose two best labels are "
                   f"within {margin} of each other)")
