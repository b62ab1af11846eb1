"""Every error Research Lab raises on purpose; each message is one sentence a user can act on.

ResearchError
├── ConfigError               a setting from the environment or secrets.toml is invalid
├── InvalidRequest            the request itself is wrong (bad URL, bad limits)
│   └── InvalidURL            not an absolute http(s) URL with a host (research.net.urls.check_url)
├── FetchError                a page or site could not be fetched
│   ├── HostNotAllowed        private, loopback, link-local or metadata address, or a URL the
│   │                         fetcher refuses (the InvalidURL it raised is the cause)
│   ├── HostUnreachable       DNS failure, connection refused or reset
│   ├── FetchTimeout          no complete answer within the deadline
│   ├── TooLarge              body bigger than the size cap
│   ├── TooManyRedirects      more hops than allowed, or a loop
│   ├── BlockedByRobots       robots.txt disallows the URL for our user agent
│   ├── UnsupportedContent    not HTML (PDF, image, binary)
│   ├── UnreadablePage        served as HTML but could not be parsed as HTML or XHTML
│   └── HTTPStatusError       a 4xx/5xx answer that retries did not fix
├── EngineError               an analysis engine could not do its part
│   └── GeminiError
│       ├── GeminiAuthError       401/403: the key was refused
│       ├── GeminiRateLimited     429 after retries
│       ├── GeminiTimeout         no answer within the deadline
│       ├── GeminiUnavailable     5xx, or the circuit breaker is open
│       │   └── GeminiCircuitOpen  too many failures in a row; paused
│       └── GeminiBadResponse     blocked, empty or invalid output
│           └── SearchWithSchemaUnsupported  the model cannot combine Google Search with a schema
├── StoreError                the run history could not be read or written
├── ExportError               an export could not be built
├── RunNotFound               no run with that id
└── RunNotResumable           the run completed, or another process is running it

Outside the tree: research.net.retry.Retryable, the signal a failed attempt raises to ask for
another; it never leaves `with_retries`, which raises the ResearchError it carries instead.
Library exceptions are chained as the cause (`raise ... from exc`), so the log keeps them.
"""

from __future__ import annotations


class ResearchError(Exception):
    """Base of every error whose message is fit to show a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ResearchError):
    """A setting from the environment or .streamlit/secrets.toml has a value that does not fit."""


class InvalidRequest(ResearchError):
    """The request cannot be run as given."""


class InvalidURL(InvalidRequest):
    """A URL is malformed, not http(s), or carries credentials."""


class FetchError(ResearchError):
    """A page or site could not be fetched."""

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class HostNotAllowed(FetchError):
    """The host resolves to an address we refuse to connect to."""


class HostUnreachable(FetchError):
    """The host could not be resolved or connected to."""


class FetchTimeout(FetchError):
    """The page did not arrive within its deadline."""


class TooLarge(FetchError):
    """The body exceeded the size cap."""


class TooManyRedirects(FetchError):
    """Too many redirect hops, or a redirect loop."""


class BlockedByRobots(FetchError):
    """robots.txt disallows this URL for our user agent."""


class UnsupportedContent(FetchError):
    """The response is not an HTML page."""


class UnreadablePage(FetchError):
    """The response was served as HTML but could not be read as HTML or XHTML."""

    PHRASE = "could not be read as HTML"


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, message: str, url: str = "", status: int = 0) -> None:
        super().__init__(message, url)
        self.status = status


class EngineError(ResearchError):
    """An analysis engine could not do its part."""


class GeminiError(EngineError):
    """A Gemini call failed."""


class GeminiAuthError(GeminiError):
    """The Gemini key was refused."""


class GeminiRateLimited(GeminiError):
    """Gemini kept answering 429."""


class GeminiTimeout(GeminiError):
    """Gemini did not answer within the deadline."""


class GeminiUnavailable(GeminiError):
    """Gemini is down, or the circuit breaker is open."""


class GeminiCircuitOpen(GeminiUnavailable):
    """Gemini failed too often in a row; calls are paused for a cool-down."""


class GeminiBadResponse(GeminiError):
    """Gemini's answer was blocked, empty or invalid."""


class SearchWithSchemaUnsupported(GeminiBadResponse):
    """The model refuses the google_search tool together with a response schema."""


class StoreError(ResearchError):
    """The run history could not be read or written."""


class ExportError(ResearchError):
    """An export could not be built."""


class RunNotFound(ResearchError):
    """No run has that id."""


class RunNotResumable(ResearchError):
    """The run cannot be resumed: it completed, or a live process is running it."""
