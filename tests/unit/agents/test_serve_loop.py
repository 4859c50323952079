"""The serve loop over `leads.scored`: a batch is committed only after Redis took it.

`serve_batches` against scripted polls of real encoded scored leads and a server whose
completion the test controls: nothing is committed while Redis has not stored the batch,
commits are the next offset per partition, a foreign value is skipped but committed past
(it can never serve), and the loop stops when asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from agents.serve import decode_scored, serve_batches
from schemas.codec import encode
from schemas.lead import ScoredLead
from tests.unit.agents.test_ingest_loop import SCORED, Source, raw_messages, stage


@dataclass
class Message:
    """The part of a confluent-kafka message the loop reads."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value


def scored_leads(count: int) -> list[ScoredLead]:
    source = Source([], [])
    return stage(source).score(raw_messages(count)).leads


def as_messages(leads: Sequence[ScoredLead], partitions: int = 2) -> list[Message]:
    return [Message(SCORED, i % partitions, i // partitions, encode(lead))
            for i, lead in enumerate(leads)]


class Polls:
    def __init__(self, polls: Sequence[list[Message]], stopping: asyncio.Event) -> None:
        self.polls = list(polls)
        self.stopping = stopping
        self.commits: list[dict[tuple[str, int], int]] = []

    async def poll(self) -> list[Message]:
        await asyncio.sleep(0)
        if not self.polls:
            self.stopping.set()
            return []
        return self.polls.pop(0)

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.commits.append(dict(offsets))


class Redis:
    """A server whose batches are stored when the test releases them."""

    def __init__(self) -> None:
        self.batches: list[list[ScoredLead]] = []
        self.release = asyncio.Event()

    async def serve(self, leads: list[ScoredLead]) -> None:
        self.batches.append(leads)
        await self.release.wait()


def test_a_batch_is_committed_only_after_redis_stored_it() -> None:
    async def scenario() -> None:
        leads = scored_leads(40)
        stopping = asyncio.Event()
        polls, redis = Polls([as_messages(leads)], stopping), Redis()
        loop = asyncio.create_task(serve_batches(polls, redis, stopping))  # type: ignore[arg-type]
        for _ in range(50):
            await asyncio.sleep(0)
        assert [lead.lead_id for lead in redis.batches[0]] == [lead.lead_id for lead in leads]
        assert polls.commits == [], "committed before Redis stored the batch"
        redis.release.set()
        await asyncio.wait_for(loop, 5)
        n = len(leads)
        assert polls.commits == [{(SCORED, 0): (n + 1) // 2, (SCORED, 1): n // 2}]

    asyncio.run(scenario())


def test_a_foreign_value_is_skipped_and_committed_past() -> None:
    leads = scored_leads(6)
    values = [encode(lead) for lead in leads]
    values.insert(3, b"not a lead")
    messages = [Message(SCORED, 0, offset, value) for offset, value in enumerate(values)]
    decoded, offsets = decode_scored(messages)  # type: ignore[arg-type]
    assert [lead.lead_id for lead in decoded] == [lead.lead_id for lead in leads]
    assert offsets == {(SCORED, 0): len(values)}
