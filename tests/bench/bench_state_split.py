"""What a second worker changes in the answers of the stage's state.

The dedupe table is exact with any number of workers (every worker mirrors it:
`tests/integration/test_two_workers.py`), and every worker's fraud screen remembers the
others' sightings (`fraud.sightings`); the feature stores by area (density, clusters,
market, penetration) and by contact (behaviour) are kept by the worker that scored the
lead. This bench runs the real raw → scored stage (`agents.ingest.RawStage`: parse,
validate, H3, dedupe, fraud screen with pull-back, every feature family, both arms) in
process over one generated stream (all five sources, 10 % fraud, 5 % re-sends), four
ways:

- **one worker**, the events in production order (the reference);
- **one worker, other interleaving**: the same events as a consumer fetches them, 50 at a
  time from each of the 20 raw partitions in turn; what differs here differs between two
  runs of one worker, so it is not a second worker's doing;
- **two workers, screens apart**: the raw partitions split between two stages as Kafka's
  assignor does, each scoring 100 events in turn; they share one dedupe dict (the mirror
  at zero delay), each has its own screen and stores (the code before `fraud.sightings`);
- **two workers**: the same, and each stage's sightings reach the other's screen
  (`agents.ingest.SightingsMirror`) before the other's next batch, as the worker's mirror
  delivers them within about a batch.

It prints, per way, the quarantined leads, how many leads' verdicts differ from the
reference, the screen's final-state precision and recall against the generator's labels,
and per feature family how many values differ from the reference. Run: `make bench`, or
`.venv/bin/python -m tests.bench.bench_state_split`.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Sequence

import pytest

from agents.ingest import RawMessage, RawStage, SightingsMirror
from agents.partitioning import key_partition
from infra.settings import Settings
from schemas.contract import SOURCES, raw_topic
from schemas.lead import ScoredLead
from streams.features.build import feature_stores
from streams.fraud.quality import precision_recall
from streams.fraud.screen import FraudScreen
from streams.ingest import IngestConfig, IngestState
from streams.scoring.arms import Scorer
from streams.traffic.generator import GeneratedEvent, generate

EVENTS = 10_000
SEED = 5
PARTITIONS = 4  # per raw topic, `AIQ_TOPIC_PARTITIONS`' default
BATCH = 100  # events a stage scores before the other stage's turn
#: Feature families (a name's first word) computed from state; the rest are the lead's own.
STATEFUL = ("beh", "clu", "geo", "mkt", "pen")


def messages(settings: Settings, events: Sequence[GeneratedEvent]) -> list[RawMessage]:
    rng = random.Random(SEED)  # keyless events: librdkafka's murmur2_random picks at random
    now = time.time()
    return [RawMessage(settings.topic(raw_topic(e.source)),
                       key_partition(e.key, PARTITIONS) if e.key else rng.randrange(PARTITIONS),
                       offset, e.key, e.value, list(e.headers.items()), now)
            for offset, e in enumerate(events)]


class Worker:
    """One stage and what it sent to `fraud.sightings` since the others last read it."""

    def __init__(self, settings: Settings, dedupe: dict[str, str], name: bytes | None) -> None:
        state = IngestState(scorer=Scorer.from_specs(settings.model_spec, None, seed=1),
                            screen=FraudScreen(), first_lead_by_contact=dedupe,
                            stores=feature_stores().all)
        self.sent: list[tuple[bytes, bytes]] = []
        self.stage = RawStage(settings, IngestConfig(), state, self.send,
                              scored_topic="scored", dlq_topic="dlq",
                              sightings_topic=None if name is None else "sightings",
                              worker=name or b"")
        self.mirror = SightingsMirror(self.stage)

    def send(self, topic: str, value: bytes, key: bytes | None) -> None:
        if topic == "sightings" and key is not None:
            self.sent.append((key, value))


def run(settings: Settings, owned: Sequence[list[RawMessage]], *, share: bool = True
        ) -> dict[str, ScoredLead]:
    """Each lead's last version (pull-backs re-send), the workers taking turns by batch."""
    dedupe: dict[str, str] = {}
    workers = [Worker(settings, dedupe, str(i).encode() if share else None)
               for i in range(len(owned))]
    queues = [list(messages) for messages in owned]
    final: dict[str, ScoredLead] = {}
    while any(queues) or any(worker.stage.pending for worker in workers):
        for worker, queue in zip(workers, queues, strict=True):
            batch, queue[:] = queue[:BATCH], queue[BATCH:]
            final.update((lead.lead_id, lead) for lead in worker.stage.score(batch).leads)
            for other in workers:
                if other is not worker:
                    for key, value in worker.sent:
                        other.mirror.apply(key, value)
            worker.sent.clear()
    return final


def fetch_order(msgs: Sequence[RawMessage], per_fetch: int = 50) -> list[RawMessage]:
    by_partition: dict[tuple[str, int], list[RawMessage]] = defaultdict(list)
    for message in msgs:
        by_partition[message.topic, message.partition].append(message)
    order: list[RawMessage] = []
    while any(by_partition.values()):
        for queue in by_partition.values():
            order += queue[:per_fetch]
            del queue[:per_fetch]
    return order


def differing(reference: dict[str, ScoredLead], other: dict[str, ScoredLead]) -> dict[str, float]:
    """Share of feature values that differ per stateful family, the others as "own"."""
    counts: dict[str, list[int]] = {family: [0, 0] for family in (*STATEFUL, "own")}
    for lead_id, lead in reference.items():
        theirs = other[lead_id].features
        for name, value in lead.features.items():
            prefix = name.split("_")[0]
            family = counts[prefix if prefix in STATEFUL else "own"]
            family[1] += 1
            family[0] += abs(value - theirs.get(name, float("nan"))) > 1e-9  # nan: differs
    return {family: wrong / max(1, total) for family, (wrong, total) in counts.items()}


def report() -> list[str]:
    settings = Settings()
    events = generate(EVENTS, sources=SOURCES, seed=SEED, malformed_share=0.0,
                      fraud_share=0.1, duplicate_share=0.05)
    fraud = {e.lead_id: e.fraud is not None for e in events if e.lead_id}
    msgs = messages(settings, events)
    topics = sorted({(m.topic, m.partition) for m in msgs})
    second = set(topics[1::2])  # round-robin assignment of the 20 raw partitions
    split = [[m for m in msgs if (m.topic, m.partition) not in second],
             [m for m in msgs if (m.topic, m.partition) in second]]
    ways = {
        "one worker": run(settings, [msgs]),
        "one worker, other interleaving": run(settings, [fetch_order(msgs)]),
        "two workers, screens apart": run(settings, split, share=False),
        "two workers": run(settings, split),
    }
    reference = ways["one worker"]
    families = (*STATEFUL, "own")
    lines = [f"{EVENTS:,} events, seed {SEED}: fraud screen's final state and feature values "
             "against one worker in production order", "",
             "| | quarantined | verdicts differ | precision | recall | "
             + " | ".join(f"`{f}_*` differ" if f != "own" else "the lead's own differ"
                          for f in families) + " |",
             "|---|---|---|---|---|" + "---|" * len(families)]
    for name, final in ways.items():
        precision, recall = precision_recall(
            (fraud[lead_id], lead.quarantined) for lead_id, lead in final.items())
        shares = differing(reference, final)
        verdicts = sum(lead.quarantined != reference[lead_id].quarantined
                       for lead_id, lead in final.items())
        lines.append(f"| {name} | {sum(lead.quarantined for lead in final.values()):,} | "
                     f"{verdicts} | {precision:.3f} | {recall:.3f} | "
                     + " | ".join(f"{shares[f]:.1%}" for f in families) + " |")
    return lines


@pytest.mark.bench
def test_second_worker_changes_only_the_per_worker_state() -> None:
    lines = report()
    print("\n" + "\n".join(lines))
    for row in lines[-4:]:  # features of the lead alone never depend on who scored it
        assert row.rstrip(" |").endswith("| 0.0%"), row
    recall = {row.split(" | ")[0]: float(row.split(" | ")[4]) for row in lines[-4:]}
    assert recall["| two workers"] >= recall["| one worker"] - 0.01, recall


if __name__ == "__main__":
    print("\n".join(report()))
