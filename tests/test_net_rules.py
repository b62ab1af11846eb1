"""The network layer's pure rules: address policy, robots.txt, sitemaps, charsets."""

from __future__ import annotations

import gzip
import ipaddress
import re
import zlib

import pytest

from research.config import USER_AGENT, Settings
from research.errors import ConfigError, HostNotAllowed
from research.net.encoding import Inflater, decode_html
from research.net.policy import AddressPolicy, check_fetchable, refusal
from research.net.robots import Robots
from research.net.sitemap import parse_sitemap


def test_address_policy_classifies_addresses() -> None:
    public, private = AddressPolicy(), AddressPolicy(allow_private=True)
    intranet = AddressPolicy.build(False, ["10.1.0.0/16"])
    cases = [
        ("93.184.216.34", None, None, None),
        ("2606:4700::1111", None, None, None),
        ("127.0.0.1", "private", None, "private"),
        ("10.1.2.3", "private", None, None),
        ("10.2.0.1", "private", None, "private"),
        ("192.168.1.1", "private", None, "private"),
        ("100.64.0.1", "private", None, "private"),
        ("::1", "private", None, "private"),
        ("fe80::1", "private", None, "private"),
        ("::ffff:10.0.0.1", "private", None, "private"),
        ("224.0.0.1", "private", "private", "private"),
        ("169.254.169.254", "metadata", "metadata", "metadata"),
        ("::ffff:169.254.169.254", "metadata", "metadata", "metadata"),
        ("fd00:ec2::254", "metadata", "metadata", "metadata"),
        # IPv6 addresses that carry an IPv4 address are judged by it (6to4, NAT64)
        ("2002:a9fe:a9fe::1", "metadata", "metadata", "metadata"),
        ("64:ff9b::a9fe:a9fe", "metadata", "metadata", "metadata"),
        ("2002:7f00:1::1", "private", None, "private"),
        ("64:ff9b::a01:203", "private", None, None),
        ("64:ff9b::5db8:d822", None, None, None),
    ]
    for address, strict, lenient, with_intranet in cases:
        ip = ipaddress.ip_address(address)
        assert refusal(ip, public) == strict, address
        assert refusal(ip, private) == lenient, address
        assert refusal(ip, intranet) == with_intranet, address
    with pytest.raises(HostNotAllowed, match="invalid port"):
        check_fetchable("http://example.com:99999/")


def test_private_hosts_and_allowed_networks_come_from_the_environment() -> None:
    for value, allowed in (("1", True), ("true", True), ("0", False), ("", False)):
        env = {"RESEARCH_ALLOW_PRIVATE_HOSTS": value}
        assert Settings.from_env(env, secrets_file=None).allow_private_hosts is allowed, value
    env = {"RESEARCH_ALLOWED_NETWORKS": "10.1.0.0/16, 192.168.5.7 fd12::/64"}
    settings = Settings.from_env(env, secrets_file=None)
    assert settings.allowed_networks == ["10.1.0.0/16", "192.168.5.7/32", "fd12::/64"]
    assert Settings.from_env({}, secrets_file=None).allowed_networks == []
    with pytest.raises(ConfigError, match=re.escape("'10.0.0.0/33' is not a network")):
        Settings.from_env({"RESEARCH_ALLOWED_NETWORKS": "10.0.0.0/33"}, secrets_file=None)


def test_charsets_are_decoded() -> None:
    text = "Crème brûlée, façade, naïve"
    assert decode_html(text.encode("latin-1"), "text/html; charset=ISO-8859-1") == text
    assert decode_html(text.encode("cp1252"), "text/html") == text  # detected
    assert decode_html(text.encode(), "text/html; charset=iso-8859-1") == text  # wrong header
    japanese = "<html><head><meta charset='shift_jis'></head><body>日本語のページ</body></html>"
    assert "日本語のページ" in decode_html(japanese.encode("shift_jis"), "text/html")
    undeclared = "<html><body>" + "これは日本語で書かれたページです。" * 20 + "</body></html>"
    assert "日本語で書かれた" in decode_html(undeclared.encode("shift_jis"), "text/html")
    assert decode_html("hello".encode("utf-8-sig"), "") == "hello"
    assert decode_html(b"", "text/html") == ""


def test_robots_rules_and_crawl_delay_for_our_agent() -> None:
    text = """
# comment
User-agent: Googlebot
Crawl-delay: 9
Disallow: /

User-agent: ResearchLab
User-agent: OtherBot
Crawl-delay: 0.5
Disallow: /drafts/

User-agent: *
Crawl-delay: 2
Disallow: /private/
Sitemap: https://e.example/sitemap-a.xml
"""
    ours = Robots(text, USER_AGENT)
    assert ours.crawl_delay == 0.5
    assert not ours.allowed("https://e.example/drafts/x")
    assert ours.allowed("https://e.example/private/x")  # our own group replaces '*'
    assert ours.sitemaps == ["https://e.example/sitemap-a.xml"]
    anyone = Robots(text, "SomeCrawler/1.0")
    assert anyone.crawl_delay == 2.0
    assert not anyone.allowed("https://e.example/private/x")
    assert Robots(None, USER_AGENT).allowed("https://e.example/anything")
    assert Robots("Crawl-delay: soon\n", USER_AGENT).crawl_delay == 0.0


def test_sitemaps_parse_plain_index_gzip_and_refuse_entities() -> None:
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc> https://e.example/a </loc></url><url><loc>https://e.example/b</loc></url>"
        b"</urlset>"
    )
    assert parse_sitemap(urlset) == (["https://e.example/a", "https://e.example/b"], [])
    assert parse_sitemap(gzip.compress(urlset)) == parse_sitemap(urlset)
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>https://e.example/s1.xml.gz</loc></sitemap></sitemapindex>"
    )
    assert parse_sitemap(index) == ([], ["https://e.example/s1.xml.gz"])
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        b'<!ENTITY file SYSTEM "file:///etc/passwd">]>'
        b"<urlset><url><loc>https://e.example/&c;&file;</loc></url></urlset>"
    )
    pages, _ = parse_sitemap(laughs)
    assert all("root:" not in page and "aaaaaaaaaa" * 10 not in page for page in pages)
    assert parse_sitemap(b"not xml at all") == ([], [])
    assert parse_sitemap(b"\x1f\x8b broken gzip") == ([], [])


def test_robots_wildcards_anchors_and_longest_match() -> None:
    text = """User-agent: *
Disallow: /*?sort=
Disallow: /*.pdf$
Disallow: /shop/
Allow: /shop/public/
Allow: /page
Disallow: /page
"""
    robots = Robots(text, USER_AGENT)
    assert not robots.allowed("https://e.example/list?sort=price")
    assert robots.allowed("https://e.example/list?page=2")
    assert not robots.allowed("https://e.example/files/report.pdf")
    assert robots.allowed("https://e.example/files/report.pdf.html")
    assert not robots.allowed("https://e.example/shop/cart")
    assert robots.allowed("https://e.example/shop/public/offer")  # the longer rule wins
    assert robots.allowed("https://e.example/page")  # Allow wins a tie
    assert robots.allowed("https://e.example/robots.txt")
    assert (
        Robots("User-agent: *\nDisallow: /\n", USER_AGENT).allowed("https://e.example/x") is False
    )
    assert Robots("User-agent: *\nDisallow:\n", USER_AGENT).allowed("https://e.example/x")


def test_inflater_decodes_gzip_and_both_deflates_within_the_cap() -> None:
    body = b"<html>" + b"x" * 5000 + b"</html>"
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    encoded = {
        "gzip": gzip.compress(body),
        "deflate": zlib.compress(body),
        "identity": body,
    }
    for encoding, data in encoded.items():
        assert Inflater(encoding).feed(data, len(body)) == body, encoding
    assert Inflater("deflate").feed(raw.compress(body) + raw.flush(), len(body)) == body
    assert len(Inflater("gzip").feed(encoded["gzip"], 100)) == 101  # one past the cap: too big
    with pytest.raises(zlib.error):
        Inflater("gzip").feed(b"\x1f\x8b not really gzip", 100)
