"""The dead letters `score_leads` sends: filed under the event's origin, replays resolved.

A replayed event (`aiqleads dlq replay`) carries `x-dlq-origin`; whatever happens to it
is filed under that ORIGINAL origin, so the `dlq` row keyed by it is replaced instead of
a second one appearing:
- rejected again → `dead_letter(...)`: status "open", the new reason and detail;
- scored → `resolution(...)`: status "resolved", the reason it first failed with.
Every other event is filed where it was read (topic/partition/offset of the message).

A dead letter keeps at most `MAX_RAW` bytes of the event (and says so in its detail, with
the original size and SHA-256): a 5 MB event that reached the raw topic compressed would
make a dead letter over the producer's request limit, and the failed send crashed the
ingest agent on every retry (found by the E6 hostile-events scenario).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from operator import itemgetter

from faust.types import Message

from schemas.contract import DLQ_ORIGIN_HEADER
from schemas.dead_letter import DeadLetter
from streams.replay import origin_of, original_headers, replayed_reason

MAX_DETAIL = 1000
MAX_RAW = 256 * 1024  # base64 in the DLQ's JSON: ~350 KB, well under Kafka's 1 MB


def kept_raw(raw: bytes, detail: str) -> tuple[bytes, str]:
    """The bytes a dead letter keeps and its detail (noting a cut, with what identifies it)."""
    if len(raw) <= MAX_RAW:
        return raw, detail
    digest = hashlib.sha256(raw).hexdigest()
    note = f" [raw cut to {MAX_RAW} of {len(raw)} bytes; sha256 {digest}]"
    return raw[:MAX_RAW], detail[: MAX_DETAIL - len(note)] + note


def headers_of(message: Message) -> dict[str, str]:
    """A message's headers as text (Kafka allows repeats and bytes; the DLQ keeps the last)."""
    headers = message.headers
    items: Iterable[tuple[str, object]] = (
        headers.items() if isinstance(headers, Mapping) else (headers or ())
    )
    return {
        str(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        for k, v in items
    }


def dead_letter(
    message: Message,
    *,
    source: str,
    raw: bytes,
    reason: str,
    detail: str,
    produced_ms: int,
    received_ms: int,
) -> DeadLetter:
    """The open dead letter for a rejected event, under its original origin if replayed."""
    headers = headers_of(message)
    topic, partition, offset = origin_of(headers) or (
        message.topic, message.partition, message.offset
    )
    raw, detail = kept_raw(raw, detail[:MAX_DETAIL])
    return DeadLetter(
        reason=reason,
        detail=detail,
        source=source,
        topic=topic,
        partition=partition,
        offset=offset,
        raw=raw,
        headers=original_headers(headers),
        produced_ms=produced_ms,
        received_ms=received_ms,
    )


def resolution(
    message: Message,
    *,
    source: str,
    raw: bytes,
    lead_id: str,
    produced_ms: int,
    received_ms: int,
) -> DeadLetter | None:
    """The "resolved" dead letter for a replayed event that was scored; None otherwise."""
    if not _is_replay(message.headers):  # nearly every event: no header decoding
        return None
    headers = headers_of(message)
    origin = origin_of(headers)
    if origin is None:
        return None
    topic, partition, offset = origin
    return DeadLetter(
        reason=replayed_reason(headers),
        detail=(f"resolved: replayed as {message.topic}[{message.partition}]@{message.offset}, "
                f"lead {lead_id}")[:MAX_DETAIL],
        source=source,
        topic=topic,
        partition=partition,
        offset=offset,
        raw=raw,
        headers=original_headers(headers),
        produced_ms=produced_ms,
        received_ms=received_ms,
        status="resolved",
    )


_first = itemgetter(0)


def _is_replay(headers: object) -> bool:
    # aiokafka gives a tuple of (key, value) pairs; `in map(...)` keeps the scan in C.
    if not headers:
        return False
    if type(headers) is not tuple and isinstance(headers, Mapping):
        return DLQ_ORIGIN_HEADER in headers
    return DLQ_ORIGIN_HEADER in map(_first, headers)  # type: ignore[call-overload]
