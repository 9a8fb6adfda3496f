"""URL helpers: input normalisation, registered domains (offline), canonical form, domain extension."""

from __future__ import annotations

import functools
import ipaddress
import re
from urllib.parse import unquote_to_bytes, urlsplit, urlunsplit

from siteclass.errors import InputError

# links with these extensions are never requested (documents, images, archives, media)
_SKIP = (
    "pdf doc docx xls xlsx ppt pptx odt ods zip gz tgz rar 7z tar bz2 xz exe dmg apk msi iso jpg jpeg png gif "
    "webp svg bmp ico tif tiff mp3 mp4 m4a wav avi mov wmv mkv webm flv ogg css js json xml rss atom txt csv "
    "woff woff2 ttf eot"
)
SKIP_EXTENSIONS = frozenset(_SKIP.split())

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


@functools.lru_cache(maxsize=1)
def _extractor():  # type: ignore[no-untyped-def]
    import tldextract

    # Offline: the bundled public-suffix snapshot, never a download.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_input_url(raw: str) -> str:
    """A user's website value → an absolute http(s) URL. ``acme.com`` → ``http://acme.com/``.

    Raises InputError naming the value when it cannot be a website (empty, spaces, bad host, other scheme).
    """
    value = (raw or "").strip()
    if not value:
        raise InputError("empty url: give a website such as acme.com or https://acme.com")
    if "://" not in value:
        if value.startswith("//"):
            value = value[2:]
        value = "http://" + value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InputError(f"invalid url {raw!r}: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise InputError(f"invalid url {raw!r}: only http and https websites can be crawled")
    if "@" in parts.netloc:
        raise InputError(f"invalid url {raw!r}: credentials or an e-mail address are not a website")
    host = (parts.hostname or "").rstrip(".")
    if not host or any(c.isspace() for c in value):
        raise InputError(f"invalid url {raw!r}: no valid host name")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InputError(f"invalid url {raw!r}: host name {host!r} is not valid") from exc
    if not _is_ip(host) and (not _HOST_RE.match(host) or ("." not in host and host != "localhost")):
        raise InputError(f"invalid url {raw!r}: host name {host!r} is not valid")
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def host_of(url_or_host: str) -> str:
    """Lower-case host of a URL (or the value itself when it is a bare host)."""
    value = url_or_host.strip()
    if "://" in value:
        return (urlsplit(value).hostname or "").rstrip(".").lower()
    return value.split("/", 1)[0].split(":", 1)[0].rstrip(".").lower()


@functools.lru_cache(maxsize=65536)
def registered_domain(url_or_host: str) -> str:
    """``https://www.shop.acme.co.uk/x`` → ``acme.co.uk``; IPs and single labels are returned as they are."""
    host = host_of(url_or_host)
    if not host or _is_ip(host):
        return host
    ext = _extractor()(host)
    if ext.domain and ext.suffix:
        return f"{ext.domain}.{ext.suffix}"
    return host


def canonicalize(url: str) -> str:
    """Canonical form used to fetch a page once: sorted query, no fragment, normalised escapes."""
    from w3lib.url import canonicalize_url

    return canonicalize_url(url, keep_fragments=False)


# A link whose canonical form is itself, less any fragment (plus "/" for an empty path, a lower-case host and its
# query pairs sorted): http(s), a plain host name; a path of unreserved characters, sub-delimiters, ":" and "@",
# and the upper-case escapes that w3lib keeps escaped (controls, space, '"#%/;<>?\\^`{}', DEL and non-ASCII bytes:
# it decodes the others); a query of key=value pairs of unreserved characters, "+" and the escapes w3lib keeps
# there (it sorts the pairs by their decoded bytes). 98 % of the real pages' links; the others go to w3lib.
# Checked against w3lib on every link of the real pages and by a property test.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PATH_CHAR = r"[A-Za-z0-9._~!$&'()*+,=:@-]|%(?:[01][0-9A-F]|2[0235F]|3[BCEF]|5[CE]|60|7[BDF]|[89A-F][0-9A-F])"
_QUERY_CHAR = r"[A-Za-z0-9._~+-]|%(?:[01][0-9A-F]|2[1-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F])"
_PAIR = rf"(?:{_QUERY_CHAR})+=(?:{_QUERY_CHAR})*"
_SIMPLE_URL = re.compile(
    rf"(https?)://({_LABEL}(?:\.{_LABEL})*)((?:/(?:{_PATH_CHAR})*)*)(?:\?({_PAIR}(?:&{_PAIR})*))?(?:#.*)?",
    re.S,
)
_DOT_SEGMENT = re.compile(r"/\.\.?(?:/|$)")


def _simple_facts(url: str) -> tuple[str, str, str] | None:
    """(canonical form, host, path) of a simple link (see _SIMPLE_URL), the same as w3lib's; else None."""
    match = _SIMPLE_URL.fullmatch(url)
    if match is None:
        return None
    scheme, host, path, query = match.groups()
    if _DOT_SEGMENT.search(path):
        return None
    host, path = host.lower(), path or "/"
    if query:
        # sorted as w3lib sorts them: by their decoded bytes ("+" is a space)
        pairs = sorted((pair.split("=", 1) for pair in query.split("&")),
                       key=lambda kv: [unquote_to_bytes(part.replace("+", " ")) for part in kv])
        return f"{scheme}://{host}{path}?{'&'.join(f'{k}={v}' for k, v in pairs)}", host, path
    return f"{scheme}://{host}{path}", host, path


def link_facts(url: str) -> tuple[str, str, bool]:
    """What the spider needs to know of a found link: (canonical form, "" when the URL is invalid; host;
    whether its extension is never requested). Computed in the page workers, off the reactor thread."""
    simple = _simple_facts(url)
    if simple is not None:
        canon, host, path = simple
    else:
        try:
            parts = urlsplit(url)
            canon = canonicalize(url)
            host, path = parts.hostname or "", parts.path
        except ValueError:
            return "", "", True
    last = path.rsplit("/", 1)[-1]
    return canon, host, "." in last and last.rsplit(".", 1)[-1].lower() in SKIP_EXTENSIONS
