"""Finding a quoted sentence in a page's text, whatever its whitespace, quote marks and case."""

from __future__ import annotations

import re

_QUOTES = re.compile(r"[\"'`´‘’‚‛“”„‟«»‹›]")
_SPACE = re.compile(r"\s+")
_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*")
# Punctuation a quote may start or end with that its page need not have just there.
_EDGES = " \t\n.,;:!?…-–—()[]"
# Each part of a quote cut with an ellipsis must be this long to count as found.
MIN_PART_WORDS = 4


def normalise(text: str) -> str:
    """Return text lower-cased, without quote marks, its whitespace runs made single spaces."""
    return _SPACE.sub(" ", _QUOTES.sub("", text).casefold()).strip()


def quote_found(quote: str, page_text: str) -> bool:
    """Whether the quote occurs in the page text; parts cut with an ellipsis are found in order."""
    haystack = normalise(page_text)
    parts = [normalise(p).strip(_EDGES) for p in _ELLIPSIS.split(quote)]
    parts = [p for p in parts if p]
    if not parts or not haystack:
        return False
    if len(parts) > 1 and any(len(p.split()) < MIN_PART_WORDS for p in parts):
        return False  # "the ... of" would be found anywhere
    at = 0
    for part in parts:
        found = haystack.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True
