"""The fast extractor (``[crawl] extractor = "fast"``) against the exact one: links identical, text words kept.

On the 109 real pages and the demo sites: every link the same, and the median token Jaccard of the text ≥ 0.95
(reported). The link joiner gives exactly ``urljoin``'s result on every href of the real pages and on tricky ones.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from selectolax.lexbor import LexborHTMLParser

from siteclass.crawling.extract import _Joiner, decode_html, extract_page

_WORD = re.compile(r"\w+")
TRICKY = [
    "http://a.com", "https://b.org/x?y=1", "http://a.com?", "http://a.com/x?", "http://a.com/x#", "http://a.com/#f",
    "http://a.com/x;p", "http://a.com/x;", "http://[::1]/", "http://[::1", "HTTP://A.COM/x", "http://", "http:///x",
    "http:x", "https:", "http://a.com/ x", "http://a.com/\tx", "http://bücher.de/", "http://a.com\\x", "/", "/x/y",
    "/x//y", "/x/./y", "/x/../y", "/..", "/.", "/x?", "/x?q=1", "/x?q=/./", "/x#", "/x;p", "//cdn.com/x", "x/y",
    "../x", "./x", "?q=1", "#top", "/%7Euser/", "/a/b/", "https://a.com/a/../b", "https://a.com//x", "/x?a//b",
    "http://a.com:99999/", "http://user@a.com/", "/\u00e9", "http://a.com/?#", "/x?#", "http://a.com/x\x7f",
]
BASES = ["https://acme.com/a/b.html", "http://acme.com", "http://acme.com:8080/x/?q", "", "ftp://f.com/x",
         "https://user@acme.com/a/"]


def _tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def jaccard(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    return 1.0 if not ta and not tb else len(ta & tb) / len(ta | tb)


def _same_as_urljoin(base: str, href: str) -> None:
    try:
        expected: tuple[str, str] | None = (urljoin(base, href), urlsplit(urljoin(base, href)).scheme)
    except ValueError:
        expected = None
    try:
        got: tuple[str, str] | None = _Joiner(base).join(href)
    except ValueError:
        got = None
    assert got == expected, (base, href)


@pytest.mark.parametrize("base", BASES)
def test_joiner_equals_urljoin_on_tricky_hrefs(base: str) -> None:
    for href in TRICKY:
        _same_as_urljoin(base, href)


@given(hs.sampled_from(BASES), hs.text(alphabet="ab/.?#;:[]\\% \t@h", max_size=25))
@settings(max_examples=600, deadline=None)
def test_joiner_equals_urljoin_property(base: str, tail: str) -> None:
    for href in (tail, "/" + tail, "http://" + tail, "https://a" + tail):
        _same_as_urljoin(base, href.strip())


def test_joiner_equals_urljoin_on_real_pages(real_pages: list[Path]) -> None:
    n = 0
    for path in real_pages:
        tree = LexborHTMLParser(decode_html(path.read_bytes()))
        base = f"https://www.{path.stem.split('.')[0]}.com/dir/page.html"
        for node in tree.css("a[href]"):
            _same_as_urljoin(base, (node.attributes.get("href") or "").strip())
            n += 1
    assert n > 5000


def _compare(pages: list[tuple[str, str]], label: str) -> float:
    scores = []
    for html, url in pages:
        fast, exact = extract_page(html, url, "fast"), extract_page(html, url, "exact")
        assert fast.links == exact.links, url
        assert (fast.title, fast.meta_description, fast.lang) == (exact.title, exact.meta_description, exact.lang)
        scores.append(jaccard(fast.text, exact.text))
    median = statistics.median(scores)
    identical = sum(s == 1.0 for s in scores)
    print(f"\n{label}: {len(scores)} pages, text token Jaccard fast vs exact: median {median:.4f}, "
          f"mean {statistics.mean(scores):.4f}, min {min(scores):.3f}; {identical} with the same words")
    return median


def test_fast_text_keeps_the_words_on_real_pages(real_pages: list[Path]) -> None:
    pages = [(decode_html(p.read_bytes()), f"https://{p.stem}/") for p in real_pages]
    assert _compare(pages, "real pages") >= 0.95


def test_fast_text_keeps_the_words_on_demo_sites() -> None:
    from siteclass.demo import SITES_DIR

    files = sorted(SITES_DIR.glob("*/**/*.html"))[:400]
    if not files:
        pytest.skip(f"no demo pages under {SITES_DIR}")
    pages = [(decode_html(f.read_bytes()), f"http://{f.relative_to(SITES_DIR).parts[0]}/") for f in files]
    assert _compare(pages, "demo pages") >= 0.95


def test_exact_hands_trafilatura_the_whole_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from siteclass.crawling import extract

    seen: dict[str, str] = {}

    def spy(html: str, url: str) -> str:
        seen[url] = html
        return ""

    monkeypatch.setattr(extract, "_trafilatura_text", spy)
    html = "<html><body><script>var x = 1;</script><p>" + "Wir reparieren Rohre. " * 20 + "</p></body></html>"
    extract_page(html, "http://exact.de/", "exact")
    extract_page(html, "http://fast.de/", "fast")
    assert seen["http://exact.de/"] == html
    assert "var x" not in seen["http://fast.de/"] and "Wir reparieren Rohre." in seen["http://fast.de/"]


_PARA = "<p>" + "Wir reparieren Rohre und Heizungen in der ganzen Stadt, schnell und sauber. " * 6 + "</p>"
_NAV = "<nav><ul>" + "".join(f"<li><a href='/s{i}'>Seite {i} Leistungen</a></li>" for i in range(12)) + "</ul></nav>"
_LAYOUTS = {
    # a paragraph outside everything trafilatura deletes: it deletes nav, aside and footer for good
    "paragraph outside": f"<html><body>{_NAV}<main>{_PARA}</main><aside><p>Kundenstimmen: sehr gut</p></aside>"
                         f"<footer><p>Impressum Datenschutz Kontakt</p></footer></body></html>",
    # every paragraph inside nav or footer: trafilatura's recall mode puts them back, so fast must keep them
    "every paragraph in nav or footer": f"<html><body><nav>{_PARA}</nav><div>{'Willkommen im Betrieb. ' * 10}</div>"
                                        f"<footer>{_PARA.replace('Rohre', 'Bäder')}</footer></body></html>",
}


@pytest.mark.parametrize("layout", list(_LAYOUTS))
def test_fast_drops_nav_aside_footer_only_where_trafilatura_would(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from siteclass.crawling import extract

    html = _LAYOUTS[layout]
    fast, exact = extract_page(html, "http://a.de/", "fast"), extract_page(html, "http://a.de/", "exact")
    assert fast.text == exact.text and "Rohre" in fast.text
    seen: list[str] = []
    real = extract._trafilatura_text
    monkeypatch.setattr(extract, "_trafilatura_text", lambda h, u: seen.append(h) or real(h, u))
    extract_page(html, "http://a.de/", "fast")
    stripped = not any(f"<{tag}" in seen[0] for tag in ("nav", "aside", "footer"))
    assert stripped == (layout == "paragraph outside")


def test_fast_drops_the_void_elements_trafilatura_drops_and_keeps_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """meta, link, img, input, wbr… hold no text: removed before trafilatura, its text is the same."""
    from siteclass.crawling import extract

    html = ('<html lang="de"><head><meta name="description" content="Rohrbau Meier"><link rel="icon" href="/i.png">'
            "<title>Meier</title></head><body><main><h1>Rohrbau</h1>"
            + "".join(f"<p>Wir reparieren <img src='r{i}.png' alt='Rohr'>Rohre und Hei<wbr>zungen"
                      f"<meta itemprop='price' content='9'> in Stadtteil {i}, schnell und sauber, seit 19{i}0. "
                      "Meisterbetrieb mit zwoelf Mitarbeitern.</p>" for i in range(6))
            + "<form><label>Name <input name='n'></label><p>Rueckruf-Service fuer Notfaelle, "
            "auch am Wochenende und an Feiertagen, im ganzen Landkreis.</p></form>"
            "<video><source src='a.mp4'><track src='a.vtt'></video></main></body></html>")
    fast, exact = extract_page(html, "http://a.de/", "fast"), extract_page(html, "http://a.de/", "exact")
    assert fast.text == exact.text and "Rohre und Heizungen" in fast.text
    assert (fast.title, fast.meta_description, fast.lang) == ("Meier", "Rohrbau Meier", "de")
    seen: list[str] = []
    real = extract._trafilatura_text
    monkeypatch.setattr(extract, "_trafilatura_text", lambda h, u: seen.append(h) or real(h, u))
    extract_page(html, "http://a.de/", "fast")
    assert not any(f"<{tag}" in seen[0] for tag in ("meta", "link", "img", "input", "wbr", "source", "track"))


def test_fast_keeps_noscript_for_trafilaturas_rescue_of_a_short_page() -> None:
    """A home page with one sentence of content (common: a company's one-line description): trafilatura's main pass
    finds too little, and its baseline rescue reads the whole body, ``<noscript>`` text included. fast used to
    strip noscript first, so the rescue came up under siteclass's 200 characters and the text switched to the
    selectolax fallback (footer and cookie notice instead): 2 % of the home pages of `bench crawl_quality`."""
    from siteclass.demo._layouts import Page, divsoup

    page = Page(site_name="Canary Technologies", title="Canary Technologies", heading="Canary Technologies",
                blocks=[("p", "Canary Technologies provides hotels with solutions to increase productivity and "
                         "manage bookings.")], nav=[("/", "Home"), ("/about", "About us"), ("/contact", "Contact")],
                footer_links=[("/privacy", "Privacy")])
    html = divsoup(page)
    assert "<noscript>" in html
    fast, exact = extract_page(html, "https://canary.example/", "fast"), extract_page(html, "https://canary.example/",
                                                                                    "exact")
    assert fast.text == exact.text and "manage bookings" in fast.text


def test_fast_keeps_the_json_ld_that_tells_a_forum_thread() -> None:
    """trafilatura keeps the replies of a page whose JSON-LD says DiscussionForumPosting (a forum thread) and
    prunes them as comments elsewhere: fast must hand it that script (it used to strip every script)."""
    reply = "Ich habe die Heizung entlueftet und das Ventil getauscht, jetzt laeuft sie wieder. " * 4
    replies = "".join(f"<div class='comment'><p>Antwort {i}: {reply}</p></div>" for i in range(3))
    body = (f"<main><h1>Heizung</h1><p>{'Meine Heizung macht Geraeusche, was tun? ' * 60}</p>"
            f"<div id='comments' class='comments'>{replies}</div></main>")
    for kind, kept in (("DiscussionForumPosting", True), ("Article", False)):
        html = (f'<html><head><title>Forum</title><script type="application/ld+json">{{"@type": "{kind}"}}</script>'
                f"<script>var x = 1;</script></head><body>{body}</body></html>")
        fast, exact = extract_page(html, "http://f.de/", "fast"), extract_page(html, "http://f.de/", "exact")
        assert fast.text == exact.text and ("Antwort 1" in fast.text) == kept, kind


def test_fast_reads_a_long_page_up_to_its_text_limit() -> None:
    from siteclass.config import FAST_TEXT_CHARS

    paragraphs = "".join(f"<p>Absatz {i}: " + f"wort{i} " * 60 + "</p>" for i in range(400))  # ~190,000 characters
    html = f"<html><body><main><h1>Rohrbau</h1>{paragraphs}<a href='/spaet'>Spät</a></main></body></html>"
    fast, exact = extract_page(html, "http://a.de/", "fast"), extract_page(html, "http://a.de/", "exact")
    assert len(exact.text) > 3 * FAST_TEXT_CHARS and "wort399" in exact.text
    assert FAST_TEXT_CHARS <= len(fast.text) < FAST_TEXT_CHARS + 1_000 and "wort399" not in fast.text
    assert fast.text[:20_000] == exact.text[:20_000]  # what the classifier reads (4,000 a page) and far beyond
    assert fast.links == exact.links == [("http://a.de/spaet", "Spät")]  # links come from the whole page


_SOUP = hs.lists(hs.sampled_from([
    "<nav>", "</nav>", "<footer>", "</footer>", "<aside>", "</aside>", "<p>", "</p>", "<div>", "</div>", "<form>",
    "</form>", "<head>", "<title>T</title>", "<a href='/x'>", "<a href='http://b.com/y'>", "</a>", "<video>", "<br>",
    "Rohre und Heizungen ", "   ", "\n", "Kontakt ", "<span>", "</span>", "<table><tr><td>", "</td></tr></table>",
    "<img src='i.png'>", "<wbr>", "<input name='q'>", "<meta name='description' content='D'>",
]), max_size=60)


@given(_SOUP)
@settings(max_examples=300, deadline=None)
def test_fast_on_tag_soup_keeps_links_and_metadata(parts: list[str]) -> None:
    from siteclass.crawling import extract

    html = "<html><body>" + "".join(parts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extract, "FAST_TEXT_CHARS", 40)  # the cut runs on most soups
        patch.setattr(extract, "_MIN_CHARS", 10)  # and trafilatura too
        fast, exact = extract_page(html, "http://a.com/", "fast"), extract_page(html, "http://a.com/", "exact")
    assert fast.links == exact.links
    assert (fast.title, fast.meta_description, fast.lang) == (exact.title, exact.meta_description, exact.lang)


def test_cut_after_text_counts_visible_characters_only() -> None:
    from siteclass.crawling.extract import _cut_after_text

    def cut(html: str, limit: int) -> str:
        tree = LexborHTMLParser(html)
        _cut_after_text(tree, limit)
        return (tree.body.html or "") if tree.body is not None else ""

    html = "<body><div><p>aaaa</p>\n    \n<p>bbbb</p><p>cccc</p></div><ul><li>dddd</li></ul>tail</body>"
    assert cut(html, 6) == "<body><div><p>aaaa</p>\n    \n<p>bbbb</p></div></body>"
    assert cut(html, 8) == "<body><div><p>aaaa</p>\n    \n<p>bbbb</p><p>cccc</p></div></body>"
    assert cut(html, 20) == cut(html, 10_000) == LexborHTMLParser(html).body.html  # type: ignore[union-attr]


@given(hs.text(alphabet=" \t\r\n\f\v\u00a0\x1c\x85\u2028\u3000\u2003ab", max_size=60))
@settings(max_examples=500, deadline=None)
def test_clean_equals_the_per_line_form(text: str) -> None:
    from siteclass.crawling.extract import _WS, _clean

    lines = (_WS.sub(" ", line).strip() for line in text.splitlines())
    assert _clean(text) == re.sub(r"\n\s*\n+", "\n\n", "\n".join(line for line in lines if line)).strip()


def _w3lib_link_facts(url: str) -> tuple[str, str, bool]:
    """link_facts by w3lib alone (what it computed for every link before the simple-URL path)."""
    from siteclass.crawling.urls import SKIP_EXTENSIONS, canonicalize

    try:
        parts = urlsplit(url)
        canon, host = canonicalize(url), parts.hostname or ""
    except ValueError:
        return "", "", True
    last = parts.path.rsplit("/", 1)[-1]
    return canon, host, "." in last and last.rsplit(".", 1)[-1].lower() in SKIP_EXTENSIONS


LINK_TRICKY = [
    "http://a.com", "http://a.com#x", "https://A.Com/X", "http://a.com/a//b", "http://a.com/%41b", "http://a.com/%c3%a9",
    "http://a.com/%C3%A9", "http://a.com/%2F", "http://a.com/a+b", "http://a.com/?b=1&a=2", "http://a.com/?a",
    "http://a.com/?a=", "http://a.com/x?", "http://a.com:80/", "http://a.com./", "http://a.com/./x", "http://a.com/x/..",
    "http://a.com/.x/", "http://a.com/x.PDF", "http://a.com/?a-b=0&a=1", "http://a.com/?a=2&a=1", "http://a.com/?a=1&",
    "http://-a.com/", "http://a-.com/", "http://xn--bcher-kva.de/", "http://a.com/x#y?z", "http://a.com/x?y#z/../",
    "http://a.com/a%20b", "http://a.com/a%2fb", "http://a.com/%7E", "http://a.com/%25", "http://a.com/%2", "http://a.com/a%",
    "http://a.com/%G1", "http://a.com/a,b:c@d", "http://a.com/(a)!*'$&=+", "http://a.com/a|b", "http://a.com/%5C%3B%3F",
    "http://a.com/%00%1F%7F", "http://a.com/%21", "http://a.com/%3A%40", "http://a.com/a;b", "http://a.com/%E2%82",
    "http://a.com/?a=x+y", "http://a.com/?b=%21&b=+", "http://a.com/?a=%20", "http://a.com/?a=%2B&a=+", "http://a.com/?a=%41",
    "http://a.com/?a=x%2Fy%3Az&url=https%3A%2F%2Fb.org%2F", "http://a.com/?%C3%A9=1&z=2", "http://a.com/?a=%e9", "http://a.com/?a=/",
]


def test_link_facts_equals_w3lib_on_tricky_links() -> None:
    from siteclass.crawling.urls import link_facts

    for url in LINK_TRICKY:
        assert link_facts(url) == _w3lib_link_facts(url), url


@given(hs.sampled_from(["http://", "https://", "HTTP://"]), hs.text(alphabet="aZ9-.", min_size=1, max_size=12),
       hs.text(alphabet="aB/.%2F8c~_-+;:é!$&'()*,=@|07DE", max_size=20), hs.text(alphabet="a=&b.-~%+2F0C/ ", max_size=14),
       hs.sampled_from(["", "#", "#x", "#/./"]))
@settings(max_examples=1500, deadline=None)
def test_link_facts_equals_w3lib_property(scheme: str, host: str, path: str, query: str, fragment: str) -> None:
    from siteclass.crawling.urls import link_facts

    for url in (scheme + host + "/" + path + fragment, scheme + host + "/" + path + "?" + query + fragment):
        assert link_facts(url) == _w3lib_link_facts(url), url


def test_link_facts_equals_w3lib_on_real_pages(real_pages: list[Path]) -> None:
    from siteclass.crawling.urls import _simple_facts, link_facts

    links = [link for path in real_pages
             for link, _ in extract_page(decode_html(path.read_bytes()), f"https://{path.stem}/").links]
    assert len(links) > 5000
    assert sum(_simple_facts(link) is not None for link in links) > 0.9 * len(links)  # the path is taken
    for link in links:
        assert link_facts(link) == _w3lib_link_facts(link), link
