"""Synthetic engagement for synthetic leads: what the person did before (and after) inquiring.

Contract:
- `engagement_for(event, rng)` gives the engagement events of a generated lead's person,
  sorted by time; `draw_engagement(lead, p, rng)` does the same from a parsed lead and its
  true conversion probability. The same rng state gives the same events (use a stream of
  its own, e.g. ``random.Random(seed ^ ENGAGEMENT_SEED_SALT)``, so leads never shift).
- Intensity rises with the lead's hidden `p` (`streams.traffic.ground_truth`): every rate scales
  with ``(p / 0.07) ** 0.6`` (0.07 is about the base rate), and a likelier buyer also
  saves, clicks, asks and calls more per event. So behaviour is genuinely predictive;
  leads with ``p == 0`` (fraud, invalid) have no engagement at all.
- Before the lead: past sessions over the previous week (events minutes apart, sessions
  hours to days apart), and often a session on the lead's listing in the minutes right
  before it. After it: follow-up opens, clicks, visits and calls from 15 minutes to 23
  hours on (later than any source's arrival lag, so they are in the future when the lead
  is scored, but within the day `streams.features.behaviour.too_far_ahead` allows), carrying the
  lead's id.
- Contacts are written as a source writes them (mixed case, padded, formatted phones);
  `event_id` is a hash of the person, kind, time and listing, so re-sending an event
  repeats its id. `engagement_key(event)` is the Kafka key: the contact key.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from hashlib import blake2b

from schemas.engagement import EngagementEvent, EngagementKind
from schemas.lead import Lead
from streams.errors import LeadRejected
from streams.features.behaviour import HOUR_MS, WEEK_MS, contact_keys
from streams.parse.contact import normalize_email, normalize_phone
from streams.parse.registry import parse
from streams.traffic.generator import GeneratedEvent
from streams.traffic.people import format_phone
from streams.traffic.sampling import Weighted, below

ENGAGEMENT_SEED_SALT = 0xE9A6E
BASE_P = 0.07
MINUTE_MS = 60_000

_SESSIONS_AT_BASE = 1.5
_MAX_SESSIONS = 10.0
_AFTER_AT_BASE = 0.6
_FOLLOW_UP_FROM_MS = 15 * MINUTE_MS
#: Within a day: even sent along with the lead, a follow-up is not `too_far_ahead`.
_FOLLOW_UP_UNTIL_MS = 23 * HOUR_MS
_KINDS: tuple[EngagementKind, ...] = (
    "page_view", "save", "inquiry", "email_open", "email_click", "call",
)  # fmt: skip
_BASE_WEIGHTS = (6.0, 1.0, 0.2, 1.5, 0.5, 0.1)
#: How much more likely each kind gets per unit of p (a hand raised means intent).
_INTENT_LIFT = (0.0, 8.0, 10.0, 0.0, 6.0, 10.0)
_pick_follow_up: Weighted[EngagementKind] = Weighted([
    ("email_open", 3.0), ("email_click", 1.5), ("call", 1.0), ("page_view", 2.0), ("save", 1.0),
])  # fmt: skip


def intensity(p: float) -> float:
    """How much more engagement than a base-rate lead's a lead with conversion `p` shows.

    >>> intensity(0.07), intensity(0.0)
    (1.0, 0.0)
    """
    return (max(p, 0.0) / BASE_P) ** 0.6


def engagement_for(event: GeneratedEvent, rng: random.Random) -> list[EngagementEvent]:
    """The engagement of a generated lead's person ([] for an invalid event)."""
    if not event.valid:
        return []
    received = datetime.fromtimestamp(event.event_ms / 1000, UTC)
    try:
        lead = parse(event.source, event.value, received, headers=event.headers)
    except LeadRejected:
        return []
    return draw_engagement(lead, event.p, rng)


def draw_engagement(lead: Lead, p: float, rng: random.Random) -> list[EngagementEvent]:
    """Engagement before and after `lead` by a person whose true conversion chance is `p`."""
    if not (lead.email or lead.phone):
        return []
    lead_ms = int(lead.event_time.timestamp() * 1000)
    scale = intensity(p)
    pick_kind = _kind_picker(p)
    drawn: list[tuple[int, EngagementKind, str, str]] = []  # (ms, kind, listing, lead_id)
    for _ in range(_poisson(rng, min(_SESSIONS_AT_BASE * scale, _MAX_SESSIONS))):
        start = lead_ms - 35 * MINUTE_MS - int(rng.expovariate(1.0 / (36 * HOUR_MS)))
        if start < lead_ms - WEEK_MS + HOUR_MS:
            continue  # the person's engagement older than a week has been forgotten
        ms = start
        for _ in range(1 + _poisson(rng, 1.0 + 0.5 * scale)):
            if ms >= lead_ms - MINUTE_MS:
                break
            drawn.append((ms, pick_kind(rng), f"lst-{below(rng, 1_000_000):06d}", ""))
            ms += 20_000 + below(rng, 8 * MINUTE_MS)  # within a session: well under its gap
    if rng.random() < min(0.9, 0.3 * scale):
        # Looking at the listing just before asking about it.
        gaps = [10_000 + below(rng, 2 * MINUTE_MS) for _ in range(_poisson(rng, 1.5))]
        ms = lead_ms - 30_000 - below(rng, 5 * MINUTE_MS) - sum(gaps)
        for gap in (*gaps, 0):
            drawn.append((ms, "page_view", lead.listing_id or "", ""))
            ms += gap
    for _ in range(_poisson(rng, min(_AFTER_AT_BASE * scale, 6.0))):
        ms = lead_ms + _FOLLOW_UP_FROM_MS + int(rng.expovariate(1.0 / (6 * HOUR_MS)))
        if ms < lead_ms + _FOLLOW_UP_UNTIL_MS:
            drawn.append((ms, _pick_follow_up(rng), lead.listing_id or "", lead.lead_id))
    drawn.sort()
    return [_event(rng, lead, ms, kind, listing, lead_id) for ms, kind, listing, lead_id in drawn]


def engagement_key(event: EngagementEvent) -> bytes | None:
    """The Kafka key of an engagement event: its person's first contact key."""
    email = normalize_email(event.email) if event.email is not None else None
    phone = normalize_phone(event.phone) if event.phone is not None else None
    return next((key.encode() for key in contact_keys(email, phone)), None)


def _kind_picker(p: float) -> Weighted[EngagementKind]:
    return Weighted([
        (kind, base * (1.0 + lift * p))
        for kind, base, lift in zip(_KINDS, _BASE_WEIGHTS, _INTENT_LIFT, strict=True)
    ])  # fmt: skip


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means drawn here."""
    if mean <= 0.0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _event(
    rng: random.Random, lead: Lead, ms: int, kind: EngagementKind, listing: str, lead_id: str
) -> EngagementEvent:
    # Web and email activity is tied to a login email; calls to the phone; an inquiry to both.
    email, phone = lead.email, lead.phone
    if kind != "inquiry":
        if kind == "call" and phone:
            email = None
        elif email:
            phone = None
    key = next(contact_keys(email, phone))
    digest = blake2b(f"{key}\x1f{kind}\x1f{ms}\x1f{listing}".encode(), digest_size=12)
    return EngagementEvent(
        event_id=digest.hexdigest(),
        kind=kind,
        occurred_ms=ms,
        email=_typed_email(rng, email) if email else None,
        phone=_typed_phone(rng, phone) if phone else None,
        lead_id=lead_id,
        listing_id=listing,
    )


def _typed_email(rng: random.Random, email: str) -> str:
    style = rng.random()
    if style < 0.1:
        return email.upper()
    if style < 0.2:
        local, _, domain = email.partition("@")
        return f"{local.capitalize()}@{domain.capitalize()}"
    if style < 0.25:
        return f" {email} "
    return email


def _typed_phone(rng: random.Random, phone: str) -> str:
    if phone.startswith("+1") and len(phone) == 12 and rng.random() < 0.5:
        return format_phone(rng, phone)
    return phone
