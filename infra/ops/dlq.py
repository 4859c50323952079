"""`aiqleads dlq`: count, list and replay the dead letters in the warehouse `dlq` table.

Contract:
- Reads go through `run_query`, so they work on both backends and while a worker owns
  the embedded warehouse. They read `dlq FINAL` inside a subquery: one row per origin
  (its newest version), and filters on reason, source and status apply to that newest
  version, never to a superseded one.
- `replay` selects OPEN dead letters and re-produces each one's original bytes to its
  original topic and partition (confluent-kafka: acks=all, idempotent, murmur2 keys),
  with the original headers plus `x-dlq-origin` and `x-dlq-reason` (`streams.replay`).
  The worker files the outcome under that origin: "resolved" if it scores, a renewed
  "open" dead letter if not. Nothing is duplicated: leads are keyed by a deterministic
  `lead_id`, dead letters by origin; replaying a record again (still open, or not yet
  processed) re-sends bytes that land in the same two rows.
- The original message key is not kept in the DLQ; the original partition is, and a
  replay goes there (the partition the key hashed to), so per-partition order holds.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from infra.kafka.admin import KEY_PARTITIONER
from infra.settings import Settings
from infra.warehouse.query import run_query
from infra.warehouse.result import QueryResult
from streams.replay import replay_headers

log = logging.getLogger(__name__)

STATUSES = ("open", "resolved")
DEFAULT_LIST_LIMIT = 50
DEFAULT_REPLAY_LIMIT = 10_000
PREVIEW_WIDTH = 60
DETAIL_WIDTH = 60
_FLUSH_TIMEOUT_S = 60.0

Query = Callable[[Settings, str], QueryResult]


# --- reading -----------------------------------------------------------------------------


def _literal(text: str) -> str:
    """A ClickHouse string literal.

    >>> _literal("it's")
    "'it\\\\'s'"
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def where_clause(
    *, reason: str | None = None, source: str | None = None, status: str | None = None
) -> str:
    """The WHERE clause (or "") for the filters given.

    >>> where_clause(reason="too_old", status="open")
    "WHERE reason = 'too_old' AND status = 'open'"
    >>> where_clause()
    ''
    """
    conditions = [
        f"{column} = {_literal(value)}"
        for column, value in (("reason", reason), ("source", source), ("status", status))
        if value
    ]
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _latest(columns: str) -> str:
    # FINAL in a subquery: the WHERE outside sees only each origin's newest version.
    return f"(SELECT {columns} FROM dlq FINAL)"


def counts(
    settings: Settings,
    *,
    reason: str | None = None,
    source: str | None = None,
    query: Query = run_query,
) -> QueryResult:
    """Dead letters by reason and source: open, resolved, total; a `total` row last."""
    result = query(
        settings,
        "SELECT reason, source, countIf(status = 'open') AS n_open, "
        "countIf(status = 'resolved') AS n_resolved, count() AS n_total "
        f"FROM {_latest('reason, source, status')} {where_clause(reason=reason, source=source)} "
        "GROUP BY reason, source ORDER BY n_open DESC, n_total DESC, reason, source",
    )
    rows = [tuple(row) for row in result.rows]
    totals = tuple(sum(int(row[i]) for row in rows) for i in (2, 3, 4))
    return QueryResult(
        ("reason", "source", "open", "resolved", "total"),
        [*rows, ("total", "", *totals)],
    )


def list_letters(
    settings: Settings,
    *,
    reason: str | None = None,
    source: str | None = None,
    status: str | None = "open",
    limit: int = DEFAULT_LIST_LIMIT,
    now_ms: int | None = None,
    query: Query = run_query,
) -> QueryResult:
    """The newest dead letters matching the filters, for people: origin, age, preview."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    columns = "topic, `partition`, `offset`, source, reason, status, received_ms, detail, raw"
    result = query(
        settings,
        f"SELECT {columns} FROM {_latest(columns)} "
        f"{where_clause(reason=reason, source=source, status=status)} "
        f"ORDER BY received_ms DESC, topic, `partition`, `offset` LIMIT {int(limit)}",
    )
    rows = [
        (
            f"{topic}[{partition}]@{offset}",
            src,
            why,
            state,
            format_age(now_ms - int(received_ms)),
            preview(detail.encode() if isinstance(detail, str) else detail, DETAIL_WIDTH),
            preview(_as_bytes(raw), PREVIEW_WIDTH),
        )
        for topic, partition, offset, src, why, state, received_ms, detail, raw in result.rows
    ]
    return QueryResult(("origin", "source", "reason", "status", "age", "detail", "raw"), rows)


def _as_bytes(value: Any) -> bytes:
    # Results give str for valid UTF-8 and bytes otherwise; either way the exact bytes.
    return value.encode() if isinstance(value, str) else bytes(value)


def preview(raw: bytes, width: int = PREVIEW_WIDTH) -> str:
    """One safe line of raw bytes: invalid UTF-8 and control characters escaped, cut.

    Nothing a hostile sender put in the bytes can move a terminal's cursor or add lines.

    >>> preview(b'{"a":1}\\n\\x1b[2J')
    '{"a":1}\\\\n\\\\x1b[2J'
    >>> preview(b"\\xff\\xfeok")
    '\\\\xff\\\\xfeok'
    >>> preview(b"x" * 10, width=5)
    'xxxx…'
    """
    text = raw.decode("utf-8", "backslashreplace")
    out: list[str] = []
    length = 0
    for char in text:
        piece = char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        out.append(piece)
        length += len(piece)
        if length > width:
            break
    line = "".join(out)
    return line if len(line) <= width else line[: width - 1] + "…"


def format_age(ms: int) -> str:
    """A short age: the two largest units.

    >>> format_age(42_000), format_age(3 * 86_400_000 + 7_200_000), format_age(-5)
    ('42s', '3d2h', '0s')
    """
    seconds = max(ms, 0) // 1000
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return "".join(parts)


# --- replay ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    topic: str
    partition: int
    offset: int
    reason: str
    source: str
    raw: bytes
    headers: dict[str, str]

    @property
    def origin(self) -> tuple[str, int, int]:
        return self.topic, self.partition, self.offset


def select_for_replay(
    settings: Settings,
    *,
    reason: str | None = None,
    source: str | None = None,
    limit: int = DEFAULT_REPLAY_LIMIT,
    query: Query = run_query,
) -> list[ReplayRecord]:
    """Open dead letters matching the filters, in origin order (topic, partition, offset)."""
    columns = "topic, `partition`, `offset`, reason, source, raw, headers_keys, headers_values"
    result = query(
        settings,
        f"SELECT {columns} FROM {_latest(columns + ', status')} "
        f"{where_clause(reason=reason, source=source, status='open')} "
        f"ORDER BY topic, `partition`, `offset` LIMIT {int(limit)}",
    )
    return [
        ReplayRecord(
            topic=topic,
            partition=int(partition),
            offset=int(offset),
            reason=why,
            source=src,
            raw=_as_bytes(raw),
            headers=dict(zip(keys, values, strict=False)),
        )
        for topic, partition, offset, why, src, raw, keys, values in result.rows
    ]


@dataclass
class ReplaySummary:
    selected: int = 0
    sent: int = 0
    dry_run: bool = False
    limit: int = DEFAULT_REPLAY_LIMIT
    by_topic_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures and self.sent == (0 if self.dry_run else self.selected)

    def render(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        done = self.selected if self.dry_run else self.sent
        lines = [f"{verb} {done} of {self.selected} open dead letters"]
        lines.extend(
            f"  {topic:<32} {reason:<16} {n:>7}"
            for (topic, reason), n in sorted(self.by_topic_reason.items())
        )
        if self.failures:
            lines.append(f"failed: {self.failed}")
            lines.extend(f"  {failure}" for failure in self.failures[:10])
        if self.selected >= self.limit:
            lines.append(f"limit {self.limit} reached: more may be open; run again once "
                         "the worker has processed these")
        if not self.dry_run and self.sent:
            lines.append("each stays open until the worker scores it (then resolved) or "
                         "rejects it again (open, new reason)")
        return "\n".join(lines)


class Producer(Protocol):
    """The part of `confluent_kafka.Producer` replay uses."""

    def produce(self, topic: str, value: bytes, **kwargs: Any) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def list_topics(self, topic: str, timeout: float) -> Any: ...


def producer_config(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": "aiqleads-dlq-replay",
        "acks": "all",
        "enable.idempotence": True,  # broker retries must not send an event twice
        "partitioner": KEY_PARTITIONER,
        "linger.ms": 5,
        "message.timeout.ms": 60_000,
        "logger": logging.getLogger("librdkafka"),
    }


def replay(
    settings: Settings,
    *,
    reason: str | None = None,
    source: str | None = None,
    limit: int = DEFAULT_REPLAY_LIMIT,
    dry_run: bool = False,
    query: Query = run_query,
    producer: Producer | None = None,
) -> ReplaySummary:
    """Re-send the open dead letters matching the filters to where they came from."""
    records = select_for_replay(settings, reason=reason, source=source, limit=limit, query=query)
    summary = ReplaySummary(selected=len(records), dry_run=dry_run, limit=limit)
    summary.by_topic_reason.update((r.topic, r.reason) for r in records)
    if dry_run or not records:
        return summary
    if producer is None:
        from confluent_kafka import Producer as KafkaProducer

        producer = KafkaProducer(producer_config(settings))
    _send(producer, records, summary)
    return summary


def _send(producer: Producer, records: Sequence[ReplayRecord], summary: ReplaySummary) -> None:
    partitions: dict[str, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        if err is None:
            summary.sent += 1
        else:
            summary.failures.append(f"{msg.topic()}: {err}")

    for record in records:
        count = partitions.get(record.topic)
        if count is None:
            metadata = producer.list_topics(record.topic, timeout=10.0).topics.get(record.topic)
            exists = metadata is not None and metadata.error is None
            count = partitions[record.topic] = len(metadata.partitions) if exists else 0
        if count == 0:
            summary.failures.append(f"{record.topic}[{record.partition}]@{record.offset}: "
                                    "topic does not exist")
            continue
        # The original partition when it still exists, else wherever the partitioner says.
        target = {"partition": record.partition} if record.partition < count else {}
        producer.produce(
            record.topic,
            record.raw,
            headers=replay_headers(record.headers, record.origin, record.reason),
            on_delivery=delivered,
            **target,
        )
        producer.poll(0)
    remaining = producer.flush(_FLUSH_TIMEOUT_S)
    if remaining:
        summary.failures.append(f"{remaining} messages not acknowledged in {_FLUSH_TIMEOUT_S}s")
    log.info("dlq replay: %d sent, %d failed", summary.sent, summary.failed)
