"""The local engine: offline gaps, clustering, titles and briefs from the crawled pages."""

from research.engines.local.local_engine import LocalEngine, site_phrases_of

__all__ = ["LocalEngine", "site_phrases_of"]
