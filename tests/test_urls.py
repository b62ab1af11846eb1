"""The one URL normaliser: hosts, origins, sites, validation and crawl keys (research.net.urls)."""

from __future__ import annotations

import pytest

from research.errors import InvalidURL
from research.models import DiscoveryRequest
from research.net.urls import (
    check_url,
    dedupe_key,
    endpoint_of,
    host_of,
    normalize_start_url,
    normalize_url,
    origin_of,
    site_key,
    trap_key,
)

# url -> (host_of, origin_of, site_key)
HOSTS = {
    "https://Example.com:443/x": ("example.com", "https://example.com", "example.com"),
    "http://example.com:80/": ("example.com", "http://example.com", "example.com"),
    "https://example.com:80/": ("example.com:80", "https://example.com:80", "example.com:80"),
    "http://example.com:443/": ("example.com:443", "http://example.com:443", "example.com:443"),
    "https://example.com:8443/": (
        "example.com:8443",
        "https://example.com:8443",
        "example.com:8443",
    ),
    "HTTPS://WWW.EXAMPLE.COM/": ("www.example.com", "https://www.example.com", "example.com"),
    "https://example.com./a": ("example.com", "https://example.com", "example.com"),
    "https://Bücher.DE/": ("xn--bcher-kva.de", "https://xn--bcher-kva.de", "xn--bcher-kva.de"),
    "https://www.bücher.de.:443/": (
        "www.xn--bcher-kva.de",
        "https://www.xn--bcher-kva.de",
        "xn--bcher-kva.de",
    ),
    "https://user:pw@example.com/": ("example.com", "https://example.com", "example.com"),
    "http://[::1]:8080/": ("[::1]:8080", "http://[::1]:8080", "[::1]:8080"),
    "http://127.0.0.1:8080/": ("127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1:8080"),
    "https://www2.example.com/": (
        "www2.example.com",
        "https://www2.example.com",
        "www2.example.com",
    ),
}


@pytest.mark.parametrize("url", list(HOSTS))
def test_hosts_origins_and_sites_follow_one_rule(url: str) -> None:
    assert (host_of(url), origin_of(url), site_key(url)) == HOSTS[url]


def test_bare_hosts_are_read_as_https() -> None:
    assert site_key("www.Example.com") == site_key("example.com:443") == "example.com"
    assert site_key("example.com:8080") == "example.com:8080"
    assert site_key("") == host_of("https:///x") == ""


def test_normalize_url_is_canonical_and_drops_what_does_not_name_the_page() -> None:
    assert normalize_url("HTTP://Example.COM:80/a/b?utm_source=x&b=2&a=1#frag") == (
        "http://example.com/a/b?b=2&a=1"
    )
    assert normalize_url("https://example.com:443") == "https://example.com/"
    assert normalize_url("https://example.com:8443/x") == "https://example.com:8443/x"
    assert normalize_url("https://Bücher.de./Straße") == "https://xn--bcher-kva.de/Straße"
    assert normalize_url("https://www.example.com/") == "https://www.example.com/"
    assert normalize_url("../c?gclid=1", "https://example.com/a/b/") == "https://example.com/a/c"
    assert normalize_url("mailto:a@example.com") is None
    assert normalize_url("javascript:void(0)") is None
    assert normalize_url("https://example.com:99999/") is None
    assert normalize_url("https://example.com/" + "a" * 3000) is None
    # Credentials stay, so the fetcher refuses such a link with its reason.
    assert normalize_url("https://u:p@Example.com:443/") == "https://u:p@example.com/"


def test_crawl_keys_treat_www_and_the_bare_host_as_one_site() -> None:
    assert dedupe_key("https://www.example.com/about/") == dedupe_key("http://example.com/about")
    assert dedupe_key("https://example.com/?b=2&a=1") == dedupe_key("https://example.com/?a=1&b=2")
    assert dedupe_key("https://example.com/a") != dedupe_key("https://example.com/b")
    assert dedupe_key("https://Example.com:443/a") == dedupe_key("https://example.com/a")
    assert trap_key("https://e.com/cal/2026/11") == trap_key("https://e.com/cal/2031/2?x=1")


def test_endpoints_default_their_port_by_scheme() -> None:
    assert endpoint_of("https://Bücher.de/") == ("xn--bcher-kva.de", 443)
    assert endpoint_of("http://example.com/") == ("example.com", 80)
    assert endpoint_of("http://[::1]:8080/") == ("[::1]", 8080)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "is not a web address: only http and https URLs are fetched."),
        ("https://user:secret@example.com/", "carries a user name or password"),
        ("http://example.com:99999/", "has an invalid port."),
        ("http:///path", "has no valid host name."),
        ("https://bü..de/", "has no valid host name."),
    ],
)
def test_check_url_refuses_with_one_error_class(url: str, reason: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        check_url(url)
    assert reason in caught.value.message
    assert "secret" not in caught.value.message


def test_start_urls_are_validated_and_canonical() -> None:
    assert normalize_start_url(" Example.COM:443/Path?q=1#top ") == "https://example.com/Path?q=1"
    assert normalize_start_url("http://Bücher.de.") == "http://xn--bcher-kva.de/"
    assert normalize_start_url("http://localhost:8501") == "http://localhost:8501/"
    assert normalize_start_url("http://[::1]:8080") == "http://[::1]:8080/"
    for value, reason in [
        ("", "Enter a website URL"),
        ("not a url", "contains spaces"),
        ("intranet", "no proper host name"),
        ("ftp://example.com", "only http and https"),
        ("https://user:secret@example.com", "carries a user name or password"),
        ("example.com:http", "invalid port"),
    ]:
        with pytest.raises(InvalidURL, match=reason):
            normalize_start_url(value)
    request = DiscoveryRequest(url="WWW.Example.com:443", competitors=["rival.com", "Rival.com/"])
    assert (request.url, request.competitors) == (
        "https://www.example.com/",
        ["https://rival.com/"],
    )
