"""The value of `engagement.events`: one thing a person did (viewed, saved, asked, opened, called).

Contract:
- `event_id` is the source's deterministic id for the event: re-sending the same event
  gives the same id, so the warehouse (`engagement` ORDER BY event_id) keeps one row.
- The person is named by `email` and/or `phone`, as the source wrote them. Consumers
  normalise them with `streams.parse.contact`
  (`streams.features.behaviour.decode_event`), so behaviour joins to a lead by the same
  `e:<email>` / `p:<E.164>` contact keys dedupe uses.
- `lead_id` and `listing_id` are "" when the source does not know them (plain strings,
  not Nullable: they may be sorting keys of analysis queries and cost nothing empty).
- `occurred_ms` is epoch milliseconds, UTC.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

EngagementKind = Literal["page_view", "save", "inquiry", "email_open", "email_click", "call"]

#: Every kind, in a fixed order (their codes in compact per-person state).
ENGAGEMENT_KINDS: tuple[EngagementKind, ...] = (
    "page_view", "save", "inquiry", "email_open", "email_click", "call",
)  # fmt: skip


class EngagementEvent(msgspec.Struct, kw_only=True, frozen=True):
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    kind: EngagementKind
    occurred_ms: Annotated[int, msgspec.Meta(ge=0)]
    email: str | None = None
    phone: str | None = None
    lead_id: str = ""
    listing_id: str = ""


engagement_decoder = msgspec.json.Decoder(EngagementEvent)
