"""Dead letters stay sendable whatever the event's size."""

from __future__ import annotations

import hashlib

from agents.replay import MAX_DETAIL, MAX_RAW, kept_raw
from schemas.codec import encode
from schemas.dead_letter import DeadLetter


def test_a_small_event_is_kept_whole() -> None:
    assert kept_raw(b"{}", "bad json") == (b"{}", "bad json")


def test_a_5_mb_event_is_cut_and_the_letter_fits_a_kafka_request() -> None:
    # Regression (E6): a 5 MB event reached the raw topic lz4-compressed; its 7 MB dead
    # letter failed to send and crashed the ingest agent on every retry.
    raw = b'{"x":"' + b"a" * (5 * 1024 * 1024) + b'"}'
    kept, detail = kept_raw(raw, "x" * MAX_DETAIL)
    assert kept == raw[:MAX_RAW]
    assert hashlib.sha256(raw).hexdigest() in detail and str(len(raw)) in detail
    assert len(detail) <= MAX_DETAIL
    letter = DeadLetter(reason="too_large", detail=detail, source="portal", topic="t",
                        partition=0, offset=1, raw=kept)
    assert len(encode(letter)) < 1_000_000
