"""A small language guess for pages that do not declare one (script, then common words)."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_MIN_WORDS = 8
_MIN_SHARE = 0.08  # of the words on the page, at least this many must be the language's

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to in is that for with are this on you it be as or by from".split()
    ),
    "de": frozenset(
        "der die und das ist nicht mit ein eine den von zu sich auf für dem im".split()
    ),
    "fr": frozenset("le la les et des est une du en pour que dans qui pas sur au avec ce".split()),
    "es": frozenset("el la los las y de que en es por una un para con del se no al su".split()),
    "it": frozenset("il di che e la per un una non sono del della in con si gli le da".split()),
    "pt": frozenset("o a os as e de que em um uma para com não do da se por mais no".split()),
    "nl": frozenset("de het een en van is dat op te in voor met zijn niet er aan ook".split()),
}


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
    script = _script(text)
    if script is not None:
        return script
    words = [w.lower() for w in _WORD.findall(text[:20000])]
    if len(words) < _MIN_WORDS:
        return None
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] >= _MIN_SHARE * len(words) else None
