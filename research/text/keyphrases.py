"""Site analysis: title, language, keyphrases and outbound link domains of a crawled site."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from research.errors import UnreadablePage
from research.models import Keyphrase, Page, PageIssue, SiteAnalysis
from research.net.urls import site_key
from research.text.phrases import phrase_score, site_phrases

MAX_KEYPHRASES = 50
MAX_URLS_PER_PHRASE = 20
# A site with fewer pages of readable text than this, or no keyphrase, is thin.
THIN_PAGES = 3
# A page with fewer words than this has no readable text to speak of.
MIN_TEXT_WORDS = 40

# Hosts that are linked from everywhere and are never a content competitor.
NON_COMPETITORS = (
    "facebook.com", "fb.com", "fb.me", "twitter.com", "x.com", "t.co", "linkedin.com",
    "lnkd.in", "instagram.com", "youtube.com", "youtu.be", "pinterest.com", "tiktok.com",
    "reddit.com", "threads.net", "mastodon.social", "bsky.app", "whatsapp.com", "telegram.org",
    "discord.gg", "discord.com", "snapchat.com", "tumblr.com", "vimeo.com", "flickr.com",
    "medium.com", "substack.com", "github.com", "gitlab.com", "google.com", "goo.gl",
    "googleapis.com", "gstatic.com", "googletagmanager.com", "google-analytics.com",
    "doubleclick.net", "youtube-nocookie.com", "wikipedia.org", "wikimedia.org",
    "wikidata.org", "apple.com", "microsoft.com", "amazon.com", "amzn.to", "amazonaws.com",
    "cloudfront.net", "cloudflare.com", "jsdelivr.net", "unpkg.com", "cdnjs.com", "akamaihd.net",
    "fastly.net", "bootstrapcdn.com", "fontawesome.com", "typekit.net", "gravatar.com",
    "wp.com", "wordpress.org", "wordpress.com", "w3.org", "schema.org", "ogp.me", "bit.ly",
    "mailchimp.com", "list-manage.com", "paypal.com", "stripe.com", "shopify.com",
    "creativecommons.org", "archive.org", "feedburner.com", "disqus.com", "gmpg.org",
)  # fmt: skip


def analyse_site(url: str, pages: list[Page], issues: list[PageIssue]) -> SiteAnalysis:
    """Return the analysis of a crawled site: title, language, keyphrases, outbound domains."""
    domain = site_key(url)
    site = site_phrases(domain, pages)
    keyphrases = [
        Keyphrase(
            keyword=stat.label,
            score=round(phrase_score(stat), 3),
            pages=stat.pages,
            urls=[u for u, _ in sorted(stat.weights.items(), key=lambda kv: (-kv[1], kv[0]))][
                :MAX_URLS_PER_PHRASE
            ],
        )
        for stat in [s for s in site.ranked if s.listed()][:MAX_KEYPHRASES]
    ]
    return SiteAnalysis(
        url=url,
        domain=domain,
        title=_home_title(url, pages),
        language=site.language if pages else None,
        pages=[
            page.model_copy(update={"keyphrases": site.page_keyphrases.get(page.url, [])})
            for page in pages
        ],
        issues=list(issues),
        keyphrases=keyphrases,
        outbound_domains=[link.domain for link in outbound_links(domain, pages)],
        thin=thin_reason(domain, pages, issues, len(keyphrases)),
    )


def _pages(count: int) -> str:
    return f"{count} page{'s' if count != 1 else ''}"


def thin_reason(domain: str, pages: Sequence[Page], issues: Sequence[PageIssue], found: int) -> str:
    """One sentence naming the site and the likely cause when it gave little text; else ""."""
    readable = sum(1 for page in pages if len(page.text.split()) >= MIN_TEXT_WORDS)
    if readable >= THIN_PAGES and found:
        return ""
    unreadable = sum(1 for issue in issues if UnreadablePage.PHRASE in issue.reason)
    if unreadable and unreadable >= readable:
        cause = f"{_pages(unreadable)} could not be read as HTML (see the Run log)"
    elif len(pages) >= THIN_PAGES and readable < THIN_PAGES:
        cause = (
            f"only {readable} of its {len(pages)} pages carry readable text; the rest may be "
            "drawn by JavaScript, which the crawler does not run"
        )
    elif len(pages) < THIN_PAGES and issues:
        cause = (
            f"only {_pages(len(pages))} could be crawled and {len(issues)} more were refused, "
            "skipped or failed (see the Run log)"
        )
    elif len(pages) < THIN_PAGES:
        cause = (
            f"only {_pages(len(pages))} could be found; give a start page with more links "
            "or raise the page limit"
        )
    else:
        cause = "its pages share no recurring phrases to compare"
    return f"{domain} yielded little readable text: {cause}."


def _home_title(url: str, pages: Sequence[Page]) -> str:
    if not pages:
        return ""
    wanted = url.rstrip("/")
    for page in pages:
        if page.url.rstrip("/") == wanted:
            return page.title
    return min(pages, key=lambda p: (p.depth, len(p.url), p.url)).title


def is_non_competitor(domain: str) -> bool:
    """Whether a linked host is a social network, CDN, search engine or reference site."""
    host = domain.split(":")[0]
    return any(host == d or host.endswith("." + d) for d in NON_COMPETITORS) or host.startswith(
        ("google.", "www.google.")
    )


@dataclass(frozen=True)
class OutboundLink:
    """An external host the site links to: from how many pages, and over which scheme."""

    domain: str
    pages: int
    scheme: str


def _same_site(host: str, domain: str) -> bool:
    """Whether a host is the site itself or one of its subdomains (blog.example.com)."""
    return host == domain or host.endswith("." + domain) or domain.endswith("." + host)


def outbound_links(domain: str, pages: Sequence[Page]) -> list[OutboundLink]:
    """Return the external hosts a site links to, most linked first (https wins a tie)."""
    counts: Counter[str] = Counter()
    schemes: dict[str, set[str]] = {}
    for page in pages:
        hosts: set[str] = set()
        for link in page.links:
            absolute = urljoin(page.url, link)
            scheme = urlsplit(absolute).scheme
            if scheme not in ("http", "https"):
                continue
            host = site_key(absolute)
            if host and not _same_site(host, domain) and not is_non_competitor(host):
                hosts.add(host)
                schemes.setdefault(host, set()).add(scheme)
        counts.update(hosts)
    return [
        OutboundLink(host, count, "https" if "https" in schemes[host] else "http")
        for host, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


NO_COMPETITOR = (
    "No competitor was analysed, so there are no content gaps; add competitor URLs to compare "
    "your site with theirs."
)
# Fewer gaps than this and the gap list needs explaining.
FEW_GAPS = 5


def why_few_gaps(
    site: SiteAnalysis | None,
    competitors: Sequence[SiteAnalysis],
    gaps: int,
    missing: Sequence[str] = (),
) -> list[str]:
    """Sentences saying why a run found few or no content gaps; none when it found enough."""
    if gaps >= FEW_GAPS:
        return []
    reasons = [f"{domain} could not be analysed (see the Run log)." for domain in missing]
    if not competitors:
        return [*reasons, NO_COMPETITOR]
    reasons += [s.thin for s in (site, *competitors) if s is not None and s.thin]
    if not reasons:
        count = "no subjects" if gaps == 0 else f"only {gaps} subject{'s' if gaps != 1 else ''}"
        reasons.append(
            f"The analysed competitors write about {count} your site does not already cover; "
            "add competitors that write about more of your market."
        )
    return reasons
