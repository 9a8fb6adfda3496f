"""Report rendering for evaluate and tune: matplotlib figures (PNG) and self-contained HTML pages."""

from __future__ import annotations

from siteclass.report.html import embed_png, render_html

__all__ = ["embed_png", "render_html"]
