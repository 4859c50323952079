"""`aiqleads keys create|list|revoke`: buyers' API keys and operators' admin keys, in Redis.

`create` prints the new key alone on its last line, so a script can take it with `tail -1`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from infra.cli.common import FORMAT, settings

T = TypeVar("T")


def _with_store(work: Callable[..., Awaitable[T]]) -> T:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    from infra.keystore import KeyStore

    config = settings()

    async def run() -> T:
        client = aioredis.Redis.from_url(config.redis_url)
        try:
            return await work(KeyStore(client, prefix=config.topic_prefix))
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    except RedisError as exc:
        raise click.ClickException(f"Redis at {config.redis_url}: {exc}") from exc


@click.group()
def keys() -> None:
    """API keys: buyers' secret keys, publishable feed keys, admin keys (stored as hashes)."""


@keys.command("create")
@click.option("--buyer", "buyer_id", default="", help="The buyer (see schemas/buyers.json).")
@click.option("--scope", "scopes", multiple=True,
              help="recommendations, feed, cart, orders (default: all four) or admin.")
@click.option("--admin", is_flag=True, help="An operator key: scope admin, no buyer.")
@click.option("--publishable", is_flag=True, help="A feed key for websites (pk_…).")
@click.option("--origin", "origins", multiple=True,
              help="With --publishable: a website allowed to embed the feed (repeatable).")
@click.option("--label", default="", help="A note, e.g. who holds the key.")
def create(buyer_id: str, scopes: tuple[str, ...], admin: bool, publishable: bool,
           origins: tuple[str, ...], label: str) -> None:
    """Create a key; the key itself is printed once, alone on the last line."""
    from infra.keystore import BUYER_SCOPES, KeyRequestError
    from streams.serve.ranking import load_buyers

    if admin:
        scopes = ("admin",)
    elif buyer_id not in {b.buyer_id for b in load_buyers(settings().buyers_file)}:
        raise click.BadParameter(f"no buyer {buyer_id!r}", param_hint="--buyer")
    try:
        secret, key = _with_store(lambda store: store.create(
            buyer_id, scopes or BUYER_SCOPES, publishable=publishable, origins=origins,
            label=label))
    except KeyRequestError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"created {key.kind} key {key.key_id} for "
               f"{key.buyer_id or 'operators'}: {', '.join(key.scopes)}"
               + (f"; origins {', '.join(key.origins)}" if key.origins else ""), err=True)
    click.echo(secret)


@keys.command("list")
@click.option("--buyer", "buyer_id", default=None, help="Only this buyer's keys.")
@FORMAT
def list_keys(buyer_id: str | None, fmt: str) -> None:
    """Keys (never the secrets): id, kind, buyer, scopes, origins, created, revoked."""
    import json
    from datetime import UTC, datetime

    found = _with_store(lambda store: store.list(buyer_id))

    def when(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M") if ms else "-"

    rows = [(k.key_id, k.kind, k.buyer_id or "(admin)", ",".join(k.scopes),
             ",".join(k.origins) or "-", when(k.created_ms), when(k.revoked_ms), k.label)
            for k in found]
    header = ("key_id", "kind", "buyer", "scopes", "origins", "created", "revoked", "label")
    if fmt == "json":
        click.echo(json.dumps([dict(zip(header, row, strict=True)) for row in rows], indent=1))
    elif fmt == "tsv":
        click.echo("\n".join("\t".join(r) for r in [header, *rows]))
    else:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key at once (it stays listed, marked revoked)."""
    key = _with_store(lambda store: store.revoke(key_id))
    if key is None:
        raise click.ClickException(f"no key {key_id!r}")
    click.echo(f"revoked {key.key_id} ({key.buyer_id or 'admin'})")
