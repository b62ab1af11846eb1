"""Language detection from stop-word frequencies (offline, no models)."""

from __future__ import annotations

import re

from research.engines.stopwords import LANGUAGES, function_words

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SAMPLE_WORDS = 2000
_MIN_HITS = 3


def detect_language(text: str) -> str | None:
    """Return the ISO 639-1 code of the text's language, or None when it cannot tell."""
    words = [w.lower() for w in _WORD.findall(text[:20000])][:_SAMPLE_WORDS]
    if not words:
        return None
    best: tuple[int, str] | None = None
    for code in LANGUAGES:
        stops = function_words(code)
        hits = sum(1 for w in words if w in stops)
        if hits >= _MIN_HITS and (best is None or hits > best[0]):
            best = (hits, code)
    return best[1] if best else None
