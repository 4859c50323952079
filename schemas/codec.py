"""Shared msgspec encoders/decoders: build once, reuse on the hot path."""

from __future__ import annotations

import msgspec

from schemas.cart import CartEvent
from schemas.dead_letter import DeadLetter
from schemas.lead import FeatureSnapshot, ScoredLead
from schemas.outcome import Outcome

encoder = msgspec.json.Encoder()
encode = encoder.encode

scored_lead_decoder = msgspec.json.Decoder(ScoredLead)
dead_letter_decoder = msgspec.json.Decoder(DeadLetter)
outcome_decoder = msgspec.json.Decoder(Outcome)
cart_event_decoder = msgspec.json.Decoder(CartEvent)
snapshots_decoder = msgspec.json.Decoder(list[FeatureSnapshot])
