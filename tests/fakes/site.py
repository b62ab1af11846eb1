"""A fixture website server on 127.0.0.1: real HTTP, configurable latency, a request log."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Article:
    """One page of a fixture site: title, sections of (heading, paragraphs), links."""

    title: str
    sections: list[tuple[str, list[str]]]
    links: list[str] = field(default_factory=list)


def render(site_name: str, path: str, article: Article, nav: list[tuple[str, str]]) -> str:
    """Return a full HTML page with navigation and footer boilerplate around the article."""
    menu = "".join(f'<li><a href="{href}">{html.escape(label)}</a></li>' for href, label in nav)
    body = "".join(
        f"<h2>{html.escape(heading)}</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in paras)
        for heading, paras in article.sections
    )
    extra = "".join(
        f'<p>Further reading: <a href="{link}">{link}</a></p>' for link in article.links
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(article.title)} | {site_name}</title></head><body>"
        f"<header><nav><ul>{menu}</ul></nav></header>"
        f"<main><article><h1>{html.escape(article.title)}</h1>{body}{extra}</article></main>"
        f"<footer><p>Copyright 2026 {site_name}. All rights reserved. Privacy policy. "
        f"Terms of service. Contact us.</p></footer></body></html>"
    )


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print clients hanging up."""

    def handle_error(self, request: object, client_address: object) -> None:
        return


class SiteServer:
    """Serves a fixture site (path -> HTML) with a sitemap, robots.txt and optional latency."""

    def __init__(
        self,
        pages: Mapping[str, str],
        *,
        latency: float = 0.0,
        extra: Mapping[str, tuple[int, str, bytes]] | None = None,
    ) -> None:
        self.pages = dict(pages)
        self.latency = latency
        self.extra = dict(extra or {})
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.hold: Callable[[str], bool] = lambda path: False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to some answers.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, with a trailing slash."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def start(self) -> SiteServer:
        """Start serving in a background thread."""
        self.thread.start()
        return self

    def hold_paths(self, predicate: Callable[[str], bool]) -> None:
        """Make requests for matching paths wait until `gate` is set; `held` tells one arrived."""
        self.hold = predicate
        self.gate.clear()

    def stop(self) -> None:
        """Stop serving."""
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def fetched(self, path: str) -> int:
        """How many times `path` was requested."""
        with self._lock:
            return sum(1 for p in self.requests if p == path)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append(path)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.hold(path):
                self.held.set()
                self.gate.wait()
            if self.latency:
                time.sleep(self.latency)
            status, ctype, body = self._answer(path)
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        if path in self.extra:
            return self.extra[path]
        if path in self.pages:
            return 200, "text/html; charset=utf-8", self.pages[path].encode()
        if path == "/robots.txt":
            return (
                200,
                "text/plain",
                f"User-agent: *\nAllow: /\nSitemap: {self.url}sitemap.xml\n".encode(),
            )
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{self.url.rstrip('/')}{p}</loc></url>" for p in self.pages)
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return 200, "application/xml", xml.encode()
        return 404, "text/html", b"<html><body><h1>Not found</h1></body></html>"
