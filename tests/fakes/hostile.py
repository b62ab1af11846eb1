"""A hostile website on 127.0.0.1: one route per way a real site can hurt a crawler.

The server runs in its own threads (never on the event loop under test), speaks HTTP/1.1 with
keep-alive, and counts requests per path and concurrent connections, so tests can assert what
was fetched and how many sockets a crawl held open.
"""

from __future__ import annotations

import gzip
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

Route = Callable[["Handler"], None]

LATIN1_TEXT = "Café crème brûlée à la française"
SJIS_TEXT = "日本語のページです。東京の天気。"
UTF8_TEXT = "naïve façade — 東京 — Ærøskøbing"
HANG_LIMIT = 30.0  # a hanging route gives up after this long even if nobody stops it


class Handler(BaseHTTPRequestHandler):
    """One connection; dispatches each request to the server's route for its path."""

    protocol_version = "HTTP/1.1"
    server: FixtureServer

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""

    def setup(self) -> None:
        """Count the connection as open; send small writes at once (no Nagle delay)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connection_opened()

    def finish(self) -> None:
        """Count the connection as closed."""
        try:
            super().finish()
        finally:
            self.server.connection_closed()

    def do_GET(self) -> None:
        """Serve the route for this path (404 when there is none)."""
        path = urlsplit(self.path).path
        self.server.record(self.path, self.headers.get("User-Agent", ""))
        if self.server.latency:
            self.server.stopping.wait(self.server.latency)
        route = self.server.routes.get(path)
        try:
            if route is None:
                self.send(404, b"<html><body><h1>Not found</h1></body></html>")
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send a complete response."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        """Send a redirect."""
        self.send(status, b"", headers={"Location": location})

    def client_gone(self, timeout: float) -> bool:
        """Wait up to `timeout` s; return True when the client closed the connection."""
        readable, _, _ = select.select([self.connection], [], [], timeout)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class FixtureServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 with routes, latency and connection statistics."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, routes: dict[str, Route] | None = None, latency: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = routes if routes is not None else {}
        self.latency = latency
        self.stopping = threading.Event()
        self.hits: Counter[str] = Counter()
        self.requests: list[str] = []
        self.user_agents: set[str] = set()
        self.times: list[float] = []  # time.monotonic() of each request, in arrival order
        self.open_connections = 0
        self.peak_connections = 0
        self.disconnects: list[str] = []
        self._lock = threading.Condition()
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.02,), name="fixture-server", daemon=True
        )

    @property
    def base(self) -> str:
        """The server's base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return self.base + path

    def record(self, path: str, user_agent: str = "") -> None:
        """Remember a request."""
        with self._lock:
            self.times.append(time.monotonic())
            self.requests.append(path)
            self.user_agents.add(user_agent)
            self.hits[urlsplit(path).path] += 1
            self._lock.notify_all()

    def connection_opened(self) -> None:
        """Count a new connection."""
        with self._lock:
            self.open_connections += 1
            self.peak_connections = max(self.peak_connections, self.open_connections)

    def connection_closed(self) -> None:
        """Count a closed connection."""
        with self._lock:
            self.open_connections -= 1

    def note_disconnect(self, path: str) -> None:
        """Record that a client abandoned a hanging request."""
        with self._lock:
            self.disconnects.append(path)
            self._lock.notify_all()

    def wait_until(self, condition: Callable[[FixtureServer], bool], timeout: float) -> bool:
        """Block (in a worker thread) until `condition(server)` holds after a request or
        disconnect; return whether it did within `timeout` s."""
        with self._lock:
            return self._lock.wait_for(lambda: condition(self), timeout)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up early are part of the game; stay quiet about them."""

    def start(self) -> FixtureServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging routes, stop serving and close the socket."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serve(routes: dict[str, Route], latency: float = 0.0) -> Iterator[FixtureServer]:
    """Run a fixture server for the duration of the block."""
    server = FixtureServer(routes, latency).start()
    try:
        yield server
    finally:
        server.stop()


def html_page(title: str, body: str = "", links: list[str] | None = None) -> bytes:
    """A small, well-formed HTML page with a heading, a paragraph and links."""
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links or [])
    return (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head><body>'
        f"<h1>{title}</h1><p>{body or f'This page is about {title.lower()} in some detail.'}</p>"
        f"<ul>{anchors}</ul></body></html>"
    ).encode()


def page(title: str, body: str = "", links: list[str] | None = None) -> Route:
    """A route serving a small HTML page."""
    payload = html_page(title, body, links)
    return lambda handler: handler.send(200, payload)


def hang(handler: Handler) -> None:
    """Accept the request and never answer; note when the client gives up."""
    waited = 0.0
    while waited < HANG_LIMIT and not handler.server.stopping.is_set():
        if handler.client_gone(0.05):
            handler.server.note_disconnect(urlsplit(handler.path).path)
            break
        waited += 0.05
    handler.close_connection = True


def trickle(handler: Handler) -> None:
    """Send headers, then the body one byte per second."""
    body = html_page("Slow", "x" * 200)
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.flush()
    for index in range(len(body)):
        if handler.server.stopping.wait(1.0) or handler.client_gone(0):
            break
        handler.wfile.write(body[index : index + 1])
        handler.wfile.flush()
    handler.close_connection = True


def huge(handler: Handler) -> None:
    """A 10 MB HTML body announced by Content-Length."""
    size = 10 * 1024 * 1024
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(size))
    handler.end_headers()
    chunk = b"<p>" + b"a" * 65533
    for _ in range(size // len(chunk)):
        handler.wfile.write(chunk)
    handler.close_connection = True


def huge_chunked(handler: Handler) -> None:
    """A 10 MB HTML body without a length (chunked), so only streaming can cap it."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b"<p>" + b"b" * 65533
    for _ in range(160):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    handler.wfile.write(b"0\r\n\r\n")
    handler.close_connection = True


_BOMB = gzip.compress(b"<html><body>" + b"\0" * (32 * 1024 * 1024), compresslevel=9)


def bomb(handler: Handler) -> None:
    """32 MB of HTML compressed to about 32 KB."""
    handler.send(200, _BOMB, headers={"Content-Encoding": "gzip"})


def statuses(*codes: int, headers: dict[str, str] | None = None) -> Route:
    """A route answering with `codes` in turn (then 200 with a page)."""
    state = {"calls": 0}
    payload = html_page("Recovered", "This page answered after the server recovered.")

    def route(handler: Handler) -> None:
        call = state["calls"]
        state["calls"] += 1
        if call < len(codes):
            handler.send(codes[call], b"<html><body>busy</body></html>", headers=headers)
        else:
            handler.send(200, payload)

    return route


def calendar(handler: Handler) -> None:
    """An endless calendar: every month links to the next month and the next year."""
    parts = [p for p in urlsplit(handler.path).path.split("/") if p]
    year, month = (int(parts[1]), int(parts[2])) if len(parts) == 3 else (2026, 1)
    nxt = (year + (month // 12), month % 12 + 1)
    links = [f"/calendar/{nxt[0]}/{nxt[1]}", f"/calendar/{year + 1}/{month}"]
    handler.send(200, html_page(f"Calendar {year}-{month}", "Events this month.", links))


def listing(handler: Handler) -> None:
    """An endless listing: every page links to the next page and to sorted variants of itself."""
    query = dict(parse_qsl(urlsplit(handler.path).query))
    number = int(query.get("page", "1"))
    links = [f"/list?page={number + 1}", f"/list?page={number}&sort=price", "/list?sort=name"]
    handler.send(200, html_page(f"Listing page {number}", "Products on this page.", links))


class CalendarRoutes(dict[str, Route]):
    """Routes that answer every /calendar/... path with the calendar page."""

    def get(self, key: str, default: Route | None = None) -> Route | None:  # type: ignore[override]
        """Return the route for `key`, sending any calendar path to the calendar."""
        if key.startswith("/calendar/"):
            return calendar
        return super().get(key, default)


def hostile_site(port_of: Callable[[], int]) -> dict[str, Route]:
    """The hostile site's routes; `port_of` gives the server's port for absolute redirects."""
    regular = ["/about", "/blog/", "/blog/post-1", "/blog/post-2", "/contact"]
    cases = [
        "/slow", "/hang", "/big", "/big-chunked", "/bomb", "/loop-a", "/hop/1",
        "/to-metadata", "/to-private", "/flaky", "/busy", "/missing", "/private/secret",
        "/calendar/2026/1", "/latin1", "/sjis", "/utf8-wrong", "/report", "/doc.pdf",
        "/script-only", "/malformed", "/list?page=1", "https://example.org/elsewhere",
    ]  # fmt: skip

    def sitemap_index(handler: Handler) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>http://127.0.0.1:{port_of()}/sitemaps/pages.xml.gz</loc></sitemap>"
            "</sitemapindex>"
        ).encode()
        handler.send(200, body, "application/xml")

    def sitemap_pages(handler: Handler) -> None:
        urls = "".join(
            f"<url><loc>http://127.0.0.1:{port_of()}{path}</loc></url>"
            for path in ("/only-in-sitemap", "/about")
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        ).encode()
        handler.send(200, gzip.compress(body), "application/gzip")

    def robots(handler: Handler) -> None:
        body = (
            "User-agent: *\nDisallow: /private/\n\n"
            f"Sitemap: http://127.0.0.1:{port_of()}/sitemap.xml\n"
        ).encode()
        handler.send(200, body, "text/plain")

    def hop(handler: Handler) -> None:
        number = int(urlsplit(handler.path).path.rsplit("/", 1)[-1])
        handler.redirect(f"/hop/{number + 1}")

    routes: dict[str, Route] = CalendarRoutes(
        {
            "/": page("Home", "Welcome to the hostile garden shop.", regular + cases),
            "/about": page("About", "About our garden shop and its people.", ["/"]),
            "/blog/": page("Blog", "Notes on gardening.", ["/blog/post-1", "/blog/post-2"]),
            "/blog/post-1": page("Post one", "Pruning roses in winter.", ["/blog/"]),
            "/blog/post-2": page("Post two", "Composting kitchen waste.", ["/blog/"]),
            "/contact": page("Contact", "Write to us.", ["/"]),
            "/only-in-sitemap": page("Hidden", "Only the sitemap links here."),
            "/robots.txt": robots,
            "/sitemap.xml": sitemap_index,
            "/sitemaps/pages.xml.gz": sitemap_pages,
            "/list": listing,
            "/slow": trickle,
            "/hang": hang,
            "/big": huge,
            "/big-chunked": huge_chunked,
            "/bomb": bomb,
            "/loop-a": lambda h: h.redirect("/loop-b"),
            "/loop-b": lambda h: h.redirect("/loop-a", 301),
            "/to-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/"),
            "/to-private": lambda h: h.redirect(f"http://127.0.0.2:{port_of()}/"),
            "/flaky": statuses(500),
            "/busy": statuses(429, headers={"Retry-After": "3600"}),
            "/private/secret": page("Secret", "Robots say no."),
            "/latin1": lambda h: h.send(
                200,
                f"<html><body><h1>{LATIN1_TEXT}</h1><p>{LATIN1_TEXT}.</p></body></html>".encode(
                    "latin-1"
                ),
                "text/html; charset=iso-8859-1",
            ),
            "/sjis": lambda h: h.send(
                200,
                (
                    '<html><head><meta charset="shift_jis"></head>'
                    f"<body><h1>{SJIS_TEXT}</h1><p>{SJIS_TEXT}</p></body></html>"
                ).encode("shift_jis"),
                "text/html",
            ),
            "/utf8-wrong": lambda h: h.send(
                200,
                f"<html><body><h1>{UTF8_TEXT}</h1><p>{UTF8_TEXT}</p></body></html>".encode(),
                "text/html; charset=iso-8859-1",
            ),
            "/report": lambda h: h.send(200, b"%PDF-1.7\n" + b"\x00" * 2048, "application/pdf"),
            "/script-only": lambda h: h.send(
                200,
                b"<html><head><script>var a = 1;</script></head>"
                b"<body><script>document.write('hi');</script></body></html>",
            ),
            "/malformed": lambda h: h.send(
                200,
                b"<html><body><p>Unclosed <b>bold <div><h2>Broken heading</h3>"
                b"<p>Still readable text &amp more </tr></table></span><a href='/about'>about",
            ),
            "/refresh-start": lambda h: h.send(
                200,
                b'<html><head><meta http-equiv="refresh" content="0; url=/about"></head>'
                b"<body></body></html>",
            ),
        }
    )
    routes["/hop/1"] = hop
    for number in range(2, 12):
        routes[f"/hop/{number}"] = hop
    return routes


@contextmanager
def serve_hostile() -> Iterator[FixtureServer]:
    """Run the hostile site for the duration of the block."""
    holder: list[FixtureServer] = []
    server = FixtureServer(hostile_site(lambda: holder[0].server_address[1])).start()
    holder.append(server)
    try:
        yield server
    finally:
        server.stop()
