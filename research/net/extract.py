"""HTML or XHTML -> Page: main text, title, headings, links, language (blocking; off the loop)."""

from __future__ import annotations

import re

import justext.core
import trafilatura
import trafilatura.external
from lxml import etree, html

from research.errors import UnreadablePage
from research.models import Page
from research.net.encoding import decode_html
from research.net.urls import normalize_url
from research.text.language import guess_language

_REFRESH_URL = re.compile(r"""^\s*\d*\.?\d*\s*[;,]?\s*(?:url\s*=\s*)?["']?([^"']+)["']?""", re.I)
_LANG = re.compile(r"^[a-zA-Z]{2,3}")
_SPACES = re.compile(r"\s+")
MAX_LINKS = 5000  # a page with more links than this is a link farm; the rest are dropped
_NON_TEXT = ("script", "style", "noscript", "template", "svg")
# lxml refuses a str that declares its encoding, so the XML declaration goes before parsing.
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
# Control characters never occur in HTML text: this share of them means binary served as HTML.
_BINARY_SHARE = 0.01
_SNIFF_CHARS = 4096


def _clean(text: str | None) -> str:
    return _SPACES.sub(" ", text or "").strip()


def _parse(markup: str | bytes) -> html.HtmlElement | None:
    """Parse HTML or XHTML (with or without an XML declaration or BOM); None if it is not."""
    text = decode_html(markup) if isinstance(markup, bytes) else markup
    text = _XML_DECLARATION.sub("", text.lstrip("\ufeff"), count=1)
    head = text[:_SNIFF_CHARS]
    if not text.strip() or len(_CONTROL.findall(head)) > _BINARY_SHARE * len(head):
        return None
    try:
        return html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return None


def refresh_target(tree: html.HtmlElement, url: str) -> str | None:
    """Return the absolute URL a <meta http-equiv="refresh"> points to, if any."""
    for meta in tree.iter("meta"):
        if (meta.get("http-equiv") or "").strip().lower() == "refresh":
            match = _REFRESH_URL.match(meta.get("content") or "")
            if match and match.group(1).strip():
                return normalize_url(match.group(1).strip(), url)
    return None


def refresh_target_of(markup: str | bytes, url: str) -> str | None:
    """Return the absolute URL an HTML page's meta refresh points to, if any."""
    tree = _parse(markup)
    return None if tree is None else refresh_target(tree, url)


def _base_url(tree: html.HtmlElement, url: str) -> str:
    for base in tree.iter("base"):
        href = base.get("href")
        if href:
            return normalize_url(href, url) or url
    return url


def _links(tree: html.HtmlElement, url: str) -> list[str]:
    base = _base_url(tree, url)
    found: dict[str, None] = {}
    for anchor in tree.iter("a", "area"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
            continue
        absolute = normalize_url(href, base)
        if absolute is not None and absolute != url:
            found[absolute] = None
            if len(found) >= MAX_LINKS:
                break
    refresh = refresh_target(tree, url)
    if refresh is not None and refresh != url:
        found[refresh] = None
    return list(found)


def _language(tree: html.HtmlElement) -> str | None:
    candidates = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.iter("meta"):
        if (meta.get("http-equiv") or "").lower() == "content-language":
            candidates.append(meta.get("content"))
        if (meta.get("property") or "").lower() == "og:locale":
            candidates.append(meta.get("content"))
    for value in candidates:
        match = _LANG.match((value or "").strip())
        if match:
            return match.group(0).lower()
    return None


def _visible_text(tree: html.HtmlElement) -> str:
    """Return the page's visible text; drops script/style subtrees from `tree`."""
    for element in list(tree.iter(*_NON_TEXT)):
        element.drop_tree()
    body = tree.find("body")
    root = body if body is not None else tree
    return _clean(" ".join(root.itertext()))


def _paragraphs(text: str | None) -> str:
    return "\n".join(line for raw in (text or "").splitlines() if (line := _clean(raw)))


def _site_name(tree: html.HtmlElement) -> str:
    """The name the page gives its site (og:site_name, else application-name)."""
    for wanted in ("og:site_name", "application-name"):
        for meta in tree.iter("meta"):
            if (meta.get("property") or meta.get("name") or "").strip().lower() == wanted:
                name = _clean(meta.get("content"))
                if name:
                    return name
    return ""


def prepare_extraction() -> None:
    """Build the stop lists trafilatura builds once per process on first need, ahead of pages."""
    # Its justext fallback joins the stop lists of 100 languages and justext lower-cases them
    # into a cached set (0.8 s of CPU together) during the first page that needs them; in a
    # worker process every page queued behind that page waited too.
    justext.core.define_stoplist(trafilatura.external.jt_stoplist_init())


def extract_page(markup: str | bytes, url: str, *, depth: int = 0, status: int = 200) -> Page:
    """Extract a Page (title, headings, main text, language, all http(s) links) from HTML.

    Raises UnreadablePage when the markup is empty, binary or not HTML at all.
    """
    tree = _parse(markup)
    if tree is None:
        raise UnreadablePage(f"{url} {UnreadablePage.PHRASE}.", url)
    title = _clean(tree.findtext(".//title"))
    site_name = _site_name(tree)
    headings = [
        text for element in tree.iter("h1", "h2", "h3") if (text := _clean(element.text_content()))
    ]
    links = _links(tree, url)
    language = _language(tree)
    # Metadata (dates, authors) is not used and costs a third of the time; trafilatura copies
    # the tree it is given, so the parse is shared.
    try:
        document = trafilatura.bare_extraction(
            tree,
            url=url,
            favor_recall=True,
            include_comments=False,
            include_tables=True,
            with_metadata=False,
        )
    except (ValueError, etree.LxmlError, RecursionError):
        document = None  # pathological markup: fall back to the visible text
    text = _paragraphs(getattr(document, "text", None)) if document is not None else ""
    if not text:
        text = _visible_text(tree)
    language = language or guess_language(text)
    return Page(
        url=url,
        title=title or (headings[0] if headings else ""),
        site_name=site_name,
        headings=headings,
        text=text,
        language=language,
        links=links,
        depth=depth,
        status=status,
    )
