"""Phrases and titles kept to subjects a site writes about: no site's brand in them, no account,
billing or legal subject (for engines whose phrases do not come from the sites' statistics)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from research.models import Page
from research.text.brands import names_brand
from research.text.phrases import phrase_key, site_phrases, stem, token_spans
from research.text.stopwords import stopwords_for
from research.text.support import names_support_subject

# Words that only tie a brand to the rest of a title ("tracking in Acme", "Acme's funnels").
_GLUE_BEFORE = frozenset("in on with for from using via at by into like of".split())
# A brand next to "vs" makes the title a comparison of brands; after a question word or an
# auxiliary it is the subject of a sentence ("How Acme counts visits"). Both are dropped whole.
_WHOLE_AFTER = frozenset("vs versus how why what when where does do did can is are will".split())
_VERSUS = frozenset({"vs", "versus"})
# A brand opening a heading before one of these is its subject ("Acme will list your site").
_AUXILIARIES = frozenset("does do did can is are will was were has have should may must".split())
_EDGE = re.compile(r"^[\s:;,.–—|/-]+|[\s:;,–—|/-]+$")
_GAP = re.compile(r"\s+([:;,.?!])|\s{2,}")


def site_brands(domain: str, pages: Sequence[Page]) -> list[str]:
    """The keys of a site's names (title parts, og:site_name, domain label, proper noun)."""
    return site_phrases(domain, pages).brand


def is_off_topic(text: str, brands: Sequence[str], language: str) -> bool:
    """Whether a phrase or heading names a site's brand or an account, billing or legal subject."""
    return names_brand(phrase_key(text, language), brands) or names_support_subject(text)


def strip_brands(text: str, brands: Sequence[str], language: str) -> str:
    """The text without the sites' names and the words tying them in; "" when nothing of a
    subject is left, or the text compares brands ("Acme vs Rival")."""
    spans = token_spans(text)
    keys = [stem(token.removesuffix("'s"), language) for _, _, token in spans]
    names = sorted({tuple(b.split()) for b in brands if b}, key=len, reverse=True)
    cuts: list[tuple[int, int]] = []
    index = 0
    while index < len(spans):
        found = next((n for n in names if tuple(keys[index : index + len(n)]) == n), None)
        if found is None:
            index += 1
            continue
        first, last = index, index + len(found) - 1
        before = spans[first - 1][2] if first else ""
        after = spans[last + 1][2] if last + 1 < len(spans) else ""
        if before in _WHOLE_AFTER or after in _VERSUS or (not first and after in _AUXILIARIES):
            return ""  # a comparison, or the brand is what the sentence is about
        if before in _GLUE_BEFORE:
            first -= 1
        cuts.append((spans[first][0], spans[last][1]))
        index = last + 1
    if not cuts:
        return text.strip()
    kept, start = [], 0
    for begin, end in cuts:
        kept.append(text[start:begin])
        start = end
    kept.append(text[start:])
    stripped = _EDGE.sub("", _GAP.sub(_close_gap, " ".join(kept)))
    stops = stopwords_for(language)
    if not any(t not in stops and len(t) > 2 for _, _, t in token_spans(stripped)):
        return ""
    if names_brand(phrase_key(stripped, language), brands):
        return ""
    return stripped[:1].upper() + stripped[1:] if text[:1].isupper() else stripped


def _close_gap(match: re.Match[str]) -> str:
    """Join what a cut left apart: no space before punctuation, one space between words."""
    return match.group(1) or " "
