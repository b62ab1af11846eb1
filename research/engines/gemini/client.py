"""GeminiClient: one google-genai client used through client.aio, with deadlines, retries,
limits and a circuit breaker; SDK failures become research.errors.Gemini* exceptions."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any

import anyio
import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import SecretStr

from research.config import Settings
from research.engines.base import TextCallback
from research.engines.gemini.breaker import CircuitBreaker
from research.engines.gemini.ratelimit import RateLimiter
from research.errors import (
    GeminiAuthError,
    GeminiBadResponse,
    GeminiCircuitOpen,
    GeminiError,
    GeminiRateLimited,
    GeminiTimeout,
    GeminiUnavailable,
    SearchWithSchemaUnsupported,
)
from research.net.retry import Retryable, RetryPolicy, with_retries

log = logging.getLogger("research.gemini")

Note = Callable[[str], None]

_DELAY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*s\s*$")


# The SDK types a call touches; google.genai.types builds their validators lazily, which would
# hold the event loop for ~100 ms on the first call. All 468 types would grow every GC pass.
_SDK_MODELS = (
    "HttpOptions",
    "HttpResponse",
    "Tool",
    "GoogleSearch",
    "Schema",
    "Part",
    "Content",
    "UserContent",
    "GenerateContentConfig",
    "_GenerateContentParameters",
    "GenerateContentResponse",
    "GenerateContentResponsePromptFeedback",
    "GenerateContentResponseUsageMetadata",
    "Candidate",
    "GroundingMetadata",
    "GroundingChunk",
    "GroundingChunkWeb",
    "GroundingSupport",
    "Segment",
)


def _complete_sdk_models() -> None:
    """Build the validators of the SDK types we use at import time, not on the loop."""
    for name in _SDK_MODELS:
        model = getattr(types, name, None)
        if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
            model.model_rebuild()


_complete_sdk_models()


def key_fingerprint(key: SecretStr) -> str:
    """Return a short, non-reversible id for a key (for caching, never the key itself)."""
    return hashlib.sha256(key.get_secret_value().encode()).hexdigest()[:16]


def retry_delay(details: Any) -> float | None:
    """Return the server's RetryInfo delay in seconds from an error body, if it sent one."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for item in error.get("details") or [] if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _invalid_key(details: Any) -> bool:
    """Whether an error body says the API key is invalid (the API answers 400 for a bad key)."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    reasons = [
        item.get("reason")
        for item in (error.get("details") or [] if isinstance(error, dict) else [])
        if isinstance(item, dict)
    ]
    return "API_KEY_INVALID" in reasons


def _refuses_search_with_schema(message: str) -> bool:
    """Whether a 400 says the model cannot use google_search and a JSON schema together."""
    text = message.lower()
    return "controlled generation is not supported" in text or (
        "tool use" in text and "mime type" in text and "unsupported" in text
    )


def _api_error(exc: genai_errors.APIError) -> GeminiError | Retryable:
    """Translate an SDK APIError into our error (wrapped in Retryable when worth retrying)."""
    code = exc.code or 0
    message = (exc.message or "").strip()
    if code in (401, 403) or (code == 400 and _invalid_key(exc.details)):
        return GeminiAuthError(f"The Gemini key was refused (HTTP {code}); check it in Settings.")
    if code == 429:
        return Retryable(
            GeminiRateLimited("Gemini kept rate limiting requests (HTTP 429); try again later."),
            delay=retry_delay(exc.details),
            reason="Gemini answered HTTP 429 (rate limited)",
        )
    if code == 408 or code >= 500:
        return Retryable(
            GeminiUnavailable(f"Gemini is unavailable (HTTP {code}); try again later."),
            reason=f"Gemini answered HTTP {code}",
        )
    if code == 400 and _refuses_search_with_schema(message):
        return SearchWithSchemaUnsupported(
            "This Gemini model cannot combine Google Search with structured output."
        )
    short = message.splitlines()[0][:160] if message else "no reason given"
    return GeminiBadResponse(f"Gemini rejected the request (HTTP {code}): {short}")


class GeminiClient:
    """One genai.Client per key; every call bounded in time, attempts, rate and concurrency.

    `calls` bounds calls in flight; Services shares one across keys so the limit is the
    process's, while the rate limit and the breaker stay per key (quotas are per key).
    """

    def __init__(
        self,
        settings: Settings,
        api_key: SecretStr,
        calls: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.settings = settings
        self.model = settings.gemini_model
        self._api_key = api_key
        self._client: genai.Client | None = None
        self._client_lock = anyio.Lock()
        self._closed = False
        self._holders = 0  # calls using the SDK client right now
        self._retired = False  # dropped from the cache: keep the SDK client only while in use
        self.limiter = calls or anyio.CapacityLimiter(max(1, settings.gemini_concurrency))
        self.rate = RateLimiter(settings.gemini_rpm, settings.gemini_rpm_period)
        self.breaker = CircuitBreaker(
            settings.gemini_breaker_threshold,
            settings.gemini_breaker_cooldown,
            settings.gemini_breaker_timeouts,
        )

    def __repr__(self) -> str:
        return f"GeminiClient(model={self.model!r}, key=sha256:{key_fingerprint(self._api_key)})"

    def _build(self) -> genai.Client:
        options = types.HttpOptions(
            base_url=self.settings.gemini_base_url,
            api_version=self.settings.gemini_api_version,
            timeout=int(self.settings.gemini_timeout * 1000),
        )
        return genai.Client(api_key=self._api_key.get_secret_value(), http_options=options)

    async def _aio(self) -> Any:
        """Return the SDK's async side, building the client once (SSL set-up runs off the loop)."""
        if self._client is None:
            async with self._client_lock:
                if self._closed:
                    raise GeminiUnavailable("The Gemini client is shut down.")
                if self._client is None:
                    self._client = await anyio.to_thread.run_sync(self._build)
        return self._client.aio

    @asynccontextmanager
    async def _holding(self) -> AsyncIterator[Any]:
        """Lend the SDK's async side to one call; a retired client closes once idle again."""
        self._holders += 1
        try:
            yield await self._aio()
        finally:
            self._holders -= 1
            if self._retired and self._holders == 0:
                await self._close_sdk()

    async def _close_sdk(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with anyio.CancelScope(shield=True):
                await client.aio.aclose()

    async def retire(self) -> None:
        """Close the SDK client when no call is using it; a later call opens (and closes) anew."""
        self._retired = True
        if self._holders == 0:
            await self._close_sdk()

    async def aclose(self) -> None:
        """Close the SDK's async HTTP client; the client cannot be used afterwards."""
        self._closed = True
        await self._close_sdk()

    def _policy(self) -> RetryPolicy:
        settings = self.settings
        return RetryPolicy(
            attempts=settings.gemini_max_attempts,
            budget=settings.gemini_retry_budget,
            initial=settings.gemini_backoff_initial,
            maximum=settings.gemini_backoff_max,
            # No try goes into an open breaker (timeouts in a row open it at once).
            give_up=lambda: self.breaker.is_open,
        )

    async def _guarded(self, call: Callable[[Any], Any], limit: float) -> Any:
        """Run one attempt within the breaker, the rate and concurrency limits and a deadline.

        The SDK's own timeout (`limit`, per read) ends a silent call; `fail_after` bounds the
        whole attempt, a little later, so a slow drip cannot outlive it either.
        """
        if not self.breaker.allow():
            raise GeminiCircuitOpen(
                "Gemini failed several times in a row; its calls are paused for "
                f"{self.settings.gemini_breaker_cooldown:.0f} s."
            )
        try:
            async with self._holding() as aio, self.limiter:
                # Counted against the rate once a slot is free, so the count is when it is sent.
                await self.rate.acquire()
                with anyio.fail_after(limit + 1.0):
                    result = await call(aio)
        except genai_errors.APIError as exc:
            error = _api_error(exc)
            self._settle(error)
            raise error from exc
        except (TimeoutError, httpx2.TimeoutException) as exc:
            self.breaker.record_timeout()
            reason = f"Gemini did not answer within {limit:g} s"
            raise Retryable(GeminiTimeout(reason + "."), reason=reason) from exc
        except httpx2.TransportError as exc:
            self.breaker.record_failure()
            reason = f"Gemini could not be reached ({type(exc).__name__})"
            raise Retryable(GeminiUnavailable(reason + "."), reason=reason) from exc
        except (
            json.JSONDecodeError,
            genai_errors.UnknownApiResponseError,
            pydantic.ValidationError,
        ) as exc:
            self.breaker.record_failure()
            reason = "Gemini sent a malformed answer"
            raise Retryable(GeminiBadResponse(reason + "."), reason=reason) from exc
        except GeminiError:
            self.breaker.release_trial()
            raise
        except Exception as exc:
            # Anything else the SDK raises: keep the traceback in the log, show one line.
            self.breaker.release_trial()
            log.exception("Gemini call failed unexpectedly")
            raise GeminiBadResponse(
                f"Gemini's answer could not be read ({type(exc).__name__})."
            ) from exc
        except BaseException:
            # Cancellation or a bug: give back a half-open trial slot, count nothing.
            self.breaker.release_trial()
            raise
        self.breaker.record_success()
        return result

    def _settle(self, error: GeminiError | Retryable) -> None:
        """Count an API error against the breaker when it says the service is unwell."""
        if isinstance(error, Retryable):
            self.breaker.record_failure()
        else:
            self.breaker.release_trial()

    async def generate(
        self, contents: str, config: types.GenerateContentConfig, note: Note | None = None
    ) -> types.GenerateContentResponse:
        """Return one generateContent answer, retried on 429, 5xx and timeouts."""

        async def call(aio: Any) -> types.GenerateContentResponse:
            return await aio.models.generate_content(
                model=self.model, contents=contents, config=config
            )

        async def attempt() -> types.GenerateContentResponse:
            return await self._guarded(call, self.settings.gemini_timeout)  # type: ignore[no-any-return]

        return await with_retries(attempt, self._policy(), note)  # type: ignore[no-any-return]

    async def stream(
        self,
        contents: str,
        config: types.GenerateContentConfig,
        on_text: TextCallback | None = None,
        note: Note | None = None,
    ) -> tuple[str, list[types.GenerateContentResponse]]:
        """Return the full streamed text and its chunks, reporting the text so far to on_text."""
        # A brief takes longer than a short answer: give the SDK (and the server's deadline
        # header it sends) the stream's time, not the per-call one.
        timeout = int(self.settings.gemini_stream_timeout * 1000)
        config = config.model_copy(
            update={
                "automatic_continuation": False,
                "http_options": types.HttpOptions(timeout=timeout),
            }
        )

        async def call(aio: Any) -> tuple[str, list[types.GenerateContentResponse]]:
            chunks: list[types.GenerateContentResponse] = []
            text = ""
            stream: AsyncIterator[
                types.GenerateContentResponse
            ] = await aio.models.generate_content_stream(
                model=self.model, contents=contents, config=config
            )
            async with aclosing(stream):  # type: ignore[type-var]
                async for chunk in stream:
                    chunks.append(chunk)
                    piece = _chunk_text(chunk)
                    if piece:
                        text += piece
                        if on_text is not None:
                            on_text(text)
            return text, chunks

        async def attempt() -> tuple[str, list[types.GenerateContentResponse]]:
            return await self._guarded(call, self.settings.gemini_stream_timeout)  # type: ignore[no-any-return]

        return await with_retries(attempt, self._policy(), note)  # type: ignore[no-any-return]


def _chunk_text(chunk: types.GenerateContentResponse) -> str:
    """Return the text parts of a response's first candidate (no SDK warnings for non-text)."""
    if not chunk.candidates or not chunk.candidates[0].content:
        return ""
    parts = chunk.candidates[0].content.parts or []
    return "".join(part.text for part in parts if part.text and not part.thought)


def response_text(response: types.GenerateContentResponse) -> str:
    """Return a response's text, or raise GeminiBadResponse when it was blocked or empty."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        reason = getattr(feedback.block_reason, "value", feedback.block_reason)
        raise GeminiBadResponse(f"Gemini blocked the request ({reason}).")
    text = _chunk_text(response)
    if not text.strip():
        reason = ""
        if response.candidates and response.candidates[0].finish_reason:
            finish = response.candidates[0].finish_reason
            reason = f" (finish reason {getattr(finish, 'value', finish)})"
        raise GeminiBadResponse(f"Gemini returned an empty answer{reason}.")
    return text
