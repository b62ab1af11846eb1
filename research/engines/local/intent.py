"""Search intent of a topic: informational, commercial, transactional or navigational."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from research.models import Intent
from research.text.phrases import tokens

# Marker words in English, German, French and Spanish; a multi-word marker is matched whole.
_MARKERS: dict[Intent, frozenset[str]] = {
    "transactional": frozenset(
        "buy price prices pricing cost costs order shop discount coupon deal deals "
        "checkout cart purchase subscribe subscription trial plans quote hire sign-up signup "
        "kaufen preis preise kosten bestellen angebot gutschein tarif tarife "
        "acheter prix tarifs commander essai abonnement "
        "comprar precio precios tarifas oferta pedido suscripción".split()
    )
    | frozenset({"sign up", "free trial", "get started"}),
    "commercial": frozenset(
        "best vs versus review reviews comparison compare compared alternative "
        "alternatives tools software apps cheapest "
        "beste besten vergleich testsieger alternativen "
        "meilleur meilleurs meilleure comparatif comparaison avis "
        "mejor mejores comparativa opiniones reseña reseñas".split()
    )
    | frozenset({"pros and cons"}),
    "navigational": frozenset(
        "login signin account contact anmelden konto kontakt connexion compte contacto "
        "cuenta".split()
    )
    | frozenset({"log in", "sign in"}),
}
_WORDING: dict[Intent, str] = {
    "transactional": "buying or signing up",
    "commercial": "comparing or reviewing products",
    "navigational": "looking for a brand or a page",
    "informational": "learning how something works",
}
_PATH_WORDS = re.compile(r"[a-z0-9ü]+")
# Which kind wins when two score the same: the more specific one.
_ORDER: tuple[Intent, ...] = ("transactional", "commercial", "navigational")
PAGE_SHARE_WEIGHT = 2.0
PHRASE_WEIGHT = 2.0
MIN_SCORE = 1.5


def _hits(text: str, markers: frozenset[str]) -> list[str]:
    """The markers found in a text, as whole words."""
    words = tokens(text)
    padded = f" {' '.join(words)} "
    return sorted({m for m in markers if (" " in m and f" {m} " in padded) or m in words})


def _page_hits(url: str, title: str, markers: frozenset[str]) -> bool:
    path = " ".join(_PATH_WORDS.findall(urlsplit(url).path.lower()))
    return bool(_hits(f"{path} {title}", markers))


def classify_intent(
    phrases: Sequence[str], pages: Sequence[tuple[str, str]], brands: Sequence[str]
) -> tuple[Intent, str]:
    """Return the intent of a topic and one line saying why.

    score(kind) = 2 x marker words in the topic's title and phrases + 2 x the share of the
    pages on the topic (url, title) whose address or title carry that kind's markers; a brand
    name in the phrases counts as a navigational marker. The best kind scoring at least 1.5
    wins; otherwise the topic is informational.
    """
    text = " | ".join(phrases)
    scores: dict[Intent, float] = {}
    found: dict[Intent, list[str]] = {}
    shares: dict[Intent, int] = {}
    for kind in _ORDER:
        found[kind] = _hits(text, _MARKERS[kind])
        if kind == "navigational":
            found[kind] += [b for b in brands if b and f" {b} " in f" {' '.join(tokens(text))} "]
        shares[kind] = sum(_page_hits(url, title, _MARKERS[kind]) for url, title in pages)
        share = shares[kind] / len(pages) if pages else 0.0
        scores[kind] = PHRASE_WEIGHT * len(found[kind]) + PAGE_SHARE_WEIGHT * share
    best = max(_ORDER, key=lambda kind: (scores[kind], -_ORDER.index(kind)))
    if scores[best] < MIN_SCORE:
        pages_part = f" across {len(pages)} page{'s' * (len(pages) != 1)}" if pages else ""
        return "informational", (
            "Informational: readers are learning how something works; no buying, comparison "
            f"or brand words in the topic or the pages on it{pages_part}."
        )
    parts = []
    if found[best]:
        parts.append("the topic says " + ", ".join(f"“{w}”" for w in found[best][:3]))
    if shares[best]:
        parts.append(f"{shares[best]} of {len(pages)} pages on it are about {_WORDING[best]}")
    return best, f"{best.capitalize()}: " + "; ".join(parts) + "."
