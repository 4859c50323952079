"""The value of `fraud.sightings`: what one worker's fraud screen saw, for the others.

Velocity and bot timing count a contact's (or an IP's) leads across areas; with several
workers a burst's leads reach different ones. Every worker publishes what its screen
remembers of each lead it screened and mirrors every other worker's
(`agents.ingest.SightingsMirror`), so each screen counts the whole burst
(`FraudScreen.observe`). A record is a list of the screen's own entries, the leads of one
scored chunk, keyed in Kafka by the worker that wrote it; each entry a field list, not a
map: ~155 bytes a lead. (Until 2026-12-07 a record held one entry; the mirror reads both.)
"""

from __future__ import annotations

import msgspec


class FraudSighting(msgspec.Struct, array_like=True, frozen=True):
    email_key: str | None  # the screen's email identity (mailbox|first name|phone)
    phone: str | None
    ip: str | None
    event_ms: int
    h3_r7: int  # 0: unlocated
    identity: int  # crc32 of the identity, for bot timing
    lead_id: str
    quarantined: bool
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    implicated: tuple[str, ...] = ()  # earlier leads of a burst this verdict pulls back
