"""The Gemini engine: client.aio with deadlines, retries, a rate limit and a circuit breaker."""

from research.engines.gemini.gemini_engine import GeminiEngine

__all__ = ["GeminiEngine"]
