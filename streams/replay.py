"""DLQ replay headers: how a re-sent dead letter says where it first failed.

`aiqleads dlq replay` re-produces a dead letter's original bytes to its original
topic with two extra headers; the ingest agent reads them back so that the outcome
of the replay (scored again, or rejected again) is filed under the ORIGINAL origin.
The `dlq` table is keyed by origin (ReplacingMergeTree, newest `received_ms` wins), so
a replay never adds a second dead letter: it flips the first to "resolved" or renews it.

Pure: header maps in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.contract import DLQ_ORIGIN_HEADER, DLQ_REASON_HEADER

REPLAY_HEADERS = (DLQ_ORIGIN_HEADER, DLQ_REASON_HEADER)

Origin = tuple[str, int, int]


def format_origin(topic: str, partition: int, offset: int) -> str:
    """The `x-dlq-origin` value.

    >>> format_origin("leads.raw.portal", 2, 17)
    'leads.raw.portal/2/17'
    """
    return f"{topic}/{partition}/{offset}"


def origin_of(headers: Mapping[str, str]) -> Origin | None:
    """The original (topic, partition, offset) of a replayed event; None if not a replay.

    Kafka topic names cannot contain "/", so the last two fields are the numbers.
    A malformed header is treated as absent: the event is then filed where it is.

    >>> origin_of({"x-dlq-origin": "leads.raw.portal/2/17"})
    ('leads.raw.portal', 2, 17)
    >>> origin_of({}) is None, origin_of({"x-dlq-origin": "nonsense"}) is None
    (True, True)
    """
    value = headers.get(DLQ_ORIGIN_HEADER)
    if not value:
        return None
    topic, sep, numbers = value.partition("/")
    partition, sep2, offset = numbers.partition("/")
    if not (sep and sep2 and topic) or not (partition.isdigit() and offset.isdigit()):
        return None
    return topic, int(partition), int(offset)


def replayed_reason(headers: Mapping[str, str]) -> str:
    """The reason code the replayed event first failed with ("" when unknown)."""
    return headers.get(DLQ_REASON_HEADER, "")


def original_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers without our replay headers: what the source originally sent."""
    return {k: v for k, v in headers.items() if k not in REPLAY_HEADERS}


def replay_headers(
    headers: Mapping[str, str], origin: Origin, reason: str
) -> list[tuple[str, bytes]]:
    """Kafka headers for re-sending a dead letter: the original ones plus origin and reason.

    >>> replay_headers({"trace": "t1"}, ("leads.raw.crm", 0, 5), "too_old")
    [('trace', b't1'), ('x-dlq-origin', b'leads.raw.crm/0/5'), ('x-dlq-reason', b'too_old')]
    """
    return [
        *((k, v.encode()) for k, v in original_headers(headers).items()),
        (DLQ_ORIGIN_HEADER, format_origin(*origin).encode()),
        (DLQ_REASON_HEADER, reason.encode()),
    ]
