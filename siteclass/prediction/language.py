"""Is a record's text English? The encoders siteclass bundles (all-MiniLM-L6-v2) and the taxonomies are English:
a prediction on other text is a guess, so it carries ``warning = "non_english_text"``.

The language comes from the page's own declaration (``<html lang>``, the crawl's ``lang`` column) when there is
one, else it is detected on the first :data:`DETECT_CHARS` characters of the record's text with py3langid
(a naive Bayes model over byte n-grams, offline, restricted to :data:`LANGUAGES`). A detection counts only at a
probability of at least :data:`MIN_PROBABILITY`: short texts (a bare business name such as "Acme Plumbing") give
no warning. Text with many English function words is taken as English without running the model — the cheap path
that keeps the HTTP server fast on English traffic.

Measured on 23 hand-written examples — 4 English descriptions, 2 short English lines, 6 bare business names,
short and long German, French, Spanish, Italian, Dutch, Russian, Chinese and Japanese descriptions: this check
warns on all 11 non-English descriptions and on none of the English ones or the names (a name is too short to
tell). Unrestricted py3langid called "Acme Plumbing" Xhosa and "Law firm: litigation, contracts, estates" Latin;
a stopword-share heuristic gave no false warning but missed 5 of the 11 (every short non-English line). Cost:
about 70 µs for 1,000 characters of English, 200 µs otherwise; the model loads once per process (~0.8 s).
"""

from __future__ import annotations

import re
from typing import Any

NON_ENGLISH = "non_english_text"
DETECT_CHARS = 1000
MIN_PROBABILITY = 0.9
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "pl", "sv", "da", "no", "fi", "cs", "sk", "hu", "ro", "tr",
             "ru", "uk", "bg", "el", "ja", "zh", "ko", "ar", "he", "hi", "th", "vi", "id", "ms")
# English-only function words (none is a common word of another language of LANGUAGES)
_ENGLISH = frozenset(("the", "and", "of", "to", "for", "with", "our", "we", "you", "your", "is", "are", "this",
                      "that", "from", "be", "will", "can", "about", "more"))
_WORD = re.compile(r"[a-z']+")
_DECLARED = re.compile(r"^[a-z]{2,3}$")
_identifier: Any = None


def _model() -> Any:
    global _identifier
    if _identifier is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        ident.set_languages(list(LANGUAGES))
        _identifier = ident
    return _identifier


def _clearly_english(text: str) -> bool:
    words = _WORD.findall(text.lower())
    hits = sum(w in _ENGLISH for w in words)
    return hits >= 3 and hits >= 0.08 * len(words)


def detect_language(text: str) -> str | None:
    """The language of *text* (ISO 639-1), or None when too short or unsure (probability below the threshold)."""
    text = (text or "")[:DETECT_CHARS]
    if sum(c.isalpha() for c in text) < 3:
        return None
    if _clearly_english(text):
        return "en"
    lang, probability = _model().classify(text)
    return str(lang) if probability >= MIN_PROBABILITY else None


def declared_language(lang: str | None) -> str | None:
    """``"de-DE"`` → ``"de"``; None for an empty or unreadable declaration."""
    primary = re.split(r"[-_]", (lang or "").strip().lower(), maxsplit=1)[0]
    return primary if _DECLARED.match(primary) else None


def record_language_text(record: dict[str, Any], limit: int = DETECT_CHARS) -> str:
    """The record's own text for detection (page titles and texts, else ``text``), at most *limit* characters.

    The business name is left out: a name is often English whatever the page's language, or a proper noun.
    """
    parts: list[str] = []
    size = 0
    pages = record.get("pages") or []
    sources = [(p.get("title") or "", p.get("text") or "") for p in pages] if pages else [("", record.get("text") or "")]
    for title, text in sources:
        for s in (title, text):
            if s and size < limit:
                parts.append(s[: limit - size])
                size += len(parts[-1]) + 1
    return "\n".join(parts)


def language_warning(record: dict[str, Any], declared: str | None = None) -> str | None:
    """``non_english_text`` when the record's language (declared, else detected) is known and not English."""
    lang = declared_language(declared) or detect_language(record_language_text(record))
    return NON_ENGLISH if lang is not None and lang != "en" else None


def warm_up() -> None:
    """Load the language model now (about a second), not on the first request that needs it."""
    _model()


__all__ = ["NON_ENGLISH", "declared_language", "detect_language", "language_warning", "record_language_text",
           "warm_up"]
