"""A batch's list of sites: one site per line (competitors after it), or a CSV `site,competitors`."""

from __future__ import annotations

import csv
import io
import re

from research.errors import InvalidRequest
from research.models import DEFAULT_MAX_PAGES, DiscoveryRequest, EngineName, SiteList

_SEPARATORS = re.compile(r"[\s;]+")


def _fields(text: str, as_csv: bool) -> list[tuple[int, str, list[str]]]:
    """Return (line number, site, competitors) for each line that is not blank or a comment."""
    found: list[tuple[int, str, list[str]]] = []
    if as_csv:
        rows = csv.reader(io.StringIO(text))
        for number, row in enumerate(rows, 1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if number == 1 and cells[0].lower() == "site":
                continue  # the header
            competitors = " ".join(cells[1:])
            found.append((number, cells[0], [c for c in _SEPARATORS.split(competitors) if c]))
        return found
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if words:
            found.append((number, words[0], words[1:]))
    return found


def looks_like_csv(text: str, name: str = "") -> bool:
    """Whether a list is CSV: a .csv name, or a first line that is the `site,...` header."""
    if name.lower().endswith(".csv"):
        return True
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.replace(" ", "").lower().startswith("site,")


def parse_sites(
    text: str,
    *,
    name: str = "",
    max_pages: int = DEFAULT_MAX_PAGES,
    engine: EngineName = "auto",
    allow_private_hosts: bool = False,
) -> SiteList:
    """Read a list of sites into requests; a bad line becomes `line N: reason` and is skipped."""
    sites = SiteList()
    for number, site, competitors in _fields(text, looks_like_csv(text, name)):
        try:
            request = DiscoveryRequest(
                url=site,
                competitors=competitors,
                max_pages=max_pages,
                engine=engine,
                allow_private_hosts=allow_private_hosts,
            )
        except InvalidRequest as exc:
            sites.errors.append(f"line {number}: {exc}")
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"msg": str(exc)}
            sites.errors.append(f"line {number}: {first['msg']}.")
        else:
            sites.requests.append(request)
    return sites
