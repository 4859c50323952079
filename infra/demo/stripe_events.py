"""Stripe's webhook events for a local run, signed the way Stripe signs them (the `stripe`
library's own scheme): stripe-mock does not send webhooks, so locally (and in tests) the
payment's outcome is delivered by `aiqleads stripe pay|fail|cancel` instead."""

from __future__ import annotations

import json
import time
import uuid

import stripe

KINDS = {"pay": "payment_intent.succeeded", "fail": "payment_intent.payment_failed",
         "cancel": "payment_intent.canceled"}


def payment_event(kind: str, intent_id: str, *, event_id: str | None = None,
                  **intent: object) -> bytes:
    """An event about one PaymentIntent, as Stripe's JSON."""
    body = {"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
            "created": int(time.time()),
            "data": {"object": {"id": intent_id, "object": "payment_intent", **intent}}}
    return json.dumps(body).encode()


def signature(payload: bytes, secret: str, at: int | None = None) -> str:
    """The `Stripe-Signature` header for `payload` (now, unless `at`)."""
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, at)
