"""Support, account, billing and legal pages: recognised by path, title and headings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

# A slug whose head is one of these subjects is a support page ("cancel-subscription",
# "billing-overview", "download-invoices"); "signup-forms" or "subscribers" are not.
_SUBJECTS = (
    "billing|invoices?|subscriptions?|payments?|refunds?|vat|tax(?:es)?|accounts?|"
    "delete-account|change-email|email-address|passwords?|reset-password|login|log-in|"
    "sign-?in|2fa|two-factor(?:-authentication)?|mfa|sso|single-sign-on|saml|team-roles|"
    "team-accounts|team-members|terms|tos|terms-of-(?:service|use)|privacy(?:-policy)?|legal|"
    "impressum|imprint|datenschutz|agb|cookie-policy|licen[cs]e|code-of-conduct|security|"
    "support|help-center|facturation|factura(?:cion)?|rechnung(?:en)?|konto|abonnement"
)
_LEADS = (
    "about|your|my|manage|managing|change|update|add|view|download|cancel|cancelling|"
    "canceling|delete|deleting|reset|the|our|cloud|team|how-to|how-do-i"
)
_TAILS = (
    "overview|settings|policy|plans?|faq|tab|page|section|methods?|model|management|details|"
    "history|information|info|number|address|options"
)
_SLUG = re.compile(rf"^(?:(?:{_LEADS})-)*(?:{_SUBJECTS})(?:-(?:{_TAILS}))*$")
# Titles and headings that name an account, billing or legal subject.
_TITLE = re.compile(
    r"\b(?:billing|invoices?|subscription(?:s| plans?)?|vat(?: number| id)?|refunds?|"
    r"payment methods?|credit cards?|passwords?|two-factor authentication|2fa|"
    r"single sign-on|sso|saml|(?:delete|cancel|close) (?:your |my |an |the )?"
    r"(?:account|subscription)|account settings|change (?:your |my )?email|"
    r"privacy policy|terms of (?:service|use)|cookie policy|code of conduct|security policy|"
    r"(?:mit|apache|bsd|gpl) licen[cs]e|licen[cs]e agreement|team roles|team accounts)\b",
    re.IGNORECASE,
)


def is_support_page(url: str, title: str, headings: Sequence[str]) -> bool:
    """Whether a page is about accounts, billing, support or legal terms, not a subject."""
    slug = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].lower()
    slug = re.sub(r"\.(?:html?|php|aspx?)$", "", slug)
    if slug and _SLUG.match(slug):
        return True
    if _TITLE.search(title):
        return True
    named = sum(1 for heading in headings if _TITLE.search(heading))
    return len(headings) >= 2 and named * 2 >= len(headings)


def names_support_subject(text: str) -> bool:
    """Whether a phrase or title names an account, billing or legal subject ("VAT number")."""
    return bool(_TITLE.search(text))
