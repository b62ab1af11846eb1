"""Language detection offline: the script of the text, then stop-word frequencies."""

from __future__ import annotations

import re
from collections import Counter

from research.text.stopwords import LANGUAGES, function_words

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


def _script(text: str) -> str | None:
    counts: Counter[str] = Counter()
    for char in text[:5000]:
        code = ord(char)
        if 0x3040 <= code <= 0x30FF:
            counts["ja"] += 1
        elif 0xAC00 <= code <= 0xD7AF:
            counts["ko"] += 1
        elif 0x4E00 <= code <= 0x9FFF:
            counts["han"] += 1
        elif 0x0400 <= code <= 0x04FF:
            counts["ru"] += 1
        elif 0x0600 <= code <= 0x06FF:
            counts["ar"] += 1
    if not counts:
        return None
    script, count = counts.most_common(1)[0]
    if count < 10:
        return None
    if script == "han":
        return "ja" if counts["ja"] else "zh"
    return script


def guess_language(text: str) -> str | None:
    """Return an ISO 639-1 guess for `text`, or None when it is too short or unclear."""
    return _script(text) or detect_language(text)
