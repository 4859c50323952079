"""The one count every fault scenario ends with, so no scenario can pass by asserting less.

`tally(settings, produced)` compares what was produced with what the warehouse holds:
valid leads produced against `leads FINAL` and the distinct lead ids landed, invalid events
produced against `dlq FINAL`, lead ids landed more than once, and `count()` against
`count() FINAL` (rows the replacing merge has not folded yet: the replays the faults caused).
`settle(...)` polls it until everything landed, or until nothing moved for a while *and* the
worker's group has nothing left to read (committed offsets at the end of the raw, scored and
dlq topics: a slow worker on a loaded machine is not a loss), and returns the last tally;
`Tally.verdict()` is the sentence a failed assertion prints.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from infra.settings import Settings
from infra.warehouse.errors import WarehouseError
from infra.warehouse.query import run_query
from schemas.contract import LEADS_DLQ, LEADS_SNAPSHOTS, RAW_TOPICS
from streams.traffic.generator import GeneratedEvent


@dataclass(frozen=True)
class Produced:
    """What a scenario sent: the valid lead ids and the number of invalid events.

    `shared`: ids that more than one valid event carried. The ids are deterministic (a
    webform post without a submission id is `form@time~hash(contact)`), so two posts of one
    form with one email in the same second are one lead by design, and land once. The
    simulator does that now and then (two of its people share an email): at 40,000 events
    from all sources, seed 808, events 2973 and 27855. Counted once here, so a lead that
    is only "missing" because its twin landed is never mistaken for a loss.
    """

    valid_ids: frozenset[str]
    invalid: int
    shared: frozenset[str] = frozenset()

    @classmethod
    def of(cls, events: Iterable[GeneratedEvent]) -> Produced:
        valid: Counter[str] = Counter()
        invalid = 0
        for event in events:
            if event.valid and event.lead_id is not None:
                valid[event.lead_id] += 1
            else:
                invalid += 1
        shared = frozenset(lead_id for lead_id, n in valid.items() if n > 1)
        return cls(frozenset(valid), invalid, shared)

    def __add__(self, other: Produced) -> Produced:
        return Produced(self.valid_ids | other.valid_ids, self.invalid + other.invalid,
                        self.shared | other.shared | (self.valid_ids & other.valid_ids))


@dataclass(frozen=True)
class Tally:
    valid_produced: int
    invalid_produced: int
    leads_final: int  # count() FINAL
    leads_rows: int  # count(): replays not merged yet show here
    distinct_landed: int
    dlq_final: int
    dlq_rows: int
    missing: frozenset[str] = field(default_factory=frozenset)  # produced, never landed
    unexpected: frozenset[str] = field(default_factory=frozenset)  # landed, never produced
    duplicated_ids: frozenset[str] = field(default_factory=frozenset)  # >1 row after FINAL
    shared: int = 0  # ids two produced events carried (one lead by design)

    @property
    def lost(self) -> int:
        return len(self.missing) + max(0, self.invalid_produced - self.dlq_final)

    @property
    def duplicated(self) -> int:
        return (len(self.duplicated_ids) + len(self.unexpected)
                + max(0, self.dlq_final - self.invalid_produced))

    @property
    def replayed_rows(self) -> int:
        """Rows landed more than once before the merge folded them (at-least-once at work)."""
        return self.leads_rows - self.leads_final + self.dlq_rows - self.dlq_final

    @property
    def exact(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0
                and self.leads_final == self.distinct_landed == self.valid_produced
                and self.dlq_final == self.invalid_produced
                and self.leads_rows >= self.leads_final and self.dlq_rows >= self.dlq_final)

    def verdict(self) -> str:
        return (f"leads FINAL {self.leads_final} (count() {self.leads_rows}, distinct "
                f"{self.distinct_landed}) of {self.valid_produced} valid produced; dlq FINAL "
                f"{self.dlq_final} (count() {self.dlq_rows}) of {self.invalid_produced} invalid; "
                f"lost {self.lost} (e.g. {sorted(self.missing)[:3]}), duplicated "
                f"{self.duplicated} (ids {sorted(self.duplicated_ids)[:3]}, never produced "
                f"{sorted(self.unexpected)[:3]}); {self.shared} ids sent twice by design")


def _scalar(settings: Settings, sql: str) -> int:
    return int(run_query(settings, sql).scalar())


def tally(settings: Settings, produced: Produced) -> Tally:
    """Count the warehouse against `produced` (one query per measure, all on this moment)."""
    landed = run_query(settings, "SELECT lead_id, count() AS n FROM leads FINAL GROUP BY lead_id")
    counts = dict(landed.rows)
    ids = frozenset(counts)
    return Tally(
        valid_produced=len(produced.valid_ids),
        invalid_produced=produced.invalid,
        leads_final=sum(counts.values()),
        leads_rows=_scalar(settings, "SELECT count() FROM leads"),
        distinct_landed=_scalar(settings, "SELECT uniqExact(lead_id) FROM leads"),
        dlq_final=_scalar(settings, "SELECT count() FROM dlq FINAL"),
        dlq_rows=_scalar(settings, "SELECT count() FROM dlq"),
        missing=produced.valid_ids - ids,
        unexpected=ids - produced.valid_ids,
        duplicated_ids=frozenset(lead_id for lead_id, n in counts.items() if n > 1),
        shared=len(produced.shared),
    )


def backlog(settings: Settings) -> int | None:
    """Messages not yet committed on the topics that feed the tables: the raw topics by the
    raw loop's group, dead letters and feature snapshots by Faust's."""
    group = f"{settings.topic_prefix}{settings.app_id}"
    left = 0
    for group_id, names in ((f"{group}-ingest", RAW_TOPICS), (group, (LEADS_DLQ, LEADS_SNAPSHOTS))):
        consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group_id,
                             "enable.auto.commit": False, "log_level": 0})
        try:
            tps = [TopicPartition(settings.topic(t), p) for t in names
                   for p in range(settings.topic_partitions)]
            for tp in consumer.committed(tps, timeout=10):
                high = consumer.get_watermark_offsets(tp, timeout=10)[1]
                left += max(0, high - max(tp.offset, 0))
        except KafkaException:
            return None  # the broker may be coming back from a fault
        finally:
            consumer.close()
    return left


def settle(
    settings: Settings, produced: Produced, *, quiet_seconds: float = 45.0,
    timeout: float = 600.0,
) -> Tally:
    """Tally until everything landed, or nothing changed for `quiet_seconds` (a loss: the
    count stalls short), or `timeout`; the last tally either way."""
    deadline = time.monotonic() + timeout
    last: tuple[int, ...] | None = None
    changed = time.monotonic()
    current: Tally | None = None
    while True:
        try:
            current = tally(settings, produced)
        except WarehouseError:  # the warehouse may still be coming back from a fault
            current = None
        if current is not None:
            if current.exact:
                return current
            shape = (current.leads_final, current.dlq_final, current.leads_rows)
            if shape != last:
                last, changed = shape, time.monotonic()
        now = time.monotonic()
        if current is not None and now > deadline:
            return current
        if current is not None and now - changed > quiet_seconds and backlog(settings) == 0:
            return current
        if now > deadline + 60:
            raise TimeoutError("the warehouse never answered while settling")
        time.sleep(1.0)
