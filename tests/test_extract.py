"""extract_page: title, headings, main text, links and language from real-world-shaped HTML."""

from __future__ import annotations

import pytest

from research.errors import UnreadablePage
from research.net.encoding import decode_html
from research.net.extract import extract_page, refresh_target_of

ARTICLE = """<!doctype html>
<html lang="de-DE"><head><title>Rosen schneiden</title>
<base href="https://www.garden.example/blog/">
<script>var tracking = "do not show me";</script><style>p { color: red }</style></head>
<body>
<nav><a href="/">Home</a> <a href="#top">Top</a> <a href="mailto:x@garden.example">Mail</a></nav>
<article>
<h1>Rosen schneiden im Winter</h1>
<p>Wer seine Rosen im Winter schneidet, sollte auf Frost achten und scharfe Scheren nutzen.</p>
<h2>Werkzeug</h2>
<p>Eine gute Rosenschere ist das wichtigste Werkzeug für den Rückschnitt im Garten.</p>
<h3>Pflege der Schere</h3>
<p>Nach dem Schneiden die Klingen reinigen, ölen und trocken lagern.</p>
<h4>Not a heading we keep</h4>
<p>Mehr dazu in <a href="compost?utm_source=news&amp;id=3#part">Kompost</a> und bei
<a href="https://other.example/roses">anderen Gärtnern</a>,
<a href="javascript:void(0)">nichts</a>, <a href="ftp://files.example/x">ftp</a>.</p>
</article>
</body></html>"""


def test_article_is_extracted_with_links_headings_and_language() -> None:
    page = extract_page(ARTICLE, "https://www.garden.example/blog/rosen", depth=2, status=200)
    assert page.title == "Rosen schneiden"
    assert page.headings == ["Rosen schneiden im Winter", "Werkzeug", "Pflege der Schere"]
    assert "scharfe Scheren" in page.text
    assert "Rosenschere" in page.text
    assert "do not show me" not in page.text
    assert "color: red" not in page.text
    assert page.language == "de"
    assert page.depth == 2
    assert page.links == [
        "https://www.garden.example/",
        "https://www.garden.example/blog/compost?id=3",
        "https://other.example/roses",
    ]


def test_script_only_page_is_read_empty_and_empty_or_binary_pages_are_unreadable() -> None:
    script = "<html><body><script>document.write('x')</script></body></html>"
    page = extract_page(script, "https://e.example/")
    assert (page.text, page.title, page.headings, page.links) == ("", "", [], [])
    for markup in ("", "   ", "\x00\x01\x02<<<>>>", b"%PDF-1.4\x00\x00\x01\x02\x03\x04binary"):
        with pytest.raises(UnreadablePage, match="could not be read as HTML"):
            extract_page(markup, "https://e.example/x")


XHTML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
  "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" lang="en" xml:lang="en">
<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<title>Image processing | Hugo</title><meta property="og:site_name" content="Hugo" /></head>
<body><nav><a href="/menus">Menus</a></nav><main>
<h1>Image processing</h1>
<p>Resize, crop and filter images at build time, and read their EXIF data from templates.</p>
<h2>Resize an image</h2><p>Call the resize method with the target width and height.</p>
</main></body></html>"""


def _assert_image_page(page_markup: str | bytes) -> None:
    page = extract_page(page_markup, "https://docs.example/image-processing")
    assert page.title == "Image processing | Hugo"
    assert page.site_name == "Hugo"
    assert page.headings == ["Image processing", "Resize an image"]
    assert "crop and filter images" in page.text
    assert page.links == ["https://docs.example/menus"]
    assert page.language == "en"


def test_code_blocks_are_not_prose_but_inline_code_stays() -> None:
    markup = (
        "<html><head><title>Search keys</title></head><body><article><h1>Search keys</h1>"
        "<p>Every request sends the <code>search_key</code> header with its search key.</p>"
        "<pre><code>curl -H 'Authorization: Bearer MEILISEARCH_KEY' localhost</code></pre>"
        "<p>Rotate the search key every month, and keep the old key for a day.</p>"
        "</article></body></html>"
    )
    page = extract_page(markup, "https://docs.example/keys")
    assert "search_key" in page.text and "Rotate the search key" in page.text
    assert "MEILISEARCH_KEY" not in page.text and "curl" not in page.text


def test_xhtml_with_an_xml_declaration_is_read_as_text_or_bytes() -> None:
    _assert_image_page(XHTML)
    _assert_image_page(XHTML.encode("utf-8"))
    _assert_image_page(decode_html(XHTML.encode("utf-8"), "application/xhtml+xml"))
    _assert_image_page(XHTML.replace(' encoding="UTF-8"', ""))  # declaration without encoding


def test_page_with_a_byte_order_mark_is_read() -> None:
    markup = XHTML.split("\n", 1)[1]  # HTML without the declaration
    _assert_image_page("\ufeff" + markup)
    _assert_image_page(b"\xef\xbb\xbf" + markup.encode("utf-8"))
    _assert_image_page(decode_html(b"\xef\xbb\xbf" + markup.encode("utf-8"), "text/html"))
    # a BOM before an XML declaration, as text and as bytes
    _assert_image_page("\ufeff" + XHTML)
    _assert_image_page(b"\xef\xbb\xbf" + XHTML.encode("utf-8"))


def test_page_in_a_mis_declared_charset_is_read_in_the_sniffed_one() -> None:
    german = XHTML.replace("Resize, crop", "Größe ändern, crop").replace("utf-8", "iso-8859-1")
    body = german.encode("utf-8")  # declared Latin-1 in both header and meta, but UTF-8
    page = extract_page(
        decode_html(body, "text/html; charset=iso-8859-1"), "https://docs.example/image-processing"
    )
    assert "Größe ändern" in page.text
    latin = german.replace(' encoding="UTF-8"', ' encoding="ISO-8859-1"').encode("latin-1")
    page = extract_page(decode_html(latin, "text/html; charset=utf-8"), "https://docs.example/x")
    assert "Größe ändern" in page.text and page.headings == ["Image processing", "Resize an image"]


def test_malformed_html_still_yields_text_and_headings() -> None:
    markup = (
        "<html><body><p>Unclosed <b>bold <div><h2>Broken heading</h3>"
        "<p>Still readable text &amp more </tr></table></span><a href='/about'>about"
    )
    page = extract_page(markup, "https://e.example/x")
    assert "Broken heading" in page.headings
    assert "Still readable text & more" in page.text
    assert page.links == ["https://e.example/about"]
    assert page.title == "Broken heading"  # no <title>: the first heading stands in


def test_meta_refresh_target_is_a_link() -> None:
    markup = '<html><head><meta http-equiv="Refresh" content="3;URL=\'/new-home\'"></head></html>'
    assert refresh_target_of(markup, "https://e.example/") == "https://e.example/new-home"
    assert extract_page(markup, "https://e.example/").links == ["https://e.example/new-home"]
    assert refresh_target_of("<html><body>hi</body></html>", "https://e.example/") is None


def test_language_is_guessed_when_not_declared() -> None:
    samples = {
        "en": "This page is about the garden and the tools you need for pruning roses in winter.",
        "de": "Wer seine Rosen im Winter schneidet, sollte auf Frost achten und die Schere ölen.",
        "fr": "La rose est une fleur que les jardiniers aiment pour sa beauté et son parfum.",
        "ja": "日本語のページです。東京の天気は晴れです。今日はいい天気ですね。",
    }
    for language, text in samples.items():
        page = extract_page(f"<html><body><p>{text}</p></body></html>", "https://e.example/")
        assert page.language == language, text
    short = extract_page("<html><body><p>Home About</p></body></html>", "https://e.example/")
    assert short.language is None
