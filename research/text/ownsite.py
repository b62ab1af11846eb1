"""Which hosts are a site's own: its site key, or a host that spells its name."""

from __future__ import annotations

from collections.abc import Sequence

from research.models import SiteAnalysis
from research.text.brands import names_own_host
from research.text.offtopic import site_brands


def own_domains(site: SiteAnalysis, domains: Sequence[str]) -> set[str]:
    """Return the domains that are the site itself (docs.acme.io, acme.com for Acme's site).

    The site may be served from elsewhere (127.0.0.1): a host spelling its brand is still its own.
    Blocking: call in a worker.
    """
    brands = site_brands(site.domain, site.pages)
    return {d for d in domains if d == site.domain or names_own_host(d, brands)}
