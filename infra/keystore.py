"""API keys in Redis, stored only as SHA-256 hashes.

Why Redis: the API already depends on it for every read, several API processes must see a
revocation at once, and with append-only persistence (`aiqleads up` starts Redis with
``--appendonly yes``) a key survives restarts. Why a plain SHA-256: keys are 256-bit
random secrets, so a slow password hash adds nothing but latency on every request.

Key forms (the secret part is shown once, at creation):
- ``sk_<key_id>_<secret>`` — a buyer's secret key, with scopes (`BUYER_SCOPES`), or an
  operator's admin key (scope ``admin``, no buyer);
- ``pk_<key_id>_<secret>`` — a buyer's publishable feed key for embedding on websites:
  scope ``feed`` only, usable from the allowed origins.

Layout (under ``prefix``): ``apikey:{sha256}`` → the `ApiKey` record (JSON);
``apikey:id:{key_id}`` → the hash; ``apikeys`` → SET of key ids. A revoked key keeps its
record (with ``revoked_ms``) for the audit trail and never verifies again.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import Literal

import msgspec
import redis.asyncio as aioredis

from streams.errors import AIQLeadsError

Scope = Literal["recommendations", "feed", "cart", "orders", "admin"]
BUYER_SCOPES: tuple[Scope, ...] = ("recommendations", "feed", "cart", "orders")
ALL_SCOPES: tuple[Scope, ...] = (*BUYER_SCOPES, "admin")
KeyKind = Literal["secret", "publishable"]


class KeyRequestError(AIQLeadsError):
    """A key request that cannot be honoured (unknown scope, missing buyer, bad origin)."""


class ApiKey(msgspec.Struct, kw_only=True, frozen=True):
    key_id: str
    kind: KeyKind
    buyer_id: str  # "" for an admin key
    scopes: list[str]
    origins: list[str] = []  # publishable keys: the websites allowed to embed the feed
    created_ms: int
    revoked_ms: int = 0
    label: str = ""

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes


_decode = msgspec.json.Decoder(ApiKey).decode
_encode = msgspec.json.Encoder().encode


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def check_origin(origin: str) -> str:
    """An allowed origin as browsers send it: scheme://host[:port], no path."""
    origin = origin.strip().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
        raise KeyRequestError(f"origin {origin!r} is not scheme://host[:port]")
    return origin


class KeyStore:
    def __init__(self, client: aioredis.Redis, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix

    def _record(self, hashed: str) -> str:
        return f"{self.prefix}apikey:{hashed}"

    def _by_id(self, key_id: str) -> str:
        return f"{self.prefix}apikey:id:{key_id}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}apikeys"

    async def create(self, buyer_id: str, scopes: Sequence[str] = BUYER_SCOPES, *,
                     publishable: bool = False, origins: Sequence[str] = (),
                     label: str = "") -> tuple[str, ApiKey]:
        """A new key: (the secret, shown once; its record)."""
        scopes = list(dict.fromkeys(scopes))
        unknown = [s for s in scopes if s not in ALL_SCOPES]
        if unknown:
            raise KeyRequestError(f"unknown scopes {unknown}; scopes are {', '.join(ALL_SCOPES)}")
        if "admin" in scopes and buyer_id:
            raise KeyRequestError("an admin key belongs to no buyer")
        if "admin" not in scopes and not buyer_id:
            raise KeyRequestError("a buyer key needs --buyer")
        if publishable:
            if scopes != ["feed"] and scopes != list(BUYER_SCOPES):
                raise KeyRequestError("a publishable key has the feed scope only")
            scopes = ["feed"]
            if not origins:
                raise KeyRequestError("a publishable key needs at least one allowed origin")
        checked = [check_origin(o) for o in origins]
        key_id = secrets.token_hex(8)
        secret = f"{'pk' if publishable else 'sk'}_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id=key_id, kind="publishable" if publishable else "secret",
                        buyer_id=buyer_id, scopes=scopes, origins=checked,
                        created_ms=int(time.time() * 1000), label=label)
        hashed = digest(secret)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._record(hashed), _encode(record))
            pipe.set(self._by_id(key_id), hashed)
            pipe.sadd(self._index, key_id)
            await pipe.execute()
        return secret, record

    async def verify(self, secret: str) -> ApiKey | None:
        """The live key for a presented secret; None for unknown or revoked keys."""
        if not secret.startswith(("sk_", "pk_")) or len(secret) > 200:
            return None
        raw = await self.client.get(self._record(digest(secret)))
        if raw is None:
            return None
        key = _decode(raw)
        return None if key.revoked_ms else key

    async def get(self, key_id: str) -> ApiKey | None:
        hashed = await self.client.get(self._by_id(key_id))
        if hashed is None:
            return None
        raw = await self.client.get(self._record(hashed.decode()))
        return None if raw is None else _decode(raw)

    async def list(self, buyer_id: str | None = None) -> list[ApiKey]:
        ids = sorted(m.decode() for m in await self.client.smembers(self._index))
        if not ids:
            return []
        hashes = await self.client.mget([self._by_id(i) for i in ids])
        records = await self.client.mget([self._record(h.decode()) for h in hashes if h])
        keys = [_decode(r) for r in records if r is not None]
        keys.sort(key=lambda k: (k.created_ms, k.key_id))
        return [k for k in keys if buyer_id is None or k.buyer_id == buyer_id]

    async def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key at once for every API process; None when no such key."""
        hashed = await self.client.get(self._by_id(key_id))
        if hashed is None:
            return None
        record = self._record(hashed.decode())
        raw = await self.client.get(record)
        if raw is None:
            return None
        key = _decode(raw)
        if not key.revoked_ms:
            key = msgspec.structs.replace(key, revoked_ms=int(time.time() * 1000))
            await self.client.set(record, _encode(key))
        return key
