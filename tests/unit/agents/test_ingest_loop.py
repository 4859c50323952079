"""The raw → scored batch loop: an offset is committed only after every sink has the batch.

`run_batches` against a scripted source (polls, produce, flush, commit recorded in one
log) and a store whose completion the test controls: nothing is committed while the
producer's flush or either sink is still outstanding, commits are the next offset per
partition, batch N+1 is scored while N is stored but never stored before N committed,
and every raw event becomes exactly one scored lead or one dead letter.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import pytest

from agents.ingest import RawMessage, RawStage, ScoredBatch, SightingsMirror, run_batches
from agents.partitioning import key_partition
from infra.settings import Settings
from schemas.codec import dead_letter_decoder, encode, scored_lead_decoder, snapshots_decoder
from schemas.contract import raw_topic
from schemas.fraud import FraudSighting
from schemas.lead import ScoredLead
from streams.dedupe import MissedLink
from streams.features.build import feature_stores
from streams.fraud.screen import FraudScreen
from streams.ingest import IngestConfig, IngestState
from streams.readback import PendingReads
from streams.scoring.arms import Scorer
from streams.traffic.generator import GeneratedEvent, generate

SETTINGS = Settings(topic_prefix="t.")
SCORED, DLQ = SETTINGS.topic("leads.scored"), SETTINGS.topic("leads.dlq")


def raw_messages(count: int, seed: int = 3) -> list[RawMessage]:
    now = datetime.now(UTC).timestamp()
    offsets: dict[tuple[str, int], int] = {}
    messages = []
    for i, event in enumerate(generate(count, seed=seed, malformed_share=0.1)):
        topic, partition = SETTINGS.topic(raw_topic(event.source)), i % 2
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        messages.append(RawMessage(topic, partition, offset, event.key, event.value,
                                   list(event.headers.items()), now))
    return messages


class Source:
    """Scripted polls; `flush` completes when the test sets `flushed`."""

    def __init__(self, polls: Sequence[list[RawMessage]], log: list[str]) -> None:
        self.polls = list(polls)
        self.log = log
        self.sent: list[tuple[str, bytes]] = []
        self.partitions: list[int] = []  # as given to produce (-1: by the key)
        self.commits: list[dict[tuple[str, int], int]] = []
        self.flushed = asyncio.Event()
        self.flushed.set()

    async def poll(self) -> list[RawMessage]:
        await asyncio.sleep(0)
        if not self.polls:
            return []
        self.log.append("poll")
        return self.polls.pop(0)

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None,
                headers: object = None, partition: int = -1) -> None:
        assert value is not None
        self.sent.append((topic, value))
        self.partitions.append(partition)

    async def flush(self) -> None:
        await self.flushed.wait()
        self.log.append("flushed")

    async def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        self.log.append("commit")
        self.commits.append(dict(offsets))


def stage(source: Source, snapshots_topic: str | None = None) -> RawStage:
    scorer = Scorer.from_specs(SETTINGS.model_spec, None, seed=1)
    state = IngestState(scorer=scorer, screen=FraudScreen(), first_lead_by_contact={},
                        stores=feature_stores().all)
    return RawStage(SETTINGS, IngestConfig(), state, source.produce, scored_topic=SCORED,
                    dlq_topic=DLQ, snapshots_topic=snapshots_topic)


class Store:
    """A sink whose batches complete when the test releases them."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.batches: list[list[ScoredLead]] = []
        self.release = asyncio.Event()

    async def __call__(self, leads: list[ScoredLead]) -> None:
        self.log.append(f"store {len(self.batches)}")
        self.batches.append(leads)
        await self.release.wait()
        self.log.append(f"stored {len(self.batches) - 1}")


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_offsets_are_committed_only_after_the_producer_and_the_sinks_have_the_batch() -> None:
    async def scenario() -> None:
        log: list[str] = []
        batch = raw_messages(60)
        source, store = Source([batch], log), Store(log)
        source.flushed.clear()
        loop = asyncio.create_task(run_batches(source, stage(source), store, to_message=lambda m: m,
                                               batches=1))
        for _ in range(50):
            await asyncio.sleep(0)
        assert "commit" not in log and "store 0" in log  # the sink started, nothing committed
        store.release.set()
        for _ in range(50):
            await asyncio.sleep(0)
        assert "commit" not in log, "committed before the producer's flush returned"
        source.flushed.set()
        await asyncio.wait_for(loop, 5)
        assert log[-1] == "commit" and log.index("stored 0") < log.index("commit")
        assert log.index("flushed") < log.index("commit")
        # Committed: the next offset of every partition the batch read, nothing else.
        expected: dict[tuple[str, int], int] = {}
        for m in batch:
            expected[(m.topic, m.partition)] = max(expected.get((m.topic, m.partition), 0),
                                                   m.offset + 1)
        assert source.commits == [expected]

    run(scenario())


def test_a_sink_that_never_stores_means_no_commit() -> None:
    async def scenario() -> None:
        log: list[str] = []
        source, store = Source([raw_messages(20)], log), Store(log)
        loop = asyncio.create_task(run_batches(source, stage(source), store, to_message=lambda m: m,
                                               batches=1))
        await asyncio.sleep(0.2)
        assert source.commits == [] and store.batches  # stored never returned: no commit
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
        assert source.commits == []

    run(scenario())


def test_the_next_batch_is_scored_meanwhile_but_stored_only_after_the_last_commit() -> None:
    async def scenario() -> None:
        log: list[str] = []
        first, second = raw_messages(40, seed=4), raw_messages(40, seed=5)
        source, store = Source([first, second], log), Store(log)
        loop = asyncio.create_task(run_batches(source, stage(source), store, to_message=lambda m: m,
                                               batches=2))
        for _ in range(200):
            await asyncio.sleep(0)
        # The second batch was polled (and scored) while the first is still being stored.
        assert log.count("poll") == 2 and "store 1" not in log
        store.release.set()
        await asyncio.wait_for(loop, 5)
        assert log.index("commit") < log.index("store 1")
        assert len(source.commits) == 2

    run(scenario())


def test_every_raw_event_becomes_one_scored_lead_or_one_dead_letter() -> None:
    async def scenario() -> None:
        log: list[str] = []
        batch = raw_messages(300, seed=6)
        source, store = Source([batch], log), Store(log)
        store.release.set()
        await run_batches(source, stage(source), store, to_message=lambda m: m, batches=1)
        scored = [scored_lead_decoder.decode(v) for t, v in source.sent if t == SCORED]
        letters = [dead_letter_decoder.decode(v) for t, v in source.sent if t == DLQ]
        pulled_back = len(scored) - len({s.lead_id for s in scored})
        assert len(scored) - pulled_back + len(letters) == len(batch)
        assert letters and all(d.topic.startswith("t.leads.raw.") for d in letters)
        # The sinks got exactly what went to leads.scored, in the same order.
        assert [lead.lead_id for lead in store.batches[0]] == [s.lead_id for s in scored]

    run(scenario())


def test_a_scored_chunk_with_rejections_leaves_no_garbage_for_the_collector() -> None:
    """A rejection kept with its traceback held the chunk (every frame up to `score`, and
    their locals) in a cycle that only a collection freed: ~1 s pauses of the worker."""
    source = Source([], [])
    raw_stage = stage(source)
    raw_stage.score(raw_messages(200, seed=7))  # first-time caches are not garbage
    messages = raw_messages(300, seed=8)
    gc.collect()
    gc.disable()
    try:
        batch = raw_stage.score(messages)
        assert batch.dead_letters > 10
        del batch
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_every_scored_lead_sends_its_snapshot_into_its_own_scored_partition() -> None:
    """The learning join reads a lead's snapshot where its outcome arrives: the partition
    murmur2 gives its key in leads.scored (and leads.outcomes), a message per partition."""
    snapshots_topic = SETTINGS.topic("leads.snapshots")

    async def scenario() -> None:
        batch = raw_messages(300, seed=6)
        source, store = Source([batch], []), Store([])
        store.release.set()
        await run_batches(source, stage(source, snapshots_topic), store,
                          to_message=lambda m: m, batches=1)
        scored = {s.lead_id: s for s in (scored_lead_decoder.decode(v)
                                         for t, v in source.sent if t == SCORED)}
        sent = [(partition, snapshots_decoder.decode(value)) for (topic, value), partition
                in zip(source.sent, source.partitions, strict=True) if topic == snapshots_topic]
        assert len(sent) <= SETTINGS.topic_partitions * 3  # a message a partition a chunk
        seen = set()
        for partition, snapshots in sent:
            for snapshot in snapshots:
                assert partition == key_partition(snapshot.lead_id.encode(),
                                                  SETTINGS.topic_partitions)
                lead = scored[snapshot.lead_id]
                assert (snapshot.features, snapshot.scored_ms) == (lead.features,
                                                                   lead.scored_ms)
                seen.add(snapshot.lead_id)
        assert seen == set(scored)

    run(scenario())


def test_scoring_runs_ahead_of_a_stuck_sink_only_as_far_as_the_queue_then_merges() -> None:
    async def scenario() -> None:
        log: list[str] = []
        messages = raw_messages(60, seed=10)
        polls = [messages[i:i + 10] for i in range(0, 60, 10)]
        source, store = Source(polls, log), Store(log)
        loop = asyncio.create_task(run_batches(source, stage(source), store,
                                               to_message=lambda m: m, batches=6, queued=20))
        for _ in range(300):
            await asyncio.sleep(0)
        # One batch in the stuck sink, two queued (20 events: full), one scored and waiting
        # for room: no more.
        assert log.count("poll") == 4 and log.count("store 0") == 1 and "commit" not in log
        store.release.set()
        await asyncio.wait_for(loop, 5)
        # Behind, the queued batches went out together: fewer stores than batches, each
        # committed after it was stored, the last commit at the end of every partition.
        assert len(store.batches) < 6 and len(source.commits) == len(store.batches)
        assert sum(len(b) for b in store.batches) == sum(
            1 for t, _ in source.sent if t == SCORED)
        final: dict[tuple[str, int], int] = {}
        for commit in source.commits:
            final.update(commit)
        ends: dict[tuple[str, int], int] = {}
        for m in messages:
            ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), 0), m.offset + 1)
        assert final == ends

    run(scenario())


def person_with_copies() -> tuple[list[GeneratedEvent], str, int, list[int]]:
    """Generated events, and a person's first lead (its id and index) and the indexes of
    at least two later copies of it in the same area."""
    events = generate(400, seed=12, malformed_share=0.0, fraud_share=0.0,
                      duplicate_share=0.3)
    copies: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        if event.duplicate_of:
            copies.setdefault(event.duplicate_of, []).append(i)
    original, late = next((o, c) for o, c in copies.items() if len(c) >= 2)
    first = next(i for i, e in enumerate(events) if e.lead_id == original)
    return events, original, first, late


def test_an_original_that_arrives_after_its_duplicates_takes_their_place() -> None:
    """Partitions interleave: whatever the order, the earliest-dated lead ends as the
    original, and every other lead of the person links to it directly (no chains)."""
    events, original, first, late = person_with_copies()
    # The duplicates first, then the original they re-send.
    order = [i for i in range(len(events)) if i not in (first, *late)] + [*late, first]
    now = datetime.now(UTC).timestamp()
    messages = [RawMessage(SETTINGS.topic(raw_topic(events[i].source)), 0, n, events[i].key,
                           events[i].value, list(events[i].headers.items()), now)
                for n, i in enumerate(order)]
    source = Source([], [])
    batch = stage(source).score(messages)
    final = {lead.lead_id: lead.duplicate_of for lead in batch.leads}  # last version wins
    assert final[original] is None
    assert all(final[events[i].lead_id] == original for i in late)
    sent = [scored_lead_decoder.decode(v).lead_id for t, v in source.sent if t == SCORED]
    # Out as an original first, then re-sent (again if a lead between moved it first).
    assert all(sent.count(events[i].lead_id) >= 2 for i in late[:1])
    # Every link in the batch points at an original.
    assert all(final.get(target, "") is None for target in final.values() if target)


def test_two_stages_sharing_sightings_quarantine_what_one_stage_does() -> None:
    """A burst's leads split over two workers: each screen sees the other's sightings, and
    a worker pulls back its own leads when the other's verdict implicates them."""
    events = generate(600, seed=11, malformed_share=0.0, fraud_share=0.3, duplicate_share=0.0)
    now = datetime.now(UTC).timestamp()
    messages = [RawMessage(SETTINGS.topic(raw_topic(e.source)), i % 2, i, e.key, e.value,
                           list(e.headers.items()), now) for i, e in enumerate(events)]

    def quarantined(workers: int, share: bool) -> tuple[set[str], int]:
        sources = [Source([], []) for _ in range(workers)]
        stages = [stage(source) for source in sources]
        if share:
            stages = [RawStage(SETTINGS, one.config, one.state, source.produce,
                               scored_topic=SCORED, dlq_topic=DLQ, sightings_topic="sightings",
                               worker=str(n).encode())
                      for n, (one, source) in enumerate(zip(stages, sources, strict=True))]
        mirrors = [SightingsMirror(one) for one in stages]
        final: dict[str, bool] = {}
        pulled_elsewhere = 0
        for start in range(0, len(messages), 20):
            for n, one in enumerate(stages):
                owed = len(one.implicated_elsewhere)
                mine = [m for m in messages[start:start + 20] if m.partition % workers == n]
                final.update((lead.lead_id, lead.quarantined) for lead in one.score(mine).leads)
                pulled_elsewhere += owed
                sightings = [v for t, v in sources[n].sent if t == "sightings"]
                sources[n].sent.clear()
                for other, mirror in enumerate(mirrors):
                    if other != n:
                        for value in sightings:
                            mirror.apply(str(n).encode(), value)
        return {lead for lead, q in final.items() if q}, pulled_elsewhere

    alone, _ = quarantined(1, share=False)
    apart, _ = quarantined(2, share=False)
    shared, pulled_elsewhere = quarantined(2, share=True)
    assert apart != alone  # the split alone changes the answers...
    assert shared == alone  # ...sharing sightings gives them back
    assert pulled_elsewhere > 0  # some only because the other worker's verdict said so


def test_a_chunk_shares_its_sightings_in_one_record_that_another_worker_applies() -> None:
    """One `fraud.sightings` record a scored chunk, holding every lead it screened; the
    other worker's mirror remembers them all, and still reads a record of one sighting
    (as workers wrote them before 2026-12-07)."""
    events = generate(40, seed=5, malformed_share=0.0, fraud_share=0.0, duplicate_share=0.0)
    now = datetime.now(UTC).timestamp()
    messages = [RawMessage(SETTINGS.topic(raw_topic(e.source)), 0, i, e.key, e.value,
                           list(e.headers.items()), now) for i, e in enumerate(events)]
    here, there = Source([], []), Source([], [])
    one, other = (RawStage(SETTINGS, s.config, s.state, source.produce, scored_topic=SCORED,
                           dlq_topic=DLQ, sightings_topic="sightings", worker=name)
                  for s, source, name in ((stage(here), here, b"1"), (stage(there), there, b"2")))
    leads = one.score(messages).leads
    records = [value for topic, value in here.sent if topic == "sightings"]
    assert len(records) == 1 and len(leads) == len(events)
    mirror = SightingsMirror(other)
    mirror.apply(b"1", records[0])
    shared = msgspec.json.decode(records[0], type=list[FraudSighting])
    assert sorted(s.lead_id for s in shared) == sorted(lead.lead_id for lead in leads)
    seen = other.state.screen.dumps()
    assert all(lead.lead_id.encode() in seen for lead in leads)
    # A record of one sighting, the format before chunks: remembered too.
    single = msgspec.structs.replace(shared[0], lead_id="older-format-lead")
    mirror.apply(b"1", encode(single))
    assert b"older-format-lead" in other.state.screen.dumps()
    mirror.apply(b"2", records[0])  # its own: skipped, never an error


def test_a_worker_that_does_not_remember_the_displaced_original_relinks_it_from_the_warehouse(
) -> None:
    """A lead scored before a restart (or by a worker that has stopped since) is not in
    `recent`: when an earlier-dated lead displaces it, it waits in `pending_links`, and
    is re-sent linked from what the warehouse landed."""
    events, original, first, late = person_with_copies()
    now = datetime.now(UTC).timestamp()

    def messages(indexes: list[int]) -> list[RawMessage]:
        return [RawMessage(SETTINGS.topic(raw_topic(events[i].source)), 0, n, events[i].key,
                           events[i].value, list(events[i].headers.items()), now)
                for n, i in enumerate(indexes)]

    before = stage(Source([], []))
    landed = {lead.lead_id: lead
              for lead in before.score(messages([i for i in range(len(events))
                                                 if i != first])).leads}
    copy_ids = [events[i].lead_id for i in late]
    later = next(c for c in copy_ids if landed[c].duplicate_of is None)  # earliest so far
    followers = [c for c in copy_ids if c != later]
    assert all(landed[c].duplicate_of == later for c in followers)

    # After a restart: the same dedupe table (its changelog), nothing in memory.
    source = Source([], [])
    after = stage(source)
    after.state = IngestState(scorer=before.state.scorer, screen=FraudScreen(),
                              first_lead_by_contact=before.state.first_lead_by_contact,
                              stores=feature_stores().all)
    after.pending_links = PendingReads(delay_ms=0)
    batch = after.score(messages([first]))
    assert [lead.lead_id for lead in batch.leads] == [original]
    asked = after.pending_links.due(int(time.time() * 1000))
    assert asked == [later]

    # What the warehouse has: the displaced lead (read by primary key: the leads linked
    # to it by the worker before the restart stay so, one hop from the original).
    after.resend_landed(asked, [landed[later]], int(time.time() * 1000), batch)
    resent = {lead.lead_id: lead for lead in batch.leads[1:]}
    assert set(resent) == {later}
    assert resent[later].duplicate_of == original
    assert resent[later].scored_ms > landed[later].scored_ms
    assert not after.pending_links
    # The displaced lead's table entries now name the original: the next lead of the
    # person links to it directly.
    table = after.state.first_lead_by_contact
    assert not any(entry.startswith(f"{later}@") for entry in table.values())

    # Read back again (another worker re-sent it meanwhile): nothing is sent twice.
    after.pending_links.add(later, MissedLink(later, original, f"{original}@0"), 0)
    again = ScoredBatch()
    after.resend_landed([later], [resent[later]], int(time.time() * 1000), again)
    assert again.leads == []


def test_read_backs_wait_for_the_worker_that_remembers_then_for_the_lead_then_give_up(
) -> None:
    pending: PendingReads[str] = PendingReads(delay_ms=2_000, patience_ms=10_000)
    pending.add("b", "why", 1_000)
    assert pending.due(2_000) == []  # the worker that remembers it goes first
    assert pending.due(3_000) == ["b"]
    assert pending.settle(["b"], set(), 3_000) == {}  # not landed yet: asked again later
    assert pending.due(4_000) == []
    assert pending.due(5_000) == ["b"]
    assert pending.settle(["b"], {"b"}, 5_000) == {"b": "why"}
    pending.add("c", "why", 5_000)
    assert pending.settle(["c"], set(), 16_000) == {}
    assert not pending and pending.abandoned == 1


def test_a_burst_that_spans_a_restart_pulls_back_the_leads_scored_before_it() -> None:
    """The screen's state survives a restart (its checkpoint), the memory of what went out
    does not: leads a verdict after the restart implicates are read back from the
    warehouse and pulled back, so the answers are those of a worker never restarted."""
    events = generate(600, seed=11, malformed_share=0.0, fraud_share=0.3, duplicate_share=0.0)
    now = datetime.now(UTC).timestamp()
    messages = [RawMessage(SETTINGS.topic(raw_topic(e.source)), 0, i, e.key, e.value,
                           list(e.headers.items()), now) for i, e in enumerate(events)]

    def final(*batches: ScoredBatch) -> dict[str, ScoredLead]:
        return {lead.lead_id: lead for batch in batches for lead in batch.leads}

    alone = final(stage(Source([], [])).score(messages))
    before = stage(Source([], []))
    landed = final(before.score(messages[:300]))
    after = stage(Source([], []))
    after.state.screen = FraudScreen.loads(before.state.screen.dumps())
    after.pending_pulls = PendingReads(delay_ms=0)
    batch = after.score(messages[300:])
    asked = after.pending_pulls.due(int(time.time() * 1000))
    assert asked and set(asked) <= set(landed)  # only leads scored before the restart
    quarantined_late = {lead_id for lead_id in asked if not landed[lead_id].quarantined}
    assert quarantined_late  # without the read-back these would stay on sale

    read_back = ScoredBatch()
    after.resend_landed(asked, [landed[lead_id] for lead_id in asked],
                        int(time.time() * 1000), read_back)
    assert {lead.lead_id for lead in read_back.leads} == quarantined_late
    assert all(lead.quarantined and lead.scored_ms > landed[lead.lead_id].scored_ms
               for lead in read_back.leads)
    restarted = {**landed, **final(batch, read_back)}
    assert ({i for i, lead in restarted.items() if lead.quarantined}
            == {i for i, lead in alone.items() if lead.quarantined})
