"""Per-key rate limits are exact across API processes: a burst at twice a key's limit, sent
to two real API processes at once, lets exactly the limit through; the rest get 429 with a
Retry-After. Tiers have their own limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import free_port
from tests.integration.marketplace import api_process, drop_keys, market_settings, new_key

pytestmark = pytest.mark.integration

LIMIT = 40


async def test_a_burst_from_two_processes_lets_exactly_the_limit_through(tmp_path: Path) -> None:
    settings = market_settings(tmp_path, rate_limit_standard=f"{LIMIT}/minute",
                               rate_limit_premium=f"{3 * LIMIT}/minute")
    standard = await new_key(settings, "b-std", ["recommendations"])
    premium = await new_key(settings, "b-pro", ["recommendations"])
    other = settings.model_copy(update={"api_port": free_port()})
    try:
        with api_process(settings, tmp_path / "a.log") as a, \
                api_process(other, tmp_path / "b.log") as b:
            async with httpx.AsyncClient(timeout=30) as http:

                async def burst(key: str, count: int) -> list[httpx.Response]:
                    return await asyncio.gather(*(
                        http.get(f"{(a, b)[i % 2]}/v1/recommendations",
                                 headers={"Authorization": f"Bearer {key}"})
                        for i in range(count)))

                answers = await burst(standard, 2 * LIMIT)
                ok = [r for r in answers if r.status_code == 200]
                limited = [r for r in answers if r.status_code == 429]
                assert len(ok) == LIMIT and len(limited) == LIMIT
                for response in limited:
                    assert response.json()["code"] == "rate_limited"
                    assert 1 <= int(response.headers["retry-after"]) <= 60
                # Both processes answered and refused: the count is shared, not per process.
                assert {str(r.url)[:len(a)] for r in ok} == {a, b}
                assert {str(r.url)[:len(a)] for r in limited} == {a, b}
                # Another key, another tier, its own budget.
                answers = await burst(premium, 2 * LIMIT)
                assert all(r.status_code == 200 for r in answers)
    finally:
        await drop_keys(settings)
