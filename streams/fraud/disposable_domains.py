"""Disposable-email domains, and typo domains of the big mailbox providers.

Contract: `email_domain_kind(domain)` is ``"disposable"`` for a throwaway-inbox
provider (the maintained `disposable-email-domains` list, subdomains included),
``"typo"`` for a one-keystroke misspelling of a major provider (``gmial.com``:
a real person who mistyped, so not fraud, but the mail will not arrive), else
None. A typo domain wins over the list: the list carries some typo-trap
domains (``gmial.com``, ``hotmial.com``) and a typo is a person, not a fake.
Lookups are set membership on the domain and its parents; the tables are built
at import (~15 ms).

Source and licence: the blocklist is the community-maintained list of the
disposable-email-domains project (public domain, CC0 1.0), shipped as the PyPI package
``disposable-email-domains`` (MIT, © 2016 Dustin Ingram), pinned in pyproject.toml:
updating the list is bumping that pin. Nothing is hand-picked here but the typo table.
"""

from __future__ import annotations

import string
from typing import Literal

from disposable_email_domains import blocklist

DomainKind = Literal["disposable", "typo"]

#: Consumer mailbox providers whose misspellings people type.
MAJOR_PROVIDERS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com",
    "comcast.net", "live.com", "msn.com", "protonmail.com", "ymail.com", "verizon.net",
    "sbcglobal.net", "bellsouth.net", "charter.net", "cox.net", "att.net",
)  # fmt: skip
_TLD_TYPOS = ("con", "cpm", "cim", "vom", "xom", "co", "cm", "om", "comm", "nett", "ne")
_ALPHABET = string.ascii_lowercase + string.digits + "-."
# Real providers one keystroke from a major one: never a typo.
_REAL_NEIGHBOURS = frozenset({"mail.com", "gmx.com", "aim.com", "live.co", "me.com", "mac.com"})


def _edits(domain: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion from `domain`."""
    splits = [(domain[:i], domain[i:]) for i in range(len(domain) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
    inserts = {a + c + b for a, b in splits for c in _ALPHABET}
    return deletes | transposes | replaces | inserts


def _typo_domains() -> frozenset[str]:
    typos: set[str] = set()
    for provider in MAJOR_PROVIDERS:
        name, _, tld = provider.rpartition(".")
        # Only the name part: one edit of a TLD ("gmail.co") is handled by _TLD_TYPOS.
        typos.update(f"{edit}.{tld}" for edit in _edits(name) if len(edit) >= 3)
        typos.update(f"{name}.{bad}" for bad in _TLD_TYPOS if bad != tld)
    return frozenset(typos - set(MAJOR_PROVIDERS) - _REAL_NEIGHBOURS)


TYPO_DOMAINS: frozenset[str] = _typo_domains()
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(blocklist) - TYPO_DOMAINS


def email_domain_kind(domain: str) -> DomainKind | None:
    """``"disposable"``, ``"typo"`` or None for a lower-case domain.

    >>> email_domain_kind("mailinator.com"), email_domain_kind("gmial.com")
    ('disposable', 'typo')
    >>> email_domain_kind("inbox.mailinator.com"), email_domain_kind("gmail.com")
    ('disposable', None)
    """
    if domain in TYPO_DOMAINS:
        return "typo"
    while True:
        if domain in DISPOSABLE_DOMAINS:
            return "disposable"
        _, dot, domain = domain.partition(".")
        if not dot or "." not in domain:
            return None  # stop at the registrable part: "com" is no provider
