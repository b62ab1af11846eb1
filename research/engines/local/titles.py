"""Human titles for topic ideas ("How to X", "X vs Y: when to use which", "X explained")."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from difflib import SequenceMatcher

from research.text.phrases import PageText, phrase_key, sentences
from research.text.stopwords import function_words

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
        "guide_subject": "{main}: a step-by-step guide",
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
        "guide_subject": "{main}: Schritt für Schritt",
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
        "guide_subject": "{main} : étape par étape",
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
        "guide_subject": "{main}: paso a paso",
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
    capitals: Collection[str] | None = None,
    written: Callable[[str], bool] | None = None,
    subjects: Callable[[str], bool] | None = None,
) -> str:
    """Return a title a writer would use for a topic led by `main`.

    `companions` are phrases worth naming next to it, `related` all the topic's phrases,
    `headings` the titles and headings of its evidence pages, best page first, and `capitals`
    the lower-cased words the crawled text writes with a capital inside a sentence (names; None:
    no such evidence, words keep the heading's case); `written` says whether the crawled text
    writes a phrase word for word, `subjects` whether it opens a title, heading or sentence
    with it (an "X explained" title takes the plural of `main` written so: "Outbound links").
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
    how = _how_heading(main, headings, lang, capitals)
    if how:
        return how
    if lang == "en":
        main = _SWITCH.sub("", main) or main  # "disable sitemap generation": the subject follows
    last = main.split()[-1]
    for kind, markers in _KINDS.items():
        if last in markers:
            plural = lang == "en" and kind == "cost" and _plural(last)
            return _cap(words["cost_plural" if plural else kind].format(main=main))
    others = list(companions)
    if lang == "en" and subjects is not None:
        many = _plural_form(main)
        main = many if " " in main and many != main and subjects(many) else main
    if len(others) >= 2:
        return _cap(words["explained_more"].format(main=main, k2=others[0], k3=others[1]))
    if others:
        about = pluralize(others[0], written) if lang == "en" else others[0]
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


def pluralize(phrase: str, written: Callable[[str], bool] | None = None) -> str:
    """Return an English noun phrase with its head noun in the plural when it is countable:
    a known countable noun, or one the crawled text writes the phrase's plural of (`written`:
    "rate limits")."""
    plural = _plural_form(phrase)
    seen = written is not None and " " in phrase and written(plural)
    last = phrase.rpartition(" ")[2]
    return plural if last in _COUNTABLE or seen else phrase  # else possibly uncountable


def _plural_form(phrase: str) -> str:
    """The phrase with its last word in the English plural; a name, acronym or plural as is."""
    head, _, last = phrase.rpartition(" ")
    if last != last.lower() or _plural(last):
        return phrase
    if last.endswith(("s", "x", "ch", "sh")):
        return f"{head} {last}es".strip()
    if last.endswith("y") and last[-2:-1] not in "aeiou":
        return f"{head} {last[:-1]}ies".strip()
    return f"{head} {last}s".strip()


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


# Verbs that only ever switch a setting, opening a phrase that names one ("disable X").
_SWITCH = re.compile(
    r"^(?:enable|disable|activate|deactivate|turn (?:on|off)|switch (?:on|off))\s+", re.IGNORECASE
)


def is_settings_step(heading: str) -> bool:
    """Whether a heading switches a product's setting on or off ("Enable X for your site")."""
    text = " ".join(heading.split())
    return bool(_TOGGLE.match(re.sub(r"^how (?:to|do (?:i|you)) ", "", text, flags=re.IGNORECASE)))


# A numbered step of a procedure ("Step 1: Paste this code ...", "3. Check the entry pages") is
# the competitor's instructions, one line of them: no section of a piece of one's own.
_STEP = re.compile(r"^(?:(?:step|schritt|étape|etape|paso)\s*\d+\b|\d{1,2}[.)]\s)", re.IGNORECASE)


def is_procedure_step(heading: str) -> bool:
    """Whether a heading is a numbered step of a procedure ("Step 2: Create a goal")."""
    return bool(_STEP.match(" ".join(heading.split())))


def _how_heading(
    main: str, headings: Sequence[str], lang: str, capitals: Collection[str] | None
) -> str:
    """A how-to title from an evidence page heading that names the lead phrase.

    The title is the site's own, never a heading copied: the instruction ("How to track
    revenue", "Setting up DMARC") loses the qualifiers after its subject ("with the Script Tag
    SDK") and the heading's Title Case. One that still says what a heading says is worded
    another way: "How to add a safe rollout" becomes "Adding a safe rollout: a step-by-step
    guide", and when a heading already says that, the subject leads ("DMARC: ...").
    """
    keys = [f" {phrase_key(main, lang)} "]
    for heading in headings:
        text = _heading_text(heading)
        if len(text) > 80 or not _names(keys, text, lang):
            continue
        action = _instruction(text, lang)
        if not action or (lang == "en" and _TOGGLE.match(action)):
            continue  # no how-to, or a product's settings step: "How to disable X"
        if lang == "en":
            action = _sentence_case(_without_qualifiers(action, main, lang), main, capitals)
        if not any(_near(action, other, lang) for other in headings):
            title = _cap(_TEMPLATES[lang]["guide"].format(action=action))
            return fix_articles(title) if lang == "en" else title
        verb, _, rest = action.partition(" ")
        worded = f"{_gerund(verb.lower())} {rest}" if lang == "en" and rest else ""
        if worded and not any(_alike(worded, other, lang) for other in headings):
            return fix_articles(_cap(_TEMPLATES[lang]["guide_subject"].format(main=worded)))
        return _cap(_TEMPLATES[lang]["guide_subject"].format(main=main))
    return ""


def _heading_text(heading: str) -> str:
    return " ".join(heading.split()).split(":")[0].rstrip("?!.")


# Words a how-to heading or title adds that say nothing of the subject ("step by step").
_STEPS = re.compile(
    r"\b(?:(?:a )?step[- ]by[- ]step(?: guide)?|schritt für schritt|étape par étape|paso a paso)\b",
    re.IGNORECASE,
)


def _instruction(text: str, lang: str) -> str:
    """The instruction a how-to heading gives ("add your VAT number"), or "" for other headings.

    English headings that open with a known gerund ("Setting up DMARC") give it too.
    """
    text = " ".join(_STEPS.sub(" ", text).split())
    lower = text.lower()
    opener = next((o for o in _HOW.get(lang, ()) if lower.startswith(o)), "")
    if opener and lang != "en":
        return _action(text, lang)
    if opener:
        action = _action(text[len(opener) :], lang)
        if opener != "how to ":
            action = re.sub(r"\bmy\b", "your", re.sub(r"^(?:I|you|we) ", "", action))
        return action
    first, _, rest = text.partition(" ")
    if lang == "en" and rest and first.lower() in _GERUNDS:
        return f"{_GERUNDS[first.lower()]} {_action(rest, lang)}"
    return ""


def _without_qualifiers(action: str, main: str, lang: str) -> str:
    """The instruction up to the end of the noun phrase naming the subject: "set up sticky
    bucketing" of "set up sticky bucketing with the Script Tag SDK"."""
    words = action.split()
    stems = [phrase_key(w, lang) for w in words]
    key = phrase_key(main, lang).split()
    stops = function_words(lang)
    for start in range(len(words) - len(key) + 1):
        if stems[start : start + len(key)] == key:
            end = start + len(key)
            while end < len(words) and words[end].lower() not in stops:
                end += 1  # the rest of the compound: "make cold brew coffee"
            return " ".join(words[:end])
    return action


def _sentence_case(action: str, main: str, capitals: Collection[str] | None) -> str:
    """An English instruction in sentence case: the subject's words capitalised as its label
    is, other capitalised words only when the crawled text capitalises them mid-sentence."""
    if capitals is None:
        return action
    words = action.split()
    label = main.split()
    stems = [phrase_key(w, "en") for w in words]
    key = [phrase_key(w, "en") for w in label]
    span = next((i for i in range(len(words)) if stems[i : i + len(key)] == key), len(words))
    out = []
    for i, word in enumerate(words):
        if span <= i < span + len(key):
            named = label[i - span][:1].isupper()
        else:
            named = word.lower().strip("\"'()") in capitals
        plain = word[:1].isupper() and not any(c.isupper() for c in word[1:]) and word != "I"
        out.append(word if named or not plain else word.lower())
    return " ".join(out)


# Word sequences this alike (difflib's ratio) say the same thing: one word in five differs.
NEAR = 0.8
_FILLERS = frozenset({"a", "an", "the", "your", "my", "our"})


def _near(action: str, heading: str, lang: str) -> bool:
    """Whether an instruction says what a how-to heading says ("Setting up DMARC" says "set
    up DMARC"), give or take a word."""
    instruction = _instruction(_heading_text(heading), lang)
    return bool(instruction) and _alike(action, instruction, lang)


def _alike(text: str, heading: str, lang: str) -> bool:
    """Whether two texts have the same words, or three or more alike but one word in five
    (case, punctuation, articles and "step by step" aside)."""
    mine, theirs = (
        [w for w in phrase_key(_STEPS.sub(" ", t), lang).split() if w not in _FILLERS]
        for t in (text, _heading_text(heading))
    )
    if not mine or mine == theirs:
        return bool(mine)
    ratio = SequenceMatcher(None, mine, theirs, autojunk=False).ratio()
    return min(len(mine), len(theirs)) >= 3 and ratio >= NEAR


# Verbs whose "-ing" form opens instruction headings, for turning them into "How to ..." titles.
_GERUND_VERBS = (
    "add bake brew build calculate choose clean compare create descale feed find fix froth "
    "grind grow improve keep make manage measure plan pour prepare pull reduce remove run "
    "scale set shape start steam store test track use warm write"
).split()
# One vowel then one consonant doubles it: "setting", "planning" (not w, x or y: "fixing").
_DOUBLES = re.compile(r"^[^aeiou]*[aeiou][b-df-hj-np-tvz]$")


def _gerund(verb: str) -> str:
    """The "-ing" form of an English verb ("set" -> "setting", "use" -> "using")."""
    if verb.endswith(("ee", "ye", "oe")) or len(verb) <= 2:
        return verb + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e"):
        return verb[:-1] + "ing"
    return verb + (verb[-1] if _DOUBLES.match(verb) else "") + "ing"


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


_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def capitalised_words(pages: Sequence[PageText]) -> frozenset[str]:
    """The words pages mostly write with a capital inside a sentence (names), lower-cased.

    Sentence starts and lines repeating a title or heading (Title Case) do not count.
    """
    upper: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for page in pages:
        structure = {" ".join(t.lower().split()) for t in (page.title, *page.headings)}
        for line in page.lines:
            if " ".join(line.lower().split()) in structure:
                continue
            for sentence in sentences(line):
                for word in _WORD.findall(sentence)[1:]:
                    seen[word.lower()] += 1
                    upper[word.lower()] += word[:1].isupper()
    return frozenset(word for word, count in upper.items() if 2 * count > seen[word])


def written_phrases(pages: Sequence[PageText]) -> Callable[[str], bool]:
    """A test of whether the pages' titles, headings or text write a phrase word for word."""
    lines = (line for page in pages for line in (page.title, *page.headings, *page.lines))
    text = " " + " \n ".join(_NON_WORD.sub(" ", line.lower()) for line in lines) + " "

    def written(phrase: str) -> bool:
        return f" {_words(phrase)} " in text

    return written


def subject_phrases(pages: Sequence[PageText]) -> Callable[[str], bool]:
    """A test of whether the pages open a title, heading or sentence with a phrase, as the
    subject of its own ("Outbound links is an optional measurement")."""
    starts = (
        *(line for page in pages for line in (page.title, *page.headings)),
        *(sentence for page in pages for line in page.lines for sentence in sentences(line)),
    )
    text = "".join(f"\n {_words(line)} " for line in starts)

    def opens(phrase: str) -> bool:
        return f"\n {_words(phrase)} " in text

    return opens


_NON_WORD = re.compile(r"[^\w'-]+")


def _words(text: str) -> str:
    """The text's words in lower case, one space apart."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())
