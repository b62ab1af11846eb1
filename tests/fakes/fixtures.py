"""Fixture sites: 'Acme Analytics' (the user's site) and 'Metricly' (a competitor)."""

from __future__ import annotations

from tests.fakes.site import Article, SiteServer, render

ACME: dict[str, Article] = {
    "/": Article(
        "Acme Analytics: simple web analytics for small teams",
        [
            (
                "Web analytics without the noise",
                [
                    "Acme Analytics gives small marketing teams a clear dashboard of page views, "
                    "visitors and bounce rate. You see which pages bring readers and which pages lose them.",
                    "Our dashboard loads in under a second and shows the numbers that matter for a "
                    "growing website: page views, unique visitors, bounce rate and conversion funnels.",
                ],
            ),
            (
                "Built for marketing teams",
                [
                    "Marketing teams use Acme Analytics to plan content, compare campaigns and report "
                    "weekly results to founders without spreadsheets.",
                ],
            ),
        ],
        links=["https://twitter.com/acme"],
    ),
    "/blog/dashboards": Article(
        "How to build a marketing dashboard that people read",
        [
            (
                "Start with one question",
                [
                    "A marketing dashboard should answer one question per chart. Page views alone say "
                    "little; page views per campaign tell a story your team can act on.",
                    "Group your dashboard by audience: the founder wants revenue and signups, the content "
                    "team wants page views and reading time, the ads team wants cost per signup.",
                ],
            ),
            (
                "Keep the dashboard small",
                [
                    "Five charts beat fifty. Every chart on a marketing dashboard should have an owner and "
                    "a target, and the dashboard should be reviewed in the weekly meeting.",
                ],
            ),
        ],
    ),
    "/blog/bounce-rate": Article(
        "Bounce rate explained for content teams",
        [
            (
                "What bounce rate measures",
                [
                    "Bounce rate is the share of visits that see one page and leave. A high bounce rate on "
                    "a blog post is normal when the reader found the answer quickly.",
                    "Compare bounce rate between pages of the same kind: landing pages with landing pages, "
                    "blog posts with blog posts.",
                ],
            ),
            (
                "Lowering bounce rate",
                [
                    "Link related posts, answer the question early and make the next step obvious. Reading "
                    "time and scroll depth tell you more than bounce rate alone.",
                ],
            ),
        ],
    ),
    "/blog/conversion-funnels": Article(
        "Conversion funnels: find where visitors drop off",
        [
            (
                "Define the funnel steps",
                [
                    "A conversion funnel lists the steps from first visit to signup. Acme Analytics shows "
                    "how many visitors reach each step of the conversion funnel and where they drop off.",
                    "Keep funnels short: landing page, pricing page, signup form, confirmed account.",
                ],
            ),
            (
                "Fixing the leaks",
                [
                    "When most visitors drop off at the pricing page, test clearer pricing and social proof "
                    "before you buy more traffic.",
                ],
            ),
        ],
    ),
    "/blog/custom-events": Article(
        "Custom events: track the clicks that matter",
        [
            (
                "Why custom events",
                [
                    "Page views do not show button clicks, video plays or downloads. Custom events record "
                    "those actions so your dashboard shows real engagement.",
                    "Name custom events consistently: verb and object, such as download whitepaper or "
                    "play video.",
                ],
            ),
        ],
    ),
    "/blog/weekly-reports": Article(
        "Weekly reports your founders will actually open",
        [
            (
                "What to put in a weekly report",
                [
                    "A weekly report compares this week with last week: page views, signups, top pages and "
                    "one sentence on why the numbers moved.",
                    "Send the weekly report on Monday morning and keep it to one screen.",
                ],
            ),
        ],
        links=["{rival}"],
    ),
    "/pricing": Article(
        "Pricing",
        [
            (
                "Plans",
                [
                    "The starter plan covers one website and ten thousand page views per month. The team "
                    "plan covers five websites, custom events and weekly reports by email.",
                ],
            ),
        ],
    ),
}

RIVAL: dict[str, Article] = {
    "/": Article(
        "Metricly: privacy-first analytics with server-side tracking",
        [
            (
                "Analytics that respects privacy",
                [
                    "Metricly collects first-party data with server-side tracking, so ad blockers and "
                    "browser restrictions do not break your numbers.",
                    "Cookie consent is built in: Metricly works without cookies and stays GDPR compliant "
                    "out of the box.",
                ],
            ),
        ],
    ),
    "/guides/server-side-tracking": Article(
        "Server-side tracking: a complete guide",
        [
            (
                "What is server-side tracking",
                [
                    "Server-side tracking sends analytics events from your own server instead of the "
                    "visitor's browser. Server-side tracking is not blocked by ad blockers and keeps "
                    "first-party data under your control.",
                    "With server-side tracking you decide which fields leave your infrastructure, which "
                    "makes GDPR compliance easier to prove.",
                ],
            ),
            (
                "Setting up server-side tracking",
                [
                    "Start by forwarding page views from your web server, then add conversion events. "
                    "Server-side tracking works with any framework that can send an HTTP request.",
                ],
            ),
        ],
    ),
    "/guides/cookie-consent": Article(
        "Cookie consent banners: what the law requires",
        [
            (
                "When you need cookie consent",
                [
                    "Cookie consent is required before you store non-essential cookies for visitors in the "
                    "European Union. A cookie consent banner must offer a real choice.",
                    "Analytics without cookies avoids most cookie consent questions, because nothing is "
                    "stored in the visitor's browser.",
                ],
            ),
            (
                "Designing a fair cookie consent banner",
                [
                    "Show accept and reject with equal weight, explain the purpose of each cookie and "
                    "remember the choice. Dark patterns in cookie consent banners attract fines.",
                ],
            ),
        ],
    ),
    "/guides/gdpr-compliance": Article(
        "GDPR compliance for analytics",
        [
            (
                "GDPR compliance checklist",
                [
                    "GDPR compliance for analytics means a lawful basis, data minimisation, a data "
                    "processing agreement and a way to honour deletion requests.",
                    "Host analytics data in the European Union and document your GDPR compliance in the "
                    "privacy policy.",
                ],
            ),
        ],
    ),
    "/guides/attribution-models": Article(
        "Attribution models compared: first touch, last touch and data-driven",
        [
            (
                "Choosing an attribution model",
                [
                    "Attribution models decide which channel gets credit for a conversion. First touch "
                    "attribution favours discovery channels; last touch attribution favours the final click.",
                    "Data-driven attribution models weigh every touchpoint and need enough conversions to "
                    "be reliable.",
                ],
            ),
            (
                "Attribution models and privacy",
                [
                    "Privacy rules shorten cookie lifetimes, so attribution models increasingly rely on "
                    "first-party data and server-side tracking.",
                ],
            ),
        ],
    ),
    "/blog/first-party-data": Article(
        "First-party data strategy for marketers",
        [
            (
                "Why first-party data",
                [
                    "First-party data is information your visitors share with you directly. As third-party "
                    "cookies disappear, a first-party data strategy keeps your marketing measurable.",
                    "Collect first-party data with clear consent and use it to personalise content.",
                ],
            ),
        ],
    ),
    "/blog/conversion-funnels": Article(
        "Conversion funnels with privacy-first analytics",
        [
            (
                "Funnels without cookies",
                [
                    "Metricly measures conversion funnels with server-side tracking, so every step of the "
                    "conversion funnel is counted even when cookies are refused.",
                ],
            ),
        ],
    ),
}

NAV = [("/", "Home"), ("/pricing", "Pricing"), ("/blog/dashboards", "Blog")]


def build_pages(
    articles: dict[str, Article], name: str, replacements: dict[str, str]
) -> dict[str, str]:
    """Render every article of a fixture site to HTML, filling link placeholders."""
    pages = {}
    for path, article in articles.items():
        links = [link.format(**replacements) for link in article.links]
        nav = [(p, label) for p, label in NAV if p in articles]
        nav += [(p, a.title.split(":")[0]) for p, a in articles.items() if p not in dict(NAV)]
        pages[path] = render(name, path, Article(article.title, article.sections, links), nav)
    return pages


def start_sites(latency: float = 0.0) -> tuple[SiteServer, SiteServer]:
    """Start the Acme site and the Metricly competitor on 127.0.0.1; return (site, rival)."""
    rival = SiteServer(build_pages(RIVAL, "Metricly", {}), latency=latency).start()
    site = SiteServer(
        build_pages(ACME, "Acme Analytics", {"rival": rival.url}), latency=latency
    ).start()
    return site, rival
