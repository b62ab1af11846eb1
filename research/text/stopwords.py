"""Stop words per language, read from the lists that ship with yake (no downloads)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")

# Words that carry no topic on the web: calls to action, page furniture, vague quantities.
_WEB_WORDS: dict[str, list[str]] = {
    "en": (
        "read more click here learn sign log login subscribe newsletter cookie cookies privacy "
        "policy terms rights reserved copyright menu home page share tweet email follow "
        "contact us today great good new lot lots thing things really actually "
        "simply just easy easily different important example examples way ways "
        "year years month months week weeks day days time times minute minutes hour hours "
        "people person need needs want wants make makes made sure use used uses using "
        "get gets got go goes going take takes come comes let lets kind sort whole "
        "post posts article articles blog guide guides "
        "gram grams kilogram kilograms litre litres liter liters degree degrees percent "
        "second seconds range variety number amount couple plenty bunch majority "
        # comparatives describe a change, not a subject ("hotter water", "grind finer")
        "hotter colder warmer cooler finer coarser faster slower stronger weaker bigger "
        "quickly slowly evenly properly usually gently roughly finely fully exactly nearly "
        "smaller larger longer shorter thicker thinner darker lighter cheaper "
        # adverbs qualify a verb, never name a subject ("scale horizontally", "typically public")
        "typically automatically manually directly currently generally basically explicitly "
        "implicitly optionally previously recently additionally alternatively specifically "
        "completely entirely effectively efficiently dynamically programmatically globally "
        "instantly immediately seamlessly securely safely reliably accurately correctly "
        "incorrectly successfully frequently rarely eventually initially finally ultimately "
        "essentially primarily mainly mostly partially natively independently separately "
        "horizontally vertically semantically highly heavily slightly significantly "
    ).split(),
    "de": (
        "mehr lesen klicken hier anmelden newsletter datenschutz impressum cookie cookies "
        "rechte vorbehalten startseite seite teilen kontakt heute gut gute guten neue neuen "
        "einfach wirklich eigentlich wichtig beispiel beispiele jahr jahre monat woche tag "
        "tage zeit minuten stunden stunde menschen leute immer dabei dafür damit dazu "
        "gibt geht macht machen kommt lassen sollte sollten kann können muss müssen "
        "ganz ganze viele vielen beitrag artikel blog "
        "gramm kilogramm liter grad prozent sekunde sekunden"
    ).split(),
    "fr": (
        "lire plus cliquez ici connexion newsletter confidentialité mentions légales cookie "
        "cookies droits réservés accueil page partager contact aujourd'hui bon bonne bien "
        "nouveau nouvelle simple simplement vraiment important exemple année ans mois "
        "semaine jour jours temps minutes heure heures personnes gens faire fait toujours "
        "peut peuvent faut article blog aussi très "
        "gramme grammes kilo kilos litre litres degré degrés pourcent seconde secondes"
    ).split(),
    "es": (
        "leer más haga clic aquí iniciar sesión boletín privacidad aviso legal cookie "
        "cookies derechos reservados inicio página compartir contacto hoy bueno buena buen "
        "nuevo nueva simple simplemente realmente importante ejemplo año años mes meses "
        "semana día días tiempo minutos hora horas personas gente hacer hace siempre "
        "puede pueden hay artículo blog también muy "
        "tu tus mi mis vuestro vuestra vuestros vuestras nuestra nuestros nuestras "
        "gramo gramos kilo kilos litro litros grado grados segundo segundos"
    ).split(),
}


# Words that name what kind of documentation page a page is, not what it is about: alone (or
# together: "FAQ overview") they are never a subject, even as a page's whole title ("Glossary"),
# and with one plain word they only label a page ("metrics definitions"). Several words to a
# kind are joined by "_" ("release_notes").
_PAGE_KINDS: dict[str, str] = {
    "en": "overview glossary introduction intro changelog faq readme tutorial quickstart "
    "documentation docs definitions release_notes getting_started quick_start cheat_sheet",
    "de": "übersicht überblick glossar einführung changelog faq dokumentation erste_schritte",
    "fr": "aperçu glossaire introduction changelog faq documentation",
    "es": "resumen glosario introducción changelog faq documentación",
}
# Kinds that are also things a page may be about ("code references"): only alone.
_ALONE_KINDS: dict[str, str] = {
    "en": "reference",
    "de": "referenz",
    "fr": "référence",
    "es": "referencia",
}


# Acronyms of a program's plumbing (identifiers, formats, protocols, interfaces): every
# technical page uses them, and alone they are no subject to write about ("UID", "JSON").
PLUMBING_ACRONYMS = frozenset(
    "id ids uid uuid guid url urls uri json yaml xml csv http https api apis sdk sdks cli".split()
)


@functools.cache
def page_kinds(language: str | None, alone: bool = False) -> tuple[str, ...]:
    """Return the lower-case names of kinds of documentation page ("overview", "release notes");
    with `alone`, also those that are a page kind only when nothing else is said."""
    code = language if language in _PAGE_KINDS else "en"
    kinds = _PAGE_KINDS[code].split() + (_ALONE_KINDS[code].split() if alone else [])
    return tuple(kind.replace("_", " ") for kind in kinds)


@functools.cache
def function_words(language: str) -> frozenset[str]:
    """Return the plain function-word list of a language (English when unknown), from yake."""
    code = language if language in LANGUAGES else "en"
    # Locate yake's data without importing yake (its import pulls in a lot for nothing here).
    spec = importlib.util.find_spec("yake")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("yake is not installed; it ships the stop-word lists.")
    folder = Path(next(iter(spec.submodule_search_locations))) / "core" / "StopwordsList"
    text = (folder / f"stopwords_{code}.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


@functools.cache
def stopwords_for(language: str | None) -> frozenset[str]:
    """Return the stop words for a language: function words plus web page furniture."""
    code = language if language in LANGUAGES else "en"
    words = set(function_words(code)) | set(_WEB_WORDS.get(code, ()))
    if code != "en":
        # Sites in other languages still carry English buttons ("Read more", "Cookies").
        words |= set(_WEB_WORDS["en"])
    return frozenset(words)


# Function words that may sit inside a phrase ("return on investment", "Übernachtgare im
# Kühlschrank"); any other stop word ends it.
_INNER: dict[str, str] = {
    "en": "of for on in with from by at per your vs versus",
    "de": "im in mit für zum zur vom von der die das des dem den am ohne auf aus vs",
    "fr": "de du des la le les à au aux en par pour sans sur d' l' vs",
    "es": "de del la el los las en con para por sin sobre al a vs",
    "it": "di del della dei delle la il lo le gli in con per senza al alla a da su vs",
    "nl": "van voor op in met de het een zonder vs",
    "pt": "de do da dos das o a os as em com para por sem ao vs",
}

# English verbs that cannot open a keyphrase ("show the product") or close one in the third
# person ("grinder works"); nouns that double as verbs (brew, test, store) are left out.
_VERBS = (
    "avoid choose remove serve practise practice love read learn make get take give keep let "
    "put say tell think know want need try help show find see look feel become leave bring "
    "begin happen include continue add change explain decide understand create write stay pay "
    "improve reduce increase protect prevent ensure allow require provide check compare pick "
    "buy sell go come move turn work start matter taste grow hold sit stand believe mean "
    "seem follow carry lose meet win lead build discover enjoy apply become catch "
    "describe dissolve rinse skim fill heat cool wait lower raise measure watch spend "
    "develop devote contribute maintain depend rely adopt ask agree appear arrive "
    "assume attempt avoid belong borrow bother consider contain convert deliver deny deserve "
    "encourage enable enter exist expect fail forget generate handle ignore imagine inform "
    "install intend introduce invite involve join justify manage mention miss notice obtain "
    "occur own perform permit prefer prepare pretend produce promise propose prove publish "
    "realise realize receive recommend refer reflect refuse relate remain remember "
    "replace reply represent resolve respond reveal seek select send suggest "
    "suppose tend thank treat wish wonder worry evaluate interact configure specify"
).split()


# English nouns a phrase may modify ("total brew time"): a phrase right before one is a
# fragment of a longer subject the stop words cut off.
_HEAD_NOUNS = (
    "time times day days week weeks month months year years minute minutes hour hours "
    "way ways thing things"
).split()


@functools.cache
def head_nouns(language: str | None) -> frozenset[str]:
    """Return stop-listed nouns that a phrase before them modifies (English only)."""
    return frozenset(_HEAD_NOUNS) if language in (None, "en") else frozenset()


def _inflections(verb: str) -> tuple[str, ...]:
    stem = verb[:-1] if verb.endswith("e") else verb
    third = verb + "es" if verb.endswith(("s", "sh", "ch", "x", "o")) else verb + "s"
    return (verb, third, stem + "ing", stem + "ed" if verb.endswith("e") else verb + "ed")


@functools.cache
def inner_words(language: str | None) -> frozenset[str]:
    """Return the function words allowed inside a phrase in this language."""
    return frozenset(_INNER.get(language or "en", _INNER["en"]).split())


@functools.cache
def edge_verbs(language: str | None) -> frozenset[str]:
    """Return verb forms that may not open or close a phrase (English only)."""
    if language not in (None, "en"):
        return frozenset()
    return frozenset(form for verb in _VERBS for form in _inflections(verb))
