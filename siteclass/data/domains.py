"""Registered domain and domain extension of a URL, host or domain value, as the dataset needs them.

The crawler's helpers (``siteclass.crawling.urls``, offline public-suffix list) do the work, so the dataset and the
crawl agree; this module only makes them total: an empty or unparsable value gives ``""`` instead of raising.
"""

from __future__ import annotations

from siteclass.crawling import urls

EXTENSIONS = urls.EXTENSIONS


def registered_domain(value: str | None) -> str:
    """``https://www.shop.acme.co.uk/x`` → ``acme.co.uk``; '' for an empty value."""
    if not value:
        return ""
    try:
        return urls.registered_domain(value)
    except ValueError:  # an unparsable URL: no domain rather than a crash
        return ""


def domain_extension(domain: str | None) -> str:
    """One of biz co com edu gov info net org site us, else ``other``."""
    return urls.domain_extension(domain or "")
