"""Titles a marketer would publish, questions that are questions, brands and support pages."""

from __future__ import annotations

from research.engines.local.briefs import write
from research.engines.local.plan import is_question
from research.engines.local.titles import (
    capitalised_words,
    fix_articles,
    pluralize,
    subject_phrases,
    topic_title,
    written_phrases,
)
from research.models import Page, Topic
from research.text.brands import brand_names, domain_label
from research.text.offtopic import strip_brands
from research.text.phrases import PageText, site_phrases
from research.text.support import is_support_page


def test_a_competitor_how_to_heading_is_not_copied_verbatim() -> None:
    heading = 'How to track "404 error pages" for your site'
    title = topic_title("error pages", [], ["error pages"], [heading], "en")
    assert title == "Tracking 404 error pages: a step-by-step guide"
    # switching a product's setting on or off is its manual, not the user's article
    for toggle in ("disable", "enable", "turn off", "Opt out of"):
        heading = f'How to {toggle} "404 error pages" tracking for your site'
        title = topic_title("error pages", [], ["error pages"], [heading], "en")
        assert title == "Error pages explained", title
    # a phrase that switches a setting is titled by the setting
    title = topic_title("disable sitemap generation", ["default values"], [], [], "en")
    assert title == "Sitemap generation explained: what to know about default values"
    title = topic_title("VAT", [], ["VAT"], ["How do I add my VAT number?"], "en")
    assert title == "Adding your VAT number: a step-by-step guide"
    assert topic_title("Kochstück", [], ["Kochstück"], ["Wie man ein Kochstück ansetzt"], "de") == (
        "Kochstück: Schritt für Schritt"
    )


def test_titles_agree_in_number_and_article() -> None:
    assert topic_title("inverted method", ["content adapter"], [], [], "en") == (
        "Inverted method explained: what to know about content adapters"
    )
    # uncountable or named companions stay as they are
    assert topic_title("latte art", ["steamed milk"], [], [], "en").endswith("steamed milk")
    assert topic_title("Hugo", ["Swiss Water Process"], [], [], "en").endswith("Water Process")
    assert topic_title("hosting prices", [], [], [], "en") == (
        "Hosting prices: what they cost and why"
    )
    assert topic_title("hosting cost", [], [], [], "en") == "Hosting cost: what it costs and why"
    heading = "Creating a API key with the command line"
    assert topic_title("API key", [], ["API key"], [heading], "en") == (
        "How to create an API key: a step-by-step guide"
    )
    assert pluralize("branch") == "branch" and pluralize("search index") == "search indexes"
    assert pluralize("taxonomy template") == "taxonomy templates"
    # a head noun the crawled text writes the phrase's plural of is countable too
    written = written_phrases(_text(["Cost and rate limits.", "Steamed milk, then milks it."]))
    title = topic_title("composite embedders", ["rate limit"], [], [], "en", None, written)
    assert title == "Composite embedders explained: what to know about rate limits"
    assert pluralize("steamed milk", written) == "steamed milk"
    assert fix_articles("a hour, an unique visitor, a SEO audit, an user, A idea") == (
        "an hour, a unique visitor, an SEO audit, a user, An idea"
    )


def test_only_real_questions_are_questions() -> None:
    assert is_question("How do I track outbound link clicks?")
    assert is_question("¿Cómo se riega un huerto vertical?")
    for text in (
        "Tracking outbound links",
        "why?",
        "<b>How do I</b> track links?",
        "How do I use [shortcodes](/shortcodes)?",
        "What does {{ .Title }} return?",
        "and then what?",
        "Really??",
    ):
        assert not is_question(text), text


def test_support_account_billing_and_legal_pages_are_recognised() -> None:
    support = [
        ("https://a.example/billing", "Billing", []),
        ("https://a.example/docs/cancel-subscription.html", "Cancel", []),
        ("https://a.example/download-invoices", "Invoices", []),
        ("https://a.example/x", "How do I add my VAT number | Acme", []),
        ("https://a.example/x", "Acme", ["Reset your password", "Two-factor authentication"]),
        ("https://a.example/legal/privacy-policy", "Privacy policy", []),
        ("https://a.example/code-of-conduct", "Code of conduct", []),
    ]
    for url, title, headings in support:
        assert is_support_page(url, title, headings), url
    content = [
        ("https://a.example/signup-forms", "Signup forms that grow your email list", []),
        ("https://a.example/re-engagement", "Re-engagement campaigns for inactive subscribers", []),
        ("https://a.example/gdpr", "GDPR compliant website analytics", ["Privacy by design"]),
        ("https://a.example/email-security-basics", "Email security basics", []),
    ]
    for url, title, headings in content:
        assert not is_support_page(url, title, headings), url


def _pages(domain: str, titles: list[str], text: str, site_name: str = "") -> list[Page]:
    return [
        Page(url=f"https://{domain}/{i}", title=t, text=text.format(i=i), site_name=site_name)
        for i, t in enumerate(titles)
    ]


def test_brand_names_come_from_titles_site_name_domain_and_proper_nouns() -> None:
    assert domain_label("docs.plausible.io") == "plausible"
    assert domain_label("127.0.0.1:8080") == "" and domain_label("www.example.co.uk") == "example"
    text = "Use Jekyll to build page {i}. Every Jekyll site has layouts and page {i} too."
    pages = _pages("jekyllrb.com", ["Layouts", "Includes", "Posts"], text)
    assert "jekyll" in brand_names("jekyllrb.com", pages, [], "en")  # label + proper noun
    pages = _pages("127.0.0.1:9", ["A", "B", "C"], "Open the dashboard of page {i}.", "Metricly")
    assert "metricly" in brand_names("127.0.0.1:9", pages, [], "en")  # og:site_name
    text = "Plausible counts visits on page {i}. Plausible is open source."
    pages = _pages("plausible.io", ["Goals", "Funnels", "Props"], text)
    names = brand_names("plausible.io", pages, ["plausible analytics"], "en")
    assert {"plausible", "plausible analytics"} <= set(names)
    # everyday words of a name are no brand: "huerto" is written in lower case on the site
    text = "Un huerto en el balcón, página {i}. Huerto y tomates."
    pages = _pages("huertoencasa.example", ["Tomates", "Riego", "Fresas"], text)
    assert "huerto" not in brand_names("huertoencasa.example", pages, ["huerto en casa"], "es")
    # served from an address, the name is the word the text mostly capitalises standing alone:
    # not "analytics", which only follows other names; lower case in addresses and calls is code
    text = (
        "Open the Plausible dashboard on page {i}; Google Analytics imports work. Load "
        "plausible.io/js/script.js and call plausible('Signup'). Plausible Analytics counts."
    )
    pages = _pages("127.0.0.1:9", ["A", "B", "C"], text, "Plausible Analytics")
    names = brand_names("127.0.0.1:9", pages, [], "en")
    assert "plausible" in names and "analytics" not in names, names
    # a domain label alone is no brand: gaps.test writes about content gaps
    pages = _pages("gaps.test", ["A", "B", "C"], "Finding content gaps on page {i}.")
    assert brand_names("gaps.test", pages, [], "en") == []


def test_how_to_titles_follow_the_lead_phrase_and_lower_quoted_setting_names() -> None:
    headings = [
        'How to disable "Outbound links" tracking for your site',
        'How to connect "Google Search Console" to your site',
    ]
    assert topic_title("outbound link", ["Search Console"], [], headings, "en") == (
        "Outbound link explained: what to know about Search Console"
    )
    assert topic_title("Search Console", ["outbound link"], [], headings, "en") == (
        "Connecting Google Search Console: a step-by-step guide"
    )


def test_brief_outline_keeps_to_pages_about_the_topic() -> None:
    topic = Topic(
        title="Scroll depth explained",
        keywords=["scroll depth"],
        score=50.0,
        reason="r",
        evidence=["https://rival.example/scroll-depth", "https://rival.example/downloads"],
    )
    rival = [
        Page(
            url="https://rival.example/scroll-depth",
            title="Scroll depth tracking",
            headings=[
                "Scroll depth tracking",
                "Scroll depth goals",
                "Reading the depth chart",
                "Disable scroll depth tracking for your site",  # the product's settings step
                "Step 1: Paste the scroll depth snippet into your template",  # procedure steps
                "2. Check the scroll depth goals in your dashboard",
            ],
            text="Scroll depth shows how far visitors read. Scroll depth goals count readers.",
        ),
        Page(
            url="https://rival.example/downloads",
            title="File downloads tracking",
            headings=["File downloads tracking", "Depth of download folders"],
            text="File downloads are counted per file. Scroll depth is another goal.",
        ),
    ]
    site = [Page(url="https://mine.example/", title="Home", text="We count page views.")]
    brief = write(topic, site_phrases("mine.example", site), [site_phrases("rival.example", rival)])
    assert "Reading the depth chart" in brief.outline
    assert "Depth of download folders" not in brief.outline
    assert not [h for h in brief.outline if h.startswith("Disable")], brief.outline
    assert not [h for h in brief.outline if h.startswith(("Step", "2."))], brief.outline
    # questions are only the ones the crawled pages ask (the writer's plan); these ask none
    assert brief.questions == []


def test_a_one_word_subject_takes_the_plural_its_page_is_titled_with() -> None:
    text = "Use a shortcode in a page. A shortcode calls a template. Each shortcode is named."
    pages = [
        Page(url="https://h.example/shortcodes", title="Shortcodes", headings=["Shortcodes"],
             text=text),
        Page(url="https://h.example/x", title="Templates", text="A shortcode or a template."),
    ]  # fmt: skip
    assert site_phrases("h.example", pages).stats["shortcode"].label == "shortcodes"


def test_brands_are_stripped_with_the_words_tying_them_in_or_the_title_dropped() -> None:
    brands = ["plausible", "plausible analytic", "umami"]  # phrase keys
    assert strip_brands("How to track outbound links in Plausible", brands, "en") == (
        "How to track outbound links"
    )
    assert strip_brands("Plausible's custom events explained", brands, "en") == (
        "Custom events explained"
    )
    assert strip_brands("custom events with Umami: a guide", brands, "en") == (
        "custom events: a guide"
    )
    # a comparison of brands, a brand as the subject, or nothing but the brand: dropped
    assert strip_brands("Umami vs Plausible: which to pick", brands, "en") == ""
    assert strip_brands("How Plausible counts visitors", brands, "en") == ""
    assert strip_brands("Plausible Analytics", brands, "en") == ""
    assert strip_brands("Plausible Analytics will list your site", brands, "en") == ""
    assert strip_brands("Scroll depth", brands, "en") == "Scroll depth"


def _text(lines: list[str]) -> list[PageText]:
    return [PageText(url=f"https://rival.example/{i}", title="", headings=[], lines=[line])
            for i, line in enumerate(lines)]  # fmt: skip


def test_an_explained_subject_takes_the_plural_the_crawled_text_opens_with() -> None:
    pages = _text([
        "Setup. Outbound links is an optional measurement. Enable outbound links here.",
        "The inverted method avoids drips. Brew with inverted methods or not.",
        "Email marketing for online stores.",
    ])  # fmt: skip
    written, subjects = written_phrases(pages), subject_phrases(pages)

    def title(main: str) -> str:
        return topic_title(main, [], [], [], "en", None, written, subjects)

    assert title("outbound link") == "Outbound links explained"
    # written only inside a sentence, never as its subject: a name, or a mass noun, stays
    assert title("inverted method") == "Inverted method explained"
    assert title("online store") == "Online store explained"
    assert title("outbound links") == "Outbound links explained"


def test_names_are_the_words_the_crawled_text_capitalises_mid_sentence() -> None:
    pages = _text([
        "Connect Google Search Console in a minute. Then connect your sitemap.",
        "We read Google data and connect it to Slack. Slack alerts follow.",
        "Safe Rollout ramps traffic. You add a safe rollout to a flag.",
    ])  # fmt: skip
    names = capitalised_words(pages)
    assert {"google", "slack", "search", "console"} <= names
    # sentence starts do not count; "connect", "safe", "rollout" are written in lower case
    assert not {"connect", "then", "safe", "rollout", "you"} & names


def test_how_to_titles_are_in_sentence_case_but_for_names() -> None:
    names = frozenset({"google", "kubernetes"})
    heading = "How to Add a Safe Rollout to a Feature"
    assert topic_title("safe rollout", [], [], [heading], "en", names) == (
        "How to add a safe rollout: a step-by-step guide"
    )
    heading = "How to Connect Google Search Console to Slack Alerts"
    assert topic_title("Search Console", [], [], [heading], "en", names) == (
        "How to connect Google Search Console: a step-by-step guide"
    )
    heading = "Deploying the Helm Chart on Kubernetes with Argo CD"  # no known gerund: no how-to
    assert topic_title("Helm chart", [], [], [heading], "en", names) == "Helm chart explained"
    heading = "Setting Up Sticky Bucketing With The Script Tag SDK"
    assert topic_title("sticky bucketing", [], [], [heading], "en", names) == (
        "How to set up sticky bucketing: a step-by-step guide"
    )


def test_a_how_to_title_never_says_what_a_competitor_heading_says() -> None:
    names = frozenset()
    # a how-to heading: worded as its gerund
    assert topic_title("safe rollout", [], [], ["How to Add a Safe Rollout"], "en", names) == (
        "Adding a safe rollout: a step-by-step guide"
    )
    assert topic_title("moka pot", [], [], ["How to use a moka pot?"], "en", names) == (
        "Using a moka pot: a step-by-step guide"
    )
    assert topic_title("dinner plan", [], [], ["How to plan a dinner plan"], "en", names) == (
        "Planning a dinner plan: a step-by-step guide"
    )
    # a gerund heading already says that: the subject leads
    headings = ["Setting up DMARC step by step"]
    assert topic_title("DMARC", [], [], headings, "en", names) == "DMARC: a step-by-step guide"
    headings = ["Building recommendations with similar documents"]
    assert topic_title("similar documents", [], [], headings, "en", names) == (
        "Similar documents: a step-by-step guide"
    )
    # a heading that only names the subject is no instruction to copy
    headings = ["Safe Rollouts", "How to add a safe rollout to a feature flag"]
    assert topic_title("safe rollout", [], [], headings, "en", names) == (
        "How to add a safe rollout: a step-by-step guide"
    )
