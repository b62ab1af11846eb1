"""A fake Gemini REST server on 127.0.0.1 that the real google-genai SDK talks to.

It answers `POST /{version}/models/{model}:generateContent` and
`:streamGenerateContent?alt=sse` with answers built from the schema sent (`responseSchema` or
`responseJsonSchema`), `groundingMetadata` for the google_search tool (redirect links served by
`GET /grounding-api-redirect/{n}`, which redirect to the configured targets) and
`usageMetadata`. Faults are scripted per request (`fail_next`) or for every request (`fault`).

Fault kinds: "429" (with a RetryInfo delay), "500", "503", "401", "hang" (no answer until the
server stops or `release()` is called), "truncated_body" (a 200 whose JSON body is cut),
"truncated_json" (a well-formed answer whose text is cut JSON), "invalid_json" (text that is not
JSON), "blocked" (promptFeedback.blockReason, no candidates), "stream_hang" (a stream that
stops after its first event). gemini-2* models given google_search and a schema answer 400;
a wrong key gets the real API's 400 with reason API_KEY_INVALID.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

FAULTS = {
    "429",
    "500",
    "503",
    "401",
    "hang",
    "truncated_body",
    "truncated_json",
    "invalid_json",
    "blocked",
    "stream_hang",
}
BAD_KEY = "API key not valid. Please pass a valid API key."
_ROUTE = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>\w+)$")


@dataclass
class FakeRequest:
    """One request the fake received, as the tests see it."""

    model: str
    method: str
    version: str
    body: dict[str, Any]
    key_ok: bool
    started: float
    server_timeout: str | None = None
    finished: float = 0.0
    status: int = 0
    fault: str | None = None

    @property
    def stream(self) -> bool:
        """Whether this was a streamGenerateContent call."""
        return self.method == "streamGenerateContent"

    @property
    def prompt(self) -> str:
        """All text parts of the request's contents."""
        return "\n".join(
            part.get("text", "")
            for content in self.body.get("contents", [])
            for part in content.get("parts", [])
        )

    @property
    def schema(self) -> dict[str, Any] | None:
        """The response schema sent, in either form."""
        config = self.body.get("generationConfig", {})
        return config.get("responseJsonSchema") or config.get("responseSchema")

    @property
    def search(self) -> bool:
        """Whether the google_search tool was sent."""
        return any("googleSearch" in tool for tool in self.body.get("tools", []))


Responder = Callable[[FakeRequest], str | None]


@dataclass
class Grounding:
    """A page the fake 'found' with Google Search: its title and where its redirect link goes."""

    title: str
    target: str


@dataclass
class FakeGemini:
    """The fake server. Start with `with FakeGemini(...) as fake:`; point the SDK at fake.url.

    `in_flight` / `max_in_flight` count requests from arrival until their answer starts, the
    part of a call the client cannot have finished yet (so the peak never over-counts).
    """

    api_key: str = "fake-gemini-key-0123456789"
    other_keys: tuple[str, ...] = ()  # more keys it accepts (several browser sessions)
    latency: float = 0.0
    chunk_delay: float = 0.0
    retry_delay: str = "0.05s"
    grounding: list[Grounding] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)
    responder: Responder | None = None
    fault: str | None = None
    requests: list[FakeRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._script: list[tuple[str, Callable[[FakeRequest], bool]]] = []
        self._release = threading.Event()
        self._stopped = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.hanging = threading.Semaphore(0)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        """Start serving on 127.0.0.1 in a daemon thread."""
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 256
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = "fake-gemini"
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging requests and stop the server."""
        self._stopped.set()
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give the SDK (HttpOptions.base_url)."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting -----------------------------------------------------------------------------

    def fail_next(
        self, kind: str, times: int = 1, when: Callable[[FakeRequest], bool] | None = None
    ) -> None:
        """Answer the next `times` matching requests with fault `kind`."""
        assert kind in FAULTS, kind
        with self._lock:
            self._script.extend([(kind, when or (lambda r: True))] * times)

    def release(self) -> None:
        """Let the requests hanging now end (they answer 503); later hangs hang again."""
        with self._lock:
            hanging, self._release = self._release, threading.Event()
        hanging.set()

    def _hang(self) -> None:
        """Block this request until release() or stop(); tell `hanging` it has started."""
        with self._lock:
            event = self._release
        self.hanging.release()
        if not self._stopped.is_set():
            event.wait()

    def log(self, method: str | None = None) -> list[FakeRequest]:
        """A copy of the request log, optionally only one method."""
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    def _take_fault(self, request: FakeRequest) -> str | None:
        with self._lock:
            for index, (kind, when) in enumerate(self._script):
                if when(request):
                    del self._script[index]
                    return kind
        return self.fault

    # -- answers -------------------------------------------------------------------------------

    def answer_text(self, request: FakeRequest) -> str:
        """The model text for a request: the responder's, else schema-valid JSON, else prose."""
        if self.responder is not None:
            text = self.responder(request)
            if text is not None:
                return text
        if request.schema is not None:
            return json.dumps(SchemaFaker(self.values).make(request.schema))
        return default_prose(request.prompt)

    def candidate(self, request: FakeRequest, text: str, finish: bool = True) -> dict[str, Any]:
        """One candidate with `text` (grounded when the search tool was sent)."""
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "index": 0,
        }
        if finish:
            candidate["finishReason"] = "STOP"
            if request.search:
                candidate["groundingMetadata"] = self.grounding_metadata(text)
        return candidate

    def grounding_metadata(self, text: str) -> dict[str, Any]:
        """webSearchQueries, groundingChunks with redirect links, and groundingSupports."""
        chunks = [
            {"web": {"uri": f"{self.url}/grounding-api-redirect/{i}", "title": g.title}}
            for i, g in enumerate(self.grounding)
        ]
        supports = (
            [
                {
                    "segment": {"startIndex": 0, "endIndex": min(len(text), 40), "text": text[:40]},
                    "groundingChunkIndices": list(range(len(chunks))),
                }
            ]
            if chunks
            else []
        )
        return {
            "webSearchQueries": ["competitors of the site"],
            "groundingChunks": chunks,
            "groundingSupports": supports,
        }

    @staticmethod
    def usage(request: FakeRequest, text: str) -> dict[str, int]:
        """usageMetadata: about four characters per token."""
        prompt = max(1, len(json.dumps(request.body)) // 4)
        output = max(1, len(text) // 4)
        return {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        }


class SchemaFaker:
    """Builds a value that validates against a JSON schema or a Gemini Schema."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self.values = values
        self.counter = itertools.count(1)
        self.used: dict[str, int] = {}
        self.defs: dict[str, Any] = {}

    def make(self, schema: dict[str, Any]) -> Any:
        """Return a valid value for the whole schema."""
        self.defs = schema.get("$defs") or schema.get("defs") or {}
        return self._value(schema, "value")

    def _value(self, schema: dict[str, Any], name: str) -> Any:
        ref = schema.get("$ref") or schema.get("ref")
        if ref:
            return self._value(self.defs[ref.rsplit("/", 1)[-1]], name)
        options = schema.get("anyOf") or schema.get("any_of")
        if options:
            usable = [o for o in options if str(o.get("type", "")).lower() != "null"]
            return self._value((usable or options)[0], name)
        if schema.get("enum"):
            return schema["enum"][0]
        kind = schema.get("type", "object")
        if isinstance(kind, list):
            kind = next((k for k in kind if str(k).lower() != "null"), "string")
        kind = str(kind).lower()
        if kind == "object":
            return {
                prop: self._value(sub, prop)
                for prop, sub in (schema.get("properties") or {}).items()
            }
        if kind == "array":
            low = int(schema.get("minItems", schema.get("min_items", 0)) or 0)
            high = int(schema.get("maxItems", schema.get("max_items", 0)) or 0) or None
            count = max(low, len(self.values.get(_singular(name), [])) or 5)
            if high is not None:
                count = min(count, high)
            return [self._value(schema.get("items") or {}, _singular(name)) for _ in range(count)]
        if kind in ("number", "integer"):
            low = float(schema.get("minimum", 0) or 0)
            high = float(schema.get("maximum", 1 if kind == "number" else 3) or 1)
            value = low + (high - low) * 0.8
            return int(value) if kind == "integer" else round(value, 2)
        if kind == "boolean":
            return True
        return self._string(name)

    def _string(self, name: str) -> str:
        choices = self.values.get(name)
        if choices:
            index = self.used.get(name, 0)
            self.used[name] = index + 1
            return choices[index % len(choices)]
        number = next(self.counter)
        if name == "url":
            return f"https://example-{number}.test/"
        return f"{name} {number}"


def _singular(name: str) -> str:
    """'competitors' -> 'competitor', so values keyed by item name apply to list items."""
    return name[:-1] if name.endswith("s") and len(name) > 3 else name


_SOURCE_LINE = re.compile(r"^\[(\d+)\] (\S+) \| (.*)$", re.MULTILINE)


def default_prose(prompt: str) -> str:
    """A plausible free-text answer; a Markdown brief when the prompt asks for one."""
    if "## Passages" not in prompt:
        return "Research notes: the site competes with several similar services."
    numbers = [int(m.group(1)) for m in _SOURCE_LINE.finditer(prompt)] or [1]
    title = re.search(r"titled '([^']*)'", prompt)
    topic = title.group(1) if title else "the topic"
    passages = "\n".join(
        f"- A quoted sentence about {topic} from source {n}. [{n}]" for n in numbers[:3]
    )
    return (
        f"## Summary\nA brief on {topic}, grounded in the crawled pages.\n"
        f"## Outline\n- Why {topic} matters\n- Key ideas\n- How to start\n- Next steps\n"
        f"## Questions\n- What is {topic}?\n- How does it help?\n"
        f"## Passages\n{passages}\n"
    )


class _Handler(BaseHTTPRequestHandler):
    owner: FakeGemini
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        match = re.match(r"^/grounding-api-redirect/(\d+)$", urlsplit(self.path).path)
        grounding = self.owner.grounding
        if match and int(match.group(1)) < len(grounding):
            self.send_response(302)
            self.send_header("Location", grounding[int(match.group(1))].target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._error(404, "NOT_FOUND", "Not found.")

    def do_POST(self) -> None:
        fake = self.owner
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _ROUTE.match(path)
        if match is None:
            self._error(404, "NOT_FOUND", "Not found.")
            return
        request = FakeRequest(
            model=match["model"],
            method=match["method"],
            version=match["version"],
            body=json.loads(raw or b"{}"),
            key_ok=self.headers.get("x-goog-api-key") in (fake.api_key, *fake.other_keys),
            started=time.monotonic(),
            server_timeout=self.headers.get("X-Server-Timeout"),
        )
        with fake._lock:
            fake.requests.append(request)
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        self._counted = True
        try:
            request.status = self._serve(request)
        except (BrokenPipeError, ConnectionResetError):
            request.status = -1
        finally:
            request.finished = time.monotonic()
            self._answering()

    def _answering(self) -> None:
        """Stop counting this request as in flight: from here the client may see the answer,
        end its call and start the next, so counting on would over-count its concurrency."""
        if getattr(self, "_counted", False):
            self._counted = False
            with self.owner._lock:
                self.owner.in_flight -= 1

    def _serve(self, request: FakeRequest) -> int:
        fake = self.owner
        if fake.latency:
            fake._stopped.wait(fake.latency)
        if not request.key_ok:
            # What the real API answers for a wrong key: 400 with reason API_KEY_INVALID.
            info = {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            }
            return self._error(400, "INVALID_ARGUMENT", BAD_KEY, [info])
        fault = fake._take_fault(request)
        request.fault = fault
        if fault == "429":
            return self._error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": fake.retry_delay,
                    }
                ],
            )
        if fault in ("500", "503"):
            status = "INTERNAL" if fault == "500" else "UNAVAILABLE"
            return self._error(int(fault), status, "The model is overloaded. Please try later.")
        if fault == "401":
            return self._error(401, "UNAUTHENTICATED", BAD_KEY)
        if fault == "hang":
            fake._hang()
            return self._error(503, "UNAVAILABLE", "Released.")
        if request.model.startswith("gemini-2") and request.search and request.schema:
            return self._error(
                400,
                "INVALID_ARGUMENT",
                "Tool use with a response mime type: 'application/json' is unsupported; "
                "controlled generation is not supported with google_search tool.",
            )
        if request.method not in ("generateContent", "streamGenerateContent"):
            return self._error(404, "NOT_FOUND", f"Method {request.method} is not supported.")
        if fault == "blocked":
            body = {
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": fake.usage(request, ""),
            }
            return self._stream([body]) if request.stream else self._send_json(200, body)
        text = fake.answer_text(request)
        if fault == "truncated_json":
            text = text[: max(1, len(text) // 2)]
        elif fault == "invalid_json":
            text = "Sorry, here is prose instead of JSON."
        if request.stream:
            return self._stream_text(request, text, hang=fault == "stream_hang")
        body = {
            "candidates": [fake.candidate(request, text)],
            "usageMetadata": fake.usage(request, text),
            "modelVersion": request.model,
        }
        if fault == "truncated_body":
            data = json.dumps(body).encode()
            return self._send_bytes(200, data[: len(data) // 2])
        return self._send_json(200, body)

    def _stream_text(self, request: FakeRequest, text: str, hang: bool) -> int:
        fake = self.owner
        size = max(1, len(text) // 4 + 1)
        pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        events = []
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            event: dict[str, Any] = {
                "candidates": [fake.candidate(request, piece, finish=last)],
                "modelVersion": request.model,
            }
            if last:
                event["usageMetadata"] = fake.usage(request, text)
            events.append(event)
        return self._stream(events, hang=hang)

    def _stream(self, events: list[dict[str, Any]], hang: bool = False) -> int:
        fake = self.owner
        self._answering()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for index, event in enumerate(events):
            self.wfile.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
            self.wfile.flush()
            if hang:
                fake._hang()
                return 200
            if fake.chunk_delay and index < len(events) - 1:
                fake._stopped.wait(fake.chunk_delay)
        return 200

    def _error(
        self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> int:
        error: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            error["details"] = details
        return self._send_json(code, {"error": error})

    def _send_json(self, code: int, body: dict[str, Any]) -> int:
        return self._send_bytes(code, json.dumps(body).encode())

    def _send_bytes(self, code: int, data: bytes) -> int:
        self._answering()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return code
