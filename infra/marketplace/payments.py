"""Stripe, through its official library: PaymentIntents, refunds, and webhook signatures.

Every call that creates something carries an idempotency key, so a retried request (ours
or the client's) never charges or refunds twice. Any Stripe failure is `PaymentError`
(counted in `aiq_stripe_errors_total`); the API answers 502/503 and charges nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec
import stripe

from infra.metrics import STRIPE_ERRORS
from streams.errors import AIQLeadsError


class PaymentError(AIQLeadsError):
    """Stripe did not do what was asked (unreachable, refused, or an invalid request)."""


class BadSignature(AIQLeadsError):
    """A webhook whose signature does not verify (wrong secret, altered, or too old)."""


class Intent(NamedTuple):
    id: str
    client_secret: str
    status: str


class Payments:
    def __init__(self, api_key: str, api_base: str, webhook_secret: str, *,
                 tolerance_s: int = 300, timeout_s: float = 10.0) -> None:
        self.webhook_secret = webhook_secret
        self.tolerance_s = tolerance_s
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": api_base}, max_network_retries=2,
            http_client=stripe.HTTPXClient(timeout=timeout_s))

    async def create_intent(self, amount_cents: int, idempotency_key: str,
                            metadata: dict[str, str]) -> Intent:
        try:
            pi = await self._client.v1.payment_intents.create_async(
                params={"amount": amount_cents, "currency": "usd", "metadata": metadata,
                        "automatic_payment_methods": {"enabled": True}},
                options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            STRIPE_ERRORS.labels("payment_intent").inc()
            raise PaymentError(f"Stripe refused the payment: {exc.user_message or exc}") from exc
        return Intent(pi.id, pi.client_secret or "", pi.status)

    async def refund(self, intent_id: str, amount_cents: int, idempotency_key: str) -> str:
        try:
            refund = await self._client.v1.refunds.create_async(
                params={"payment_intent": intent_id, "amount": amount_cents},
                options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            STRIPE_ERRORS.labels("refund").inc()
            raise PaymentError(f"Stripe refused the refund: {exc.user_message or exc}") from exc
        return refund.id

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, once its `Stripe-Signature` verifies within the tolerance window."""
        if not signature:
            raise BadSignature("No Stripe-Signature header.")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8", "replace"), signature, self.webhook_secret,
                self.tolerance_s)
        except stripe.SignatureVerificationError as exc:
            raise BadSignature(str(exc).split("\n")[0]) from None
        try:
            event = msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise BadSignature("The signed body is not JSON.") from None
        if not isinstance(event, dict):
            raise BadSignature("The signed body is not an event.")
        return event
