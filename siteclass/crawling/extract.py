"""HTML → text: charset decoding that never fails, and page content (title, description, language, clean text,
links). Clean text comes from trafilatura (boilerplate removal); when it returns little — short business pages
often look like 'boilerplate' to it — a selectolax pass over the page minus nav/header/footer/aside is used.

Two extractors (``[crawl] extractor``): ``exact`` hands trafilatura the whole page and joins every link with
``urljoin``; ``fast``

- first drops what trafilatura deletes anyway and what holds no paragraph (scripts but JSON-LD, styles, SVG,
  templates, iframes: about a third of its time on real pages), and the void elements it deletes or strips
  (``meta``, ``link``, ``img``, ``input``…: fewer elements for each of its passes over the page);
- then drops ``nav``, ``aside``, ``footer`` and media elements when a paragraph outside every element
  trafilatura deletes is left (trafilatura deletes them too, and puts them back only when no such paragraph is
  left: its "recall" undo). The one path that still sees them: when its main pass finds under 250 characters,
  trafilatura's baseline rescue reads the raw page, which then lacks them (on the 109 real and 396 demo pages
  the strip changes no text);
- reads the page only up to where ``FAST_TEXT_CHARS`` (50,000) characters of visible text have passed: the rest is
  cut from the tree before extraction (the classifier sees 4,000 characters a page; trafilatura's cost grows with
  the page: ~25 ms for a page of 120,000 characters of text against ~10 ms for a typical real page);
- builds the common link forms (absolute http(s), root-relative) without ``urljoin``, by a method that gives
  exactly ``urljoin``'s result (links are read from the whole page, before any cut).
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from siteclass.config import DEFAULT_EXTRACTOR, FAST_TEXT_CHARS, Extractor

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)""", re.I)
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_WS_CHARS = "\t\r\f\v\u00a0"  # _WS less the space
_SPACES = re.compile(" {2,}")
_BOILERPLATE = "script, style, noscript, template, svg, nav, header, footer, aside, form, iframe, [role=navigation]"
# fast extractor: removed before trafilatura (it deletes them itself; none can hold the paragraphs its
# 'recall' mode looks for, so its result is the same). JSON-LD stays: trafilatura reads it to tell a forum thread,
# whose replies are content, from an article with comments. Then the void elements it deletes or strips
# (no content, no text: fewer elements for each of its XPath passes over the raw page, about 3 % of its time).
# Not noscript: trafilatura deletes it in its main pass, but its baseline rescue of a short page (one sentence of
# content) reads its text
_PRE_STRIP = ('script:not([type="application/ld+json"]), style, template, svg, iframe, '
              "meta, link, img, input, source, track, area, param, wbr")

# fast extractor: elements trafilatura deletes ("MANUALLY_CLEANED": navigation, media) and none of its earlier
# steps reads; removed before it only when a paragraph outside every element it deletes is left (see
# _paragraph_survives). Not form (kept when it wraps the page), figure (a table's), math (its formulas are
# salvaged), head (its JSON-LD is read)
_GUARDED_STRIP = "nav, aside, footer, menu, object, embed, canvas, map, video, audio, picture"
# characters after which urljoin's result is no longer the href itself (or prefix + href): see _join
_JOIN_UNSAFE = re.compile(r"[#;\[\]\\\s\x00-\x1f\x7f]|\?$")
_SKIP_SCHEMES = ("mailto:", "tel:", "javascript:", "data:", "ftp:", "sms:", "file:", "#")
# trafilatura below this many characters (and below half the fallback) → use the fallback text
_MIN_CHARS = 200
# pages are cut to this many characters of HTML before extraction (keeps the worst case fast)
MAX_HTML_CHARS = 1_500_000

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)


@dataclass
class PageContent:
    title: str = ""
    meta_description: str = ""
    lang: str = ""
    text: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)


def _known(encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        name = codecs.lookup(encoding.strip().strip("'\"")).name
    except (LookupError, ValueError):
        return None
    # Browsers read latin-1/ascii labels as windows-1252 (WHATWG encoding standard).
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def _header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return _known(value)
    return None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Bytes → str. Order: BOM, Content-Type charset, ``<meta charset>``, UTF-8, windows-1252.

    Never raises: undecodable bytes become U+FFFD.
    """
    if not body:
        return ""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            return body[len(bom):].decode(enc, errors="replace")
    encoding = _header_charset(content_type)
    if encoding is None:
        match = _META_CHARSET.search(body[:4096])
        encoding = _known(match.group(1).decode("ascii", "ignore")) if match else None
    if encoding in ("utf-16", "utf-16-le", "utf-16-be"):
        encoding = None  # a <meta> that claims UTF-16 in an ASCII-compatible document is wrong
    if encoding is not None:
        return body.decode(encoding, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _one_space(text: str) -> str:
    """``_WS.sub(" ", text)``, about 3× faster: each _WS character becomes a space, then runs of spaces one (the
    regex only runs when there is a run: scanning 100 kB of text for it costs about 1 ms)."""
    for char in _WS_CHARS:
        if char in text:
            text = text.replace(char, " ")
    return _SPACES.sub(" ", text) if "  " in text else text


def _clean(text: str) -> str:
    """Lines stripped, blank lines dropped, each run of _WS characters one space.

    The same result as the per-line form it replaced (each line's _WS runs made one space, stripped, blank lines
    dropped, runs of blank lines folded; tests/crawling/test_extract_fast.py compares them), 2–4× faster on
    text-dense pages: ``strip`` drops every _WS character, so stripping before collapsing leaves the same line, and
    joining only non-blank stripped lines leaves no blank line to fold.
    """
    return _one_space("\n".join([line for line in (raw.strip() for raw in text.splitlines()) if line]))


@lru_cache(maxsize=1)
def _trafilatura_cleaned() -> frozenset[str]:
    from trafilatura.settings import MANUALLY_CLEANED

    return frozenset(MANUALLY_CLEANED)


def _paragraph_survives(tree: HTMLParser) -> bool:
    """Whether a ``<p>`` is outside every element trafilatura's cleaning deletes.

    Its recall mode keeps a copy of the tree and restores it when the deletions leave no paragraph; with one left,
    deleting ``_GUARDED_STRIP`` first gives the tree trafilatura would have reached itself.
    """
    cleaned = _trafilatura_cleaned()
    for p in tree.css("p"):
        node = p.parent
        while node is not None and node.tag not in cleaned:
            node = node.parent
        if node is None:
            return True
    return False


def _cut_after_text(tree: HTMLParser, limit: int) -> None:
    """Remove everything after the text node where *limit* characters of visible text (stripped) have passed."""
    body = tree.body
    if body is None or len(body.text(deep=True)) <= limit:  # whitespace included: an upper bound, no walk
        return
    seen = 0
    for node in body.traverse(include_text=True):
        if node.tag != "-text":
            continue
        seen += len((node.text_content or "").strip())
        if seen > limit:
            current: Node | None = node
            while current is not None and current.tag != "body":
                sibling = current.next
                while sibling is not None:
                    following = sibling.next
                    sibling.decompose()
                    sibling = following
                current = current.parent
            return


def _fallback_text(tree: HTMLParser) -> str:
    body = tree.body or tree.root
    if body is None:
        return ""
    for node in body.css(_BOILERPLATE):
        node.decompose()
    return _clean(body.text(separator="\n", strip=True))


def _trafilatura_text(html: str, url: str) -> str:
    try:
        import trafilatura

        text = trafilatura.extract(
            html, url=url or None, fast=True, include_comments=False, include_tables=True,
            favor_recall=True, deduplicate=False, with_metadata=False,
        )
    except Exception:  # trafilatura raises on some broken documents; the fallback covers them
        return ""
    return _clean(text or "")


class _Joiner:
    """``join(href) == urljoin(base, href)`` (or ValueError), without urljoin for the common forms.

    - ``http://host…`` / ``https://host…``: urljoin re-assembles the parsed href, which gives the href back unless it
      holds an empty query or fragment, ``;`` parameters, brackets (IPv6 hosts, checked), backslashes,
      whitespace or control characters, or non-ASCII (host checks): those go to urljoin.
    - ``/path…`` (not ``//``): scheme and host of the base + the href, unless the path has empty or dot
      segments (urljoin removes them) or one of the characters above.
    - anything else: urljoin, once per distinct href of the page.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.prefix: str | None = None
        self.cache: dict[str, tuple[str, str]] = {}
        try:
            parts = urlsplit(base)
        except ValueError:
            return
        if parts.scheme in ("http", "https") and parts.netloc:
            self.prefix = f"{parts.scheme}://{parts.netloc}"

    def join(self, href: str) -> tuple[str, str]:
        """(absolute URL, scheme)."""
        hit = self.cache.get(href)
        if hit is not None:
            return hit
        result: tuple[str, str] | None = None
        if href.isascii() and not _JOIN_UNSAFE.search(href):
            scheme = "https" if href.startswith("https://") else "http" if href.startswith("http://") else ""
            if scheme:
                if href[len(scheme) + 3:len(scheme) + 4] not in ("", "/", "?"):  # a host: else urljoin decides
                    result = (href, scheme)
            elif self.prefix is not None and href.startswith("/") and not href.startswith("//"):
                path = href.split("?", 1)[0]
                if "//" not in path and "/." not in path:
                    result = (self.prefix + href, self.prefix.split(":", 1)[0])
        if result is None:
            absolute = urljoin(self.base, href)
            result = (absolute, urlsplit(absolute).scheme)
        self.cache[href] = result
        return result


def _links(tree: HTMLParser, base: str, extractor: Extractor = DEFAULT_EXTRACTOR) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    joiner = _Joiner(base) if extractor == "fast" else None
    for node in tree.css("a[href]"):
        attrs = node.attrs  # one attribute at a time (``attributes`` builds a dict of all of them)
        href = (attrs.get("href") or "").strip()
        if not href or href.lower().startswith(_SKIP_SCHEMES):
            continue
        try:
            if joiner is not None:
                absolute, scheme = joiner.join(href)
            else:
                absolute = urljoin(base, href)
                scheme = urlsplit(absolute).scheme
        except ValueError:
            continue
        if scheme not in ("http", "https"):
            continue
        text = _one_space(node.text(separator=" ", strip=True) or "").strip()
        if not text:
            text = (attrs.get("title") or attrs.get("aria-label") or "").strip()
        out.append((absolute, text[:200]))
    return out


def extract_page(html: str, url: str, extractor: Extractor = DEFAULT_EXTRACTOR) -> PageContent:
    """Title, meta description, language, clean text and (absolute url, link text) links of a page.

    *extractor*: ``fast`` or ``exact`` (see the module's note). Never raises on garbage HTML: what cannot be read
    comes back empty.
    """
    html = (html or "")[:MAX_HTML_CHARS].replace("\x00", "")
    if not html.strip():
        return PageContent()
    try:
        tree = HTMLParser(html)
    except Exception:
        return PageContent(text=_clean(re.sub(r"<[^>]+>", " ", html)))
    page = PageContent()
    title = tree.css_first("title")
    page.title = _WS.sub(" ", title.text(strip=True)).strip() if title is not None else ""
    for selector in ('meta[name="description" i]', 'meta[property="og:description" i]'):
        node = tree.css_first(selector)
        if node is not None and (node.attributes.get("content") or "").strip():
            page.meta_description = _WS.sub(" ", node.attributes.get("content") or "").strip()
            break
    root = tree.css_first("html")
    lang = (root.attributes.get("lang") or "") if root is not None else ""
    if not lang:
        node = tree.css_first('meta[http-equiv="content-language" i]')
        lang = (node.attributes.get("content") or "") if node is not None else ""
    page.lang = lang.strip().split(",")[0].strip().lower()[:16]
    base_node = tree.css_first("base[href]")
    base = urljoin(url, base_node.attributes.get("href") or "") if base_node is not None else url
    page.links = _links(tree, base, extractor)
    if extractor == "fast":
        for node in tree.css(_PRE_STRIP):
            node.decompose()
        if _paragraph_survives(tree):
            for node in tree.css(_GUARDED_STRIP):
                node.decompose()
        _cut_after_text(tree, FAST_TEXT_CHARS)
        html = tree.html or ""
    fallback = _fallback_text(tree)
    text = _trafilatura_text(html, url) if len(fallback) >= _MIN_CHARS else ""
    page.text = text if len(text) >= _MIN_CHARS and 4 * len(text) >= len(fallback) else fallback
    return page
