"""Pure per-row functions of the dataset build (no I/O): text cleaning, labels, site texts, drop reasons.

The local engine and the Spark engine both call these, so both give the same rows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Drop reasons, in the order they are checked. Every dropped row is counted under exactly one of them.
NO_LABEL = "no_label"
CRAWL_FAILED = "crawl_failed"
NO_TEXT = "no_text"
TOO_SHORT = "too_short"
NEAR_DUPLICATE = "near_duplicate"
CLASS_TOO_SMALL = "class_too_small"
DOWNSAMPLED = "downsampled"
DROP_REASONS = (NO_LABEL, CRAWL_FAILED, NO_TEXT, TOO_SHORT, NEAR_DUPLICATE, CLASS_TOO_SMALL, DOWNSAMPLED)
DROP_HELP = {
    NO_LABEL: "no label (empty or missing)",
    CRAWL_FAILED: "site has no crawled pages",
    NO_TEXT: "no text",
    TOO_SHORT: "text shorter than min_chars",
    NEAR_DUPLICATE: "near-duplicate of an earlier row",
    CLASS_TOO_SMALL: "every label in a class below min_per_class",
    DOWNSAMPLED: "removed by --balance downsample (train only)",
}
# Page-level drops (site datasets): a page dropped this way is left out of the site's text.
PAGE_EMPTY = "empty_page"
PAGE_DUP_SITE = "duplicate_within_site"
PAGE_DUP_ACROSS = "duplicate_across_sites"
PAGE_BEYOND = "beyond_pages_per_site"

_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x200B, 0xFEFF], " ")


def clean_text(value: Any) -> str:
    """NFC-normalised text with control characters removed and whitespace runs collapsed to one space."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    value = " ".join(value.translate(_CONTROL).split())
    return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)


def join_texts(values: Iterable[Any]) -> str:
    """The non-empty cleaned values joined by newlines (the text columns of a table row)."""
    return "\n".join(t for t in (clean_text(v) for v in values) if t)


def parse_label(value: Any, split_semicolons: bool) -> list[str]:
    """Labels of a row: a list value or a ``;``-separated string (when allowed); cleaned, unique, in order."""
    if value is None:
        return []
    if isinstance(value, str):
        items: Sequence[Any] = value.split(";") if split_semicolons else [value]
    elif isinstance(value, Sequence) or hasattr(value, "tolist"):
        items = list(value.tolist() if hasattr(value, "tolist") else value)
    else:
        items = [value]
    out: list[str] = []
    for item in items:
        label = clean_text(item)
        if label and label not in out:
            out.append(label)
    return out


def page_text(page: Mapping[str, Any], page_chars: int) -> str:
    """Title and text of one crawled page, cleaned, the text cut to *page_chars* characters."""
    title = clean_text(page.get("title"))
    text = clean_text(page.get("text"))[:page_chars]
    return "\n".join(t for t in (title, text) if t)


def clean_pages(pages: Iterable[Mapping[str, Any]] | None, page_chars: int) -> list[dict[str, str]]:
    """The pages of a site in crawl order as ``{url, title, text}`` with cleaned, cut texts."""
    out = []
    for p in pages or []:
        out.append({
            "url": str(p.get("url") or ""),
            "title": clean_text(p.get("title")),
            "text": clean_text(p.get("text"))[:page_chars],
        })
    return out


def site_text(pages: Iterable[Mapping[str, Any]]) -> str:
    """The text of a site: title and text of each kept page, in crawl order."""
    return "\n".join(t for t in (page_text(p, 1 << 30) for p in pages) if t)


def row_drop_reason(labels: list[str], text: str, min_chars: int) -> str | None:
    """First failing check of a table row before de-duplication (None: the row goes on)."""
    if not labels:
        return NO_LABEL
    if not text:
        return NO_TEXT
    if len(text) < min_chars:
        return TOO_SHORT
    return None


def fasttext_line(labels: list[str], text: str) -> str:
    """``__label__a __label__b text`` (spaces in labels become underscores; the text on one line)."""
    prefix = " ".join("__label__" + "_".join(label.split()) for label in labels)
    return f"{prefix} {' '.join(text.split())}"
