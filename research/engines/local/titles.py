"""Human titles for topic ideas ("How to X", "X vs Y: when to use which", "X explained")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from research.text.phrases import phrase_key

_VERSUS = re.compile(r"^(.+?)\s+(?:vs|versus|v)\s+(.+)$")
_CHOICE = {
    lang: re.compile(rf"^(.+?)\s+(?:vs\.?|versus|{word})\s+(.+)$", re.IGNORECASE)
    for lang, word in (("en", "or"), ("de", "oder"), ("fr", "ou"), ("es", "o"))
}

# (question or instruction openers seen in headings, template wording) per language.
_HOW = {
    "en": ("how to ", "how do you ", "how do i "),
    "de": ("wie man ", "wie sie ", "wie du ", "so gelingt ", "so klappt "),
    "fr": ("comment ",),
    "es": ("cómo ", "como "),
}
# French and Spanish templates avoid participles that would have to agree with the subject.
_TEMPLATES = {
    "en": {
        "versus": "{a} vs {b}: when to use which",
        "explained_more": "{main} explained: {k2} and {k3}",
        "explained_pair": "{main} explained: what to know about {k2}",
        "explained": "{main} explained",
        "mistakes": "{main}: common mistakes and how to avoid them",
        "tips": "{main} that actually work",
        "tools": "The best {main} compared",
        "cost": "{main}: what it costs and why",
        "cost_plural": "{main}: what they cost and why",
        "guide": "How to {action}: a step-by-step guide",
    },
    "de": {
        "versus": "{a} oder {b}: was wann passt",
        "explained_more": "{main} erklärt: {k2} und {k3}",
        "explained_pair": "{main} erklärt: was Sie über {k2} wissen sollten",
        "explained": "{main} einfach erklärt",
        "mistakes": "{main}: häufige Fehler und wie Sie sie vermeiden",
        "tips": "{main}: Tipps, die wirklich helfen",
        "tools": "{main} im Vergleich",
        "cost": "{main}: was es kostet und warum",
        "guide": "{action}: Schritt für Schritt",
    },
    "fr": {
        "versus": "{a} ou {b} : lequel choisir et quand",
        "explained_more": "{main} : le guide pratique, de {k2} à {k3}",
        "explained_pair": "{main} : le guide pratique, et ce qu'il faut savoir sur {k2}",
        "explained": "{main} : le guide pratique",
        "mistakes": "{main} : les erreurs courantes et comment les éviter",
        "tips": "{main} : des conseils qui marchent vraiment",
        "tools": "{main} : le comparatif",
        "cost": "{main} : combien ça coûte et pourquoi",
        "guide": "{action} : étape par étape",
    },
    "es": {
        "versus": "{a} o {b}: cuándo usar cada uno",
        "explained_more": "{main}: guía práctica sobre {k2} y {k3}",
        "explained_pair": "{main}: guía práctica y lo que debes saber sobre {k2}",
        "explained": "{main}: guía práctica",
        "mistakes": "{main}: errores comunes y cómo evitarlos",
        "tips": "{main}: consejos que funcionan de verdad",
        "tools": "{main}: comparativa",
        "cost": "{main}: cuánto cuesta y por qué",
        "guide": "{action}: paso a paso",
    },
}
_KINDS = {
    "mistakes": ("mistakes", "mistake", "errors", "fehler", "erreurs", "errores"),
    "tips": ("tips", "tricks", "hacks", "tipps", "conseils", "consejos", "trucos"),
    "tools": ("tools", "software", "apps", "plugins", "werkzeuge", "outils", "herramientas"),
    "cost": ("cost", "costs", "price", "prices", "pricing", "kosten", "preis", "prix", "precio"),
}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# The site already has a page on the subject, so the title must not promise the same article
# again ("X: the complete guide" beside "X explained"); it names the next step.
_DEEPER = {
    "en": "{}: beyond the basics",
    "de": "{} für Fortgeschrittene",
    "fr": "{} : aller plus loin",
    "es": "{}: más allá de lo básico",
}


def deeper_title(label: str, lang: str | None) -> str:
    """Return the title of a follow-up piece that goes further than the site's own page."""
    return _DEEPER.get(lang or "en", _DEEPER["en"]).format(_cap(label))


def topic_title(
    main: str,
    companions: Sequence[str],
    related: Sequence[str],
    headings: Sequence[str],
    language: str,
) -> str:
    """Return a title a writer would use for a topic led by `main`.

    `companions` are phrases worth naming next to it, `related` all the topic's phrases, and
    `headings` the titles and headings of its evidence pages, best page first.
    """
    lang = language if language in _TEMPLATES else "en"
    words = _TEMPLATES[lang]
    keys = [f" {phrase_key(k, lang)} " for k in related]
    for keyword in [main, *companions]:
        match = _VERSUS.match(keyword)
        if match:
            return _cap(words["versus"].format(a=match.group(1), b=match.group(2)))
    pair = _versus_heading(keys, headings, lang)
    if pair:
        return _cap(words["versus"].format(a=pair[0], b=pair[1]))
    how = _how_heading([f" {phrase_key(main, lang)} "], headings, lang)
    if how:
        return how
    last = main.split()[-1]
    for kind, markers in _KINDS.items():
        if last in markers:
            plural = lang == "en" and kind == "cost" and _plural(last)
            return _cap(words["cost_plural" if plural else kind].format(main=main))
    others = list(companions)
    if len(others) >= 2:
        return _cap(words["explained_more"].format(main=main, k2=others[0], k3=others[1]))
    if others:
        about = pluralize(others[0]) if lang == "en" else others[0]
        return _cap(words["explained_pair"].format(main=main, k2=about))
    return _cap(words["explained"].format(main=main))


# English head nouns that are countable, so "what to know about" takes their plural; other
# words may be mass nouns ("steamed milk", "syntax highlighting") and stay as they are.
_COUNTABLE = frozenset(
    "adapter archetype block bundle button campaign chart component event field file filter "
    "form funnel goal grinder guide hook image index integration item key layout link list "
    "menu method metric model page parameter partial plugin post project property report "
    "rule segment shortcode step tag template theme token tool variable view widget".split()
)


def _plural(word: str) -> bool:
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))


def pluralize(phrase: str) -> str:
    """Return an English noun phrase with its countable head noun in the plural."""
    head, _, last = phrase.rpartition(" ")
    if last != last.lower() or last not in _COUNTABLE:
        return phrase  # a name, an acronym or a possibly uncountable noun
    if last.endswith(("s", "x", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return f"{head} {plural}".strip()


# Words spelled with a vowel that sound like a consonant ("a unique", "a one-off"), and
# consonant letters of acronyms read with a vowel ("an SEO audit").
_CONSONANT_SOUND = ("uni", "use", "usu", "ut", "eu", "one", "once", "ur")
_VOWEL_LETTERS = "aefhilmnorsx"
_ARTICLE = re.compile(r"\b([Aa]n?) ([\w'-]+)")


def fix_articles(text: str) -> str:
    """Return English text with "a" and "an" matched to the sound of the next word."""

    def choose(match: re.Match[str]) -> str:
        article, word = match.group(1), match.group(2)
        lower = word.lower()
        if word.isupper() and len(word) > 1:
            vowel = lower[0] in _VOWEL_LETTERS
        else:
            vowel = lower[0] in "aeiou" and not lower.startswith(_CONSONANT_SOUND)
            vowel = vowel or lower.startswith(("hour", "honest", "honor", "honour"))
        wanted = "an" if vowel else "a"
        return f"{wanted if article.islower() else wanted.capitalize()} {word}"

    return _ARTICLE.sub(choose, text)


def _names(keys: Sequence[str], text: str, lang: str) -> bool:
    padded = f" {phrase_key(text, lang)} "
    return any(key in padded for key in keys)


# What a competitor's how-to heading says about where it happens, not what the reader does.
_WHERE = re.compile(
    r"\s+(?:for|on|in|to|from|with) (?:your|my|the) (?:own )?"
    r"(?:site|website|account|dashboard|project|app)s?$",
    re.IGNORECASE,
)
_QUOTES = re.compile(r"[\"“”„«»]|(?<!\w)'|'(?!\w)")
_QUOTED_CAPITAL = re.compile(r"(?<=[\"“„«])([A-Z][a-z]+)(?= [a-z])")


def _action(text: str, lang: str) -> str:
    """The instruction of a how-to heading without quotes or where it happens ("for your site")."""
    if lang != "en":
        return " ".join(_QUOTES.sub("", text).split())
    # A quoted name of a setting keeps its capital only when it is a name: "Outbound links"
    text = _QUOTED_CAPITAL.sub(lambda m: m.group(1).lower(), text)
    return " ".join(_WHERE.sub("", _QUOTES.sub("", text)).split())


# How-to headings that switch a product's setting on or off are its manual, not a subject:
# copied, they would promise the competitor's own instructions.
_TOGGLE = re.compile(
    r"^(?:enable|disable|turn (?:on|off)|switch (?:on|off)|activate|deactivate|"
    r"opt (?:in|out)|toggle)\b",
    re.IGNORECASE,
)


def _how_heading(keys: Sequence[str], headings: Sequence[str], lang: str) -> str:
    """A how-to title from an evidence page heading that names one of the phrases.

    The title is the site's own, never the heading copied: "How to track revenue" becomes
    "How to track revenue: a step-by-step guide"; English headings that open with a known
    gerund ("Setting up DMARC") become "How to set up DMARC".
    """
    openers = _HOW.get(lang, ())
    words = _TEMPLATES[lang]
    for heading in headings:
        text = " ".join(heading.split()).split(":")[0].rstrip("?!.")
        if len(text) > 80 or not _names(keys, text, lang):
            continue
        lower = text.lower()
        opener = next((o for o in openers if lower.startswith(o)), "")
        if opener:
            action = _action(text[len(opener) :] if lang == "en" else text, lang)
            if lang == "en" and _TOGGLE.match(action):
                continue  # a product's settings step, not an article: "How to disable X"
            if lang == "en" and opener != "how to ":
                action = re.sub(r"\bmy\b", "your", re.sub(r"^(?:I|you|we) ", "", action))
            title = words["guide"].format(action=action)
            return fix_articles(_cap(title)) if lang == "en" else _cap(title)
        first, _, rest = text.partition(" ")
        if lang == "en" and rest and first.lower() in _GERUNDS:
            return fix_articles(f"How to {_GERUNDS[first.lower()]} {_action(rest, lang)}")
    return ""


# Verbs whose "-ing" form opens instruction headings, for turning them into "How to ..." titles.
_GERUND_VERBS = (
    "add bake brew build calculate choose clean compare create descale feed find fix froth "
    "grind grow improve keep make manage measure plan pour prepare pull reduce remove run "
    "scale set shape start steam store test track use warm write"
).split()
_DOUBLED = ("plan", "run", "set")  # short verbs that double their last letter: "setting"


def _gerund(verb: str) -> str:
    if verb.endswith("e"):
        return verb[:-1] + "ing"
    return verb + (verb[-1] if verb in _DOUBLED else "") + "ing"


_GERUNDS = {_gerund(verb): verb for verb in _GERUND_VERBS}


def _versus_heading(
    keys: Sequence[str], headings: Sequence[str], lang: str
) -> tuple[str, str] | None:
    """Two of the topic's phrases set against each other in a heading ("Backstahl oder Stein?")."""
    pattern = _CHOICE.get(lang, _CHOICE["en"])
    for heading in headings:
        text = " ".join(heading.split()).split(":")[0].rstrip("?!.")
        match = pattern.match(text)
        if match and len(text) <= 80:
            a, b = match.group(1).strip(), match.group(2).strip()
            if _names(keys, a, lang) and _names(keys, b, lang):
                return a, b
    return None
