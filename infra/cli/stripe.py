"""`aiqleads stripe pay|fail|cancel PAYMENT_INTENT`: deliver a payment's outcome to the API
as Stripe would (a signed webhook), for local runs against stripe-mock, which sends none."""

from __future__ import annotations

import click

from infra.cli.common import settings


@click.command("stripe")
@click.argument("outcome", type=click.Choice(["pay", "fail", "cancel"]))
@click.argument("payment_intent")
@click.option("--api", "api_url", default=None,
              help="The API's base URL (default: http://AIQ_API_HOST:AIQ_API_PORT).")
def stripe_event(outcome: str, payment_intent: str, api_url: str | None) -> None:
    """Send `payment_intent.succeeded` (pay), `.payment_failed` (fail) or `.canceled`,
    signed with AIQ_STRIPE_WEBHOOK_SECRET, to /v1/webhooks/stripe; print the answer."""
    import httpx

    from infra.demo.stripe_events import KINDS, payment_event, signature

    config = settings()
    base = api_url or f"http://{config.api_host}:{config.api_port}"
    payload = payment_event(KINDS[outcome], payment_intent)
    secret = config.stripe_webhook_secret.get_secret_value()
    try:
        answer = httpx.post(f"{base}/v1/webhooks/stripe", content=payload, timeout=10,
                            headers={"Stripe-Signature": signature(payload, secret),
                                     "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        raise click.ClickException(f"API at {base}: {exc}") from exc
    click.echo(f"{answer.status_code} {answer.text}")
    if answer.status_code >= 400:
        raise SystemExit(1)
