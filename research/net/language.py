"""A small language guess for pages that do not declare one (script, then common words)."""

from __future__ import annotations

from collections import Counter

from research.engines.language import detect_language


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
