"""The registered domain of a URL, host or domain value, as the dataset needs it (the extension: records.py).

The crawler's helpers (``siteclass.crawling.urls``, offline public-suffix list) do the work, so the dataset and the
crawl agree; this module only makes them total: an empty or unparsable value gives ``""`` instead of raising.
"""

from __future__ import annotations

from siteclass.crawling import urls


def registered_domain(value: str | None) -> str:
    """``https://www.shop.acme.co.uk/x`` → ``acme.co.uk``; '' for an empty value."""
    if not value:
        return ""
    try:
        return urls.registered_domain(value)
    except ValueError:  # an unparsable URL: no domain rather than a crash
        return ""
