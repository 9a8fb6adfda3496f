"""Rank internal links by how informative they look for telling a business's industry.

Each group of words has a rank (group 0 → rank 1, group 1 → rank 2 …); the URL path and the link text are
matched as whole words (``/about-us``, ``/what_we_do``, ``/aboutus`` and "About us" all match "about us").
The home page has rank 0; unmatched links rank last (number of groups + 1).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from siteclass.config import CrawlSettings

_SPLIT = re.compile(r"[^0-9a-z]+")


def _words(value: str) -> str:
    return " " + " ".join(t for t in _SPLIT.split(value.lower()) if t) + " "


class LinkRanker:
    """``rank(url, text) -> int``: lower is better; unmatched links get ``unmatched_rank``."""

    def __init__(self, rank_words: list[list[str]]) -> None:
        self.groups: list[list[str]] = []
        for group in rank_words:
            phrases = [_words(w).strip() for w in group]
            self.groups.append([p for p in phrases if p])
        self.unmatched_rank = len(self.groups) + 1

    @classmethod
    def from_settings(cls, settings: CrawlSettings) -> LinkRanker:
        return cls(settings.rank_words)

    def rank(self, url: str, text: str = "") -> int:
        try:
            path = unquote(urlsplit(url).path)
        except ValueError:
            path = ""
        path_words = _words(path)
        segments = {s for s in _SPLIT.split(path.lower()) if s}
        joined = {seg.replace("-", "").replace("_", "") for seg in re.split(r"[/.]", path.lower()) if seg}
        text_words = _words(text)
        for index, group in enumerate(self.groups):
            for phrase in group:
                padded = f" {phrase} "
                if padded in path_words or padded in text_words:
                    return index + 1
                compact = phrase.replace(" ", "")
                if " " in phrase and (compact in joined or compact in segments):
                    return index + 1
        return self.unmatched_rank
