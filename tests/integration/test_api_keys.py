"""Keys and authorisation on every buyer route: 401 without a valid key, 403 without the
scope or for someone else's view, never data; keys stored only as hashes; the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from infra.keystore import digest
from infra.settings import Settings
from tests.integration.harness import SCAN_COUNT, settings_env
from tests.integration.marketplace import (
    api_client,
    drop_keys,
    market_settings,
    new_key,
    place,
    scored,
)

pytestmark = pytest.mark.integration

BUYER_ROUTES = [("GET", "/v1/recommendations"), ("GET", "/v1/feed"),
                ("GET", "/v1/feed/widget?key=x")]
ADMIN_ROUTES = [("GET", "/v1/admin/keys"), ("POST", "/v1/admin/keys"),
                ("DELETE", "/v1/admin/keys/abc")]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    settings = market_settings(tmp_path)
    await place(settings, [scored(i) for i in range(10)])
    try:
        async with api_client(settings) as client:
            yield settings, client
    finally:
        await drop_keys(settings)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(("method", "path"), BUYER_ROUTES + ADMIN_ROUTES)
async def test_no_key_or_a_wrong_key_is_401(api: Any, method: str, path: str) -> None:
    _, client = api
    for headers in ({}, _auth("sk_0000_nope"), {"X-API-Key": "garbage"}):
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        body = response.json()
        assert body["code"] in ("no_key", "bad_key", "secret_key_in_url") and body["detail"]
        assert "lead_id" not in response.text


async def test_a_revoked_key_is_401_at_once(api: Any) -> None:
    settings, client = api
    key = await new_key(settings, "b-std")
    admin = await new_key(settings, "", ["admin"])
    assert (await client.get("/v1/recommendations", headers=_auth(key))).status_code == 200
    listed = (await client.get("/v1/admin/keys", params={"buyer_id": "b-std"},
                               headers=_auth(admin))).json()
    [record] = listed
    assert "key" not in record and key not in str(listed)
    revoked = await client.delete(f"/v1/admin/keys/{record['key_id']}", headers=_auth(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_ms"] > 0
    response = await client.get("/v1/recommendations", headers=_auth(key))
    assert response.status_code == 401 and response.json()["code"] == "bad_key"


async def test_a_key_without_the_scope_is_403(api: Any) -> None:
    settings, client = api
    feed_only = await new_key(settings, "b-std", ["feed"])
    publishable = await new_key(settings, "b-std", ["feed"], publishable=True,
                                origins=["https://agent.example"])
    for key in (feed_only, publishable):
        response = await client.get("/v1/recommendations", headers=_auth(key))
        assert response.status_code == 403 and response.json()["code"] == "missing_scope"
    buyer = await new_key(settings, "b-std")
    for method, path in ADMIN_ROUTES:
        response = await client.request(method, path, headers=_auth(buyer))
        assert response.status_code == 403, path


async def test_a_buyer_never_sees_another_buyers_view(api: Any) -> None:
    settings, client = api
    key = await new_key(settings, "b-std")
    for buyer_id in ("b-pro", "b-far", "nobody"):
        response = await client.get("/v1/recommendations", params={"buyer_id": buyer_id},
                                    headers=_auth(key))
        assert response.status_code == 403
        assert "items" not in response.json()
    admin = await new_key(settings, "", ["admin"])
    response = await client.get("/v1/recommendations", params={"buyer_id": "b-pro"},
                                headers=_auth(admin))
    assert response.status_code == 200  # operators may look on a buyer's behalf
    missing = await client.get("/v1/recommendations", params={"buyer_id": "nobody"},
                               headers=_auth(admin))
    assert missing.status_code == 404


async def test_secret_keys_are_refused_in_urls(api: Any) -> None:
    settings, client = api
    key = await new_key(settings, "b-std")
    response = await client.get("/v1/recommendations", params={"key": key})
    assert response.status_code == 401 and response.json()["code"] == "secret_key_in_url"


async def test_feed_keys_work_only_from_their_origins(api: Any) -> None:
    settings, client = api
    pk = await new_key(settings, "b-std", ["feed"], publishable=True,
                       origins=["https://agent.example"])
    evil = await client.get("/v1/feed", params={"key": pk},
                            headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in evil.headers
    widget = await client.get("/v1/feed/widget", params={"key": pk})
    assert widget.status_code == 200 and "EventSource" in widget.text
    assert "frame-ancestors 'self' https://agent.example" in widget.headers[
        "content-security-policy"]
    secret = await new_key(settings, "b-std")
    refused = await client.get("/v1/feed/widget", params={"key": "x"}, headers=_auth(secret))
    assert refused.status_code == 403 and refused.json()["code"] == "publishable_key_required"


async def test_keys_are_stored_only_as_hashes(api: Any) -> None:
    settings, _ = api
    key = await new_key(settings, "b-std")
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        names = [k async for k in client.scan_iter(f"{settings.topic_prefix}apikey*",
                                                   count=SCAN_COUNT)]
        values = [await client.get(n) if (await client.type(n)) == b"string" else b""
                  for n in names]
    finally:
        await client.aclose()
    stored = b" ".join(names + [v or b"" for v in values])
    secret = key.split("_", 2)[2]  # sk_<key id>_<secret>; the secret may hold "_" itself
    assert key.encode() not in stored and secret.encode() not in stored
    assert digest(key).encode() in stored


def test_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    settings = market_settings(tmp_path)
    env = {**os.environ, **settings_env(settings), "AIQ_BUYERS_FILE": str(settings.buyers_file)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "infra.cli", "keys", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    made = cli("create", "--buyer", "b-pro", "--scope", "recommendations")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("sk_") and len(key) > 40
    pk = cli("create", "--buyer", "b-pro", "--publishable", "--origin", "https://a.example")
    assert pk.stdout.strip().splitlines()[-1].startswith("pk_")
    assert cli("create", "--buyer", "nobody").returncode != 0
    assert cli("create", "--buyer", "b-pro", "--publishable").returncode != 0  # no origin
    listed = cli("list", "--buyer", "b-pro", "--format", "json")
    assert key not in listed.stdout and "recommendations" in listed.stdout
    key_id = key.split("_")[1]
    assert cli("revoke", key_id).returncode == 0
    assert cli("revoke", "nope").returncode != 0
    assert '"revoked": "-"' in cli("list", "--format", "json").stdout  # the feed key lives
    import asyncio
    asyncio.run(drop_keys(settings))
