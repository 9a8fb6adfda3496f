"""Five HTML layouts for the demo corpus. Each renders the same neutral page model differently."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

Block = tuple[str, object]  # ("h2", str) | ("p", str) | ("ul", [str]) | ("links", [(href, text)]) | ("dl", [(t, d)]) | ("raw", str)


@dataclass
class Page:
    """One page to render: site chrome plus content blocks."""

    site_name: str
    title: str
    heading: str
    blocks: list[Block]
    nav: list[tuple[str, str]]
    footer_links: list[tuple[str, str]] = field(default_factory=list)
    external: list[tuple[str, str]] = field(default_factory=list)
    description: str | None = None
    lang: str | None = None
    year: int = 2024
    phone: str = ""
    town: str = ""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _links(items: list[tuple[str, str]], sep: str) -> str:
    return sep.join(f'<a href="{_e(h)}">{_e(t)}</a>' for h, t in items)


def _blocks_html5(blocks: list[Block], h: str = "h2") -> str:
    out: list[str] = []
    for kind, val in blocks:
        if kind == "h2":
            out.append(f"<{h}>{_e(val)}</{h}>")
        elif kind == "p":
            out.append(f"<p>{_e(val)}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in val) + "</ul>")  # type: ignore[attr-defined]
        elif kind == "links":
            out.append("<ul class=\"links\">" + "".join(f'<li><a href="{_e(a)}">{_e(b)}</a></li>' for a, b in val) + "</ul>")  # type: ignore[attr-defined]
        elif kind == "dl":
            out.append("<dl>" + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in val) + "</dl>")  # type: ignore[attr-defined]
        elif kind == "raw":
            out.append(str(val))
    return "\n".join(out)


def _head(p: Page, extra: str = "") -> str:
    meta = f'<meta name="description" content="{_e(p.description)}">\n' if p.description else ""
    return f'<meta charset="utf-8">\n<title>{_e(p.title)}</title>\n{meta}{extra}'


def _html_open(p: Page) -> str:
    return f'<html lang="{p.lang}">' if p.lang else "<html>"


def modern(p: Page) -> str:
    nav = "".join(f'<li><a href="{_e(h)}">{_e(t)}</a></li>' for h, t in p.nav)
    ext = " ".join(f'<a href="{_e(h)}" rel="noopener">{_e(t)}</a>' for h, t in p.external)
    return f"""<!DOCTYPE html>
{_html_open(p)}
<head>
{_head(p, '<meta name="viewport" content="width=device-width, initial-scale=1">')}
<link rel="stylesheet" href="/assets/site.css">
</head>
<body>
<header class="site-header">
<a class="logo" href="/">{_e(p.site_name)}</a>
<nav><ul>{nav}</ul></nav>
</header>
<main>
<h1>{_e(p.heading)}</h1>
{_blocks_html5(p.blocks)}
</main>
<footer>
<p>&copy; {p.year} {_e(p.site_name)}. All rights reserved. {_links(p.footer_links, ' | ')}</p>
<p>{ext}</p>
</footer>
</body>
</html>
"""


def sidebar(p: Page) -> str:
    nav = "\n".join(f'<p style="margin:4px 0"><a style="color:#2a4d69" href="{_e(h)}">{_e(t)}</a></p>' for h, t in p.nav)
    ext = "<br>".join(f'<a href="{_e(h)}">{_e(t)}</a>' for h, t in p.external)
    return f"""<!DOCTYPE html>
{_html_open(p)}
<head>
{_head(p)}
<style>
body {{ font-family: Georgia, serif; background: #f7f5f0; margin: 0; }}
#sidebar {{ float: left; width: 200px; padding: 20px; }}
#content {{ margin-left: 240px; padding: 20px; max-width: 720px; }}
</style>
</head>
<body>
<div id="wrap">
<div id="sidebar">
<div style="font-size:22px;font-weight:bold">{_e(p.site_name)}</div>
<div style="font-size:12px;color:#777">{_e(p.town)} &middot; {_e(p.phone)}</div>
<hr>
{nav}
<hr>
<div style="font-size:11px">{ext}</div>
</div>
<div id="content">
<h1 style="color:#333">{_e(p.heading)}</h1>
{_blocks_html5(p.blocks, "h3")}
<div style="clear:both;font-size:11px;color:#999;margin-top:40px">Copyright {p.year} {_e(p.site_name)} &mdash; {_links(p.footer_links, ' &middot; ')}</div>
</div>
</div>
</body>
</html>
"""


def _blocks_table(blocks: list[Block]) -> str:
    out: list[str] = []
    for kind, val in blocks:
        if kind == "h2":
            out.append(f'<BR><FONT SIZE="4" COLOR="#003366"><B>{_e(val)}</B></FONT><BR>')
        elif kind == "p":
            out.append(f"<P>{_e(val)}</P>")
        elif kind == "ul":
            out.append("".join(f"&bull; {_e(x)}<BR>" for x in val))  # type: ignore[attr-defined]
        elif kind == "links":
            out.append("".join(f'&raquo; <A HREF="{_e(a)}">{_e(b)}</A><BR>' for a, b in val))  # type: ignore[attr-defined]
        elif kind == "dl":
            out.append("<TABLE BORDER=\"0\" CELLPADDING=\"4\">" + "".join(
                f"<TR><TD VALIGN=\"top\"><B>{_e(a)}</B></TD><TD>{_e(b)}</TD></TR>" for a, b in val) + "</TABLE>")  # type: ignore[attr-defined]
        elif kind == "raw":
            out.append(str(val))
    return "\n".join(out)


def table(p: Page) -> str:
    nav = "<BR>\n".join(f'<A HREF="{_e(h)}"><FONT COLOR="#FFFFFF">{_e(t)}</FONT></A>' for h, t in p.nav)
    ext = " - ".join(f'<A HREF="{_e(h)}">{_e(t)}</A>' for h, t in p.external)
    return f"""<HTML>
<HEAD>
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=utf-8">
<TITLE>{_e(p.title)}</TITLE>
</HEAD>
<BODY BGCOLOR="#FFFFFF" TOPMARGIN="0">
<TABLE WIDTH="780" BORDER="0" CELLSPACING="0" CELLPADDING="0" ALIGN="center">
<TR><TD COLSPAN="2" BGCOLOR="#003366" HEIGHT="70"><FONT FACE="Arial" SIZE="6" COLOR="#FFFFFF">&nbsp;{_e(p.site_name)}</FONT></TD></TR>
<TR>
<TD WIDTH="150" VALIGN="top" BGCOLOR="#336699"><FONT FACE="Arial" SIZE="2">
{nav}
</FONT></TD>
<TD VALIGN="top"><FONT FACE="Arial" SIZE="2">
<H1>{_e(p.heading)}</H1>
{_blocks_table(p.blocks)}
</FONT></TD>
</TR>
<TR><TD COLSPAN="2" ALIGN="center"><FONT SIZE="1">{_links(p.footer_links, ' | ')}<BR>&copy; {p.year} {_e(p.site_name)} &nbsp; {_e(p.phone)}<BR>{ext}</FONT></TD></TR>
</TABLE>
</BODY>
</HTML>
"""


def article(p: Page) -> str:
    nav = "".join(f'<a href="{_e(h)}">{_e(t)}</a>' for h, t in p.nav)
    ext = "".join(f'<li><a href="{_e(h)}">{_e(t)}</a></li>' for h, t in p.external)
    return f"""<!doctype html>
{_html_open(p)}
<head>
{_head(p, '<meta property="og:type" content="website">')}
</head>
<body class="page">
<div class="topbar">Call us: {_e(p.phone)}</div>
<header>
<div class="brand">{_e(p.site_name)}</div>
<nav aria-label="Primary">{nav}</nav>
</header>
<article>
<h1>{_e(p.heading)}</h1>
<section>
{_blocks_html5(p.blocks)}
</section>
</article>
<aside><h4>Elsewhere</h4><ul>{ext}</ul></aside>
<footer>
<nav aria-label="Footer">{nav}</nav>
<small>{_links(p.footer_links, ' ')} &copy; {p.year} {_e(p.site_name)}, {_e(p.town)}.</small>
</footer>
</body>
</html>
"""


def divsoup(p: Page) -> str:
    nav = "\n".join(f'<div class="menu-item"><a class="menu-link" href="{_e(h)}">{_e(t)}</a></div>' for h, t in p.nav)
    ext = "\n".join(f'<div class="social"><a href="{_e(h)}" target="_blank">{_e(t)}</a></div>' for h, t in p.external)
    return f"""<!DOCTYPE html>
{_html_open(p)}
<head>
{_head(p)}
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
</head>
<body>
<div class="container">
<div class="row header-row"><div class="col-md-4"><span class="site-title">{_e(p.site_name)}</span></div>
<div class="col-md-8"><div class="menu">
{nav}
</div></div></div>
<div class="row"><div class="col-md-12 content-area">
<div class="page-title"><h1>{_e(p.heading)}</h1></div>
<div class="entry-content">
{_blocks_html5(p.blocks)}
</div></div></div>
<div class="row footer-row"><div class="col-md-6">
<div class="footer-widget">{_links(p.footer_links, ' / ')}</div>
{ext}
</div><div class="col-md-6"><div class="cookie-notice">This website uses cookies to improve your experience. By continuing to browse you accept our use of cookies.</div>
<div class="copyright">&copy; {p.year} {_e(p.site_name)}</div></div></div>
</div>
<noscript>Please enable JavaScript for the best experience.</noscript>
</body>
</html>
"""


LAYOUTS = {"modern": modern, "sidebar": sidebar, "table": table, "article": article, "divsoup": divsoup}
