"""Deterministic lead identity: the same source event always gets the same `lead_id`."""

from __future__ import annotations

from hashlib import blake2b


def lead_id(source: str, source_lead_id: str) -> str:
    """A 32-hex-digit id from the source and the source's own id.

    >>> lead_id("portal", "pi-1") == lead_id("portal", "pi-1")
    True
    >>> lead_id("portal", "pi-1") != lead_id("facebook", "pi-1")
    True
    """
    return blake2b(f"{source}\x1f{source_lead_id}".encode(), digest_size=16).hexdigest()


def content_id(raw: bytes) -> str:
    """A stand-in source id for events that carry none of their own."""
    return blake2b(raw, digest_size=12).hexdigest()
