"""Registered domain and domain extension of a URL, host or domain value (offline public-suffix list).

Uses ``siteclass.crawl.urls`` so the dataset and the crawler agree; falls back to a local tldextract helper
when that module is not importable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

EXTENSIONS = ("biz", "co", "com", "edu", "gov", "info", "net", "org", "site", "us")


def _fallback_host(value: str) -> str:
    from urllib.parse import urlsplit

    value = value.strip()
    if "://" in value:
        return (urlsplit(value).hostname or "").rstrip(".").lower()
    return value.split("/", 1)[0].split(":", 1)[0].rstrip(".").lower()


@functools.lru_cache(maxsize=1)
def _extractor():  # type: ignore[no-untyped-def]
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@functools.lru_cache(maxsize=65536)
def _fallback_registered(value: str) -> str:
    host = _fallback_host(value)
    if not host:
        return ""
    ext = _extractor()(host)
    if ext.domain and ext.suffix:
        return f"{ext.domain}.{ext.suffix}"
    return host


def _fallback_ext(domain: str) -> str:
    host = _fallback_host(domain) if domain else ""
    last = host.rsplit(".", 1)[-1] if "." in host else ""
    return last if last in EXTENSIONS else "other"


def _impl() -> tuple[Callable[[str], str], Callable[[str], str]]:
    try:
        from siteclass.crawl.urls import domain_extension, registered_domain
    except ImportError:  # the crawl stage is optional for table datasets
        return _fallback_registered, _fallback_ext
    return registered_domain, domain_extension


def registered_domain(value: str | None) -> str:
    """``https://www.shop.acme.co.uk/x`` → ``acme.co.uk``; '' for an empty value."""
    if not value:
        return ""
    try:
        return _impl()[0](value)
    except ValueError:  # an unparsable URL: no domain rather than a crash
        return ""


def domain_extension(domain: str | None) -> str:
    """One of biz co com edu gov info net org site us, else ``other``."""
    return _impl()[1](domain or "")
