"""extract_page: title, headings, main text, links and language from real-world-shaped HTML."""

from __future__ import annotations

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


def test_empty_script_only_and_binary_garbage_pages_give_empty_pages() -> None:
    for markup in ("", "   ", "<html><body><script>document.write('x')</script></body></html>"):
        page = extract_page(markup, "https://e.example/")
        assert (page.text, page.title, page.headings, page.links) == ("", "", [], [])
    garbage = extract_page("\x00\x01\x02<<<>>>", "https://e.example/")
    assert garbage.links == [] and garbage.headings == []


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
