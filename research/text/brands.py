"""A site's brand: its name from titles, og:site_name, the domain and its most used proper noun."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from research.models import Page
from research.text.stopwords import stopwords_for

# Host labels that never name the site ("docs.example.co.uk" is "example").
_NOT_NAMES = frozenset("www docs doc blog app apps help support co com org net gov ac edu".split())
# A domain label may add a few letters to the name: gohugo (Hugo), jekyllrb (Jekyll).
_LABEL_EXTRA = 3
MIN_BRAND_CHARS = 4
# A proper noun on this share of a site's pages is its name, when the domain or a title agrees.
PROPER_NOUN_SHARE = 0.5
# A proper noun is capitalised mid-sentence this many times more often than written in lower case.
NAME_MAJORITY = 4
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_ENDS_SENTENCE = ".!?:"


def _starts_sentence(line: str, at: int) -> bool:
    before = line[:at].rstrip()[-1:]
    return not before or before in _ENDS_SENTENCE


def domain_label(domain: str) -> str:
    """The label of a host that names the site ("docs.plausible.io" -> "plausible")."""
    labels = domain.split(":")[0].lower().split(".")
    if len(labels) < 2 or all(part.isdigit() for part in labels):
        return ""
    names = [part for part in labels[:-1] if part not in _NOT_NAMES]
    return re.sub(r"[^\w]", "", names[-1]) if names else ""


def in_label(word: str, label: str) -> bool:
    """Whether a word is the domain label, or the label with a few letters more ("gohugo")."""
    word = word.lower()
    if not label or len(word) < MIN_BRAND_CHARS:
        return False
    near = len(label) - len(word) <= _LABEL_EXTRA
    return label == word or (near and (label.startswith(word) or label.endswith(word)))


def names_own_host(host: str, brands: Iterable[str]) -> bool:
    """Whether a host's label spells one of the site's brand keys (gohugo.io for "hugo").

    A multi-word name counts whole ("plausibleanalytics") or by its leading words, exactly
    ("plausible.io" for "plausible analytic"): "contentful" is not "Content Research Lab".
    """
    label = domain_label(host)
    for brand in brands:
        words = brand.split()
        leading = {"".join(words[:n]) for n in range(1, len(words))}
        if in_label("".join(words), label) or (len(label) >= MIN_BRAND_CHARS and label in leading):
            return True
    return False


def _proper_nouns(pages: Sequence[Page], stops: frozenset[str]) -> Counter[str]:
    """Words mostly capitalised where they stand alone mid-sentence, by how many pages do so.

    A capital right after another ("Google Analytics") is the second word of a name, not a
    name of its own; lower-case parts of an address or a call ("plausible.io",
    "plausible.init") are code, not prose.
    """
    counts: Counter[str] = Counter()
    capitals: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for page in pages:
        found: set[str] = set()
        for line in page.text.splitlines():
            previous = None
            for match in _WORD.finditer(line):
                word, after_name = match.group(0), _follows_name(line, previous, match, stops)
                previous = match
                if word.islower():
                    lower[word] += not _in_code(line, match.start(), match.end())
                elif word[:1].isupper() and not after_name:
                    if not _starts_sentence(line, match.start()):
                        found.add(word.lower())
                        capitals[word.lower()] += 1
        counts.update(found)
    return Counter({w: n for w, n in counts.items() if capitals[w] > NAME_MAJORITY * lower[w]})


def _follows_name(
    line: str, previous: re.Match[str] | None, current: re.Match[str], stops: frozenset[str]
) -> bool:
    """Whether a word comes right after a capitalised one that is no stop word opening the
    sentence ("Use Jekyll": a sentence's first word, not a name's)."""
    if previous is None or not previous.group(0)[:1].isupper():
        return False
    if _starts_sentence(line, previous.start()) and previous.group(0).lower() in stops:
        return False
    return line[previous.end() : current.start()] == " "


def _in_code(line: str, start: int, end: int) -> bool:
    """Whether a word is part of an address, a file name or a call: "site.io", "/share", "f("."""
    before = line[start - 1] if start else ""
    after, then = line[end : end + 1], line[end + 1 : end + 2]
    return before in {".", "/"} or after == "(" or (after in {".", "/"} and then.isalnum())


def brand_names(
    domain: str, pages: Sequence[Page], title_names: Iterable[str], language: str
) -> list[str]:
    """Return the site's names, lower-case: title parts, og:site_name, their name words.

    A word of a multi-word name is a name of its own when the domain label agrees or the site
    only ever writes it as a proper noun ("Acme" of "Acme Analytics", not "huerto" of "Huerto
    en casa"); so do proper nouns the domain label spells ("Jekyll" of jekyllrb.com), and the
    most used proper noun when a name agrees with it. A domain label alone names nothing: it
    may be an everyday word (gaps.test).
    """
    stops = stopwords_for(language)
    label = domain_label(domain)
    site_names = Counter(p.site_name.strip().lower() for p in pages if p.site_name.strip())
    names = {n.strip().lower() for n in title_names if n.strip()}
    names |= {name for name, count in site_names.items() if count * 3 >= len(pages) or count >= 2}
    # German capitalises every noun, so capitals there say nothing about names.
    nouns = _proper_nouns(pages, stops) if language != "de" else Counter()
    words: set[str] = set()
    for name in names:
        parts = [p for p in _WORD.findall(name) if p not in stops]
        words |= {p for p in parts if in_label(p, label) or (len(p) >= 3 and p in nouns)}
    if nouns and pages:
        noun, uses = min(nouns.items(), key=lambda kv: (-kv[1], kv[0]))
        agreed = in_label(noun, label) or any(noun in _WORD.findall(n) for n in names)
        if uses >= PROPER_NOUN_SHARE * len(pages) and agreed and noun not in stops:
            words.add(noun)
        words |= {n for n in nouns if in_label(n, label)}
    return sorted(names | words)


def names_brand(key: str, brands: Iterable[str]) -> bool:
    """Whether a phrase key is, contains, or is part of one of the brand keys."""
    padded = f" {key} "
    return any(f" {name} " in padded or padded in f" {name} " for name in brands if name)
