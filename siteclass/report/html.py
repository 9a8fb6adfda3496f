"""Render one self-contained static HTML page: jinja2 template, images embedded as base64 data URIs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"


def embed_png(path: str | Path) -> str:
    """A PNG file as a ``data:image/png;base64,…`` URI for an ``<img src>``."""
    data = Path(path).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.{digits}f}"
    return str(value)


def render_html(template: str, out: str | Path, **context: Any) -> Path:
    """Render ``templates/<template>`` with *context* into *out*; returns the path written."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    html = env.get_template(template).render(**context)
    out = Path(out)
    out.write_text(html, encoding="utf-8")
    return out
