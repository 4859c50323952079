"""Replay headers (`streams.replay`) and the dead letters `agents.replay` files."""

from __future__ import annotations

import doctest

import pytest
from faust.types import Message
from hypothesis import given
from hypothesis import strategies as st

import infra.ops.dlq
import streams.replay
from agents.replay import dead_letter, headers_of, resolution
from streams.replay import (
    DLQ_ORIGIN_HEADER,
    DLQ_REASON_HEADER,
    format_origin,
    origin_of,
    original_headers,
    replay_headers,
)


def _message(headers: object, topic: str = "leads.raw.portal", partition: int = 3,
             offset: int = 900) -> Message:
    return Message(topic=topic, partition=partition, offset=offset, timestamp=1.0,
                   timestamp_type=0, headers=headers, key=b"k", value=b"{}", checksum=None)


@given(st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True),
       st.integers(0, 10_000), st.integers(0, 2**62))
def test_origin_round_trips(topic: str, partition: int, offset: int) -> None:
    header = {DLQ_ORIGIN_HEADER: format_origin(topic, partition, offset)}
    assert origin_of(header) == (topic, partition, offset)


@pytest.mark.parametrize("value", ["", "t", "t/1", "t/x/2", "/1/2", "t/1/-2", "t/1/2/3"])
def test_a_malformed_origin_is_no_origin(value: str) -> None:
    assert origin_of({DLQ_ORIGIN_HEADER: value}) is None


def test_replay_headers_replace_stale_replay_headers() -> None:
    stale = {"x-source": "crm", DLQ_ORIGIN_HEADER: "old/0/0", DLQ_REASON_HEADER: "bad_json"}
    headers = replay_headers(stale, ("leads.raw.crm", 1, 2), "too_old")
    assert headers == [("x-source", b"crm"), (DLQ_ORIGIN_HEADER, b"leads.raw.crm/1/2"),
                       (DLQ_REASON_HEADER, b"too_old")]
    assert original_headers(stale) == {"x-source": "crm"}


@pytest.mark.parametrize("headers", [[("x-source", b"portal")], {"x-source": b"portal"}, None, []])
def test_a_first_failure_is_filed_where_it_was_read(headers: object) -> None:
    letter = dead_letter(_message(headers), source="portal", raw=b"x", reason="bad_json",
                         detail="d" * 5000, produced_ms=1, received_ms=2)
    assert (letter.topic, letter.partition, letter.offset) == ("leads.raw.portal", 3, 900)
    assert letter.status == "open" and len(letter.detail) == 1000
    assert letter.headers == ({"x-source": "portal"} if headers else {})


def test_a_replay_rejected_again_renews_its_original_dead_letter() -> None:
    message = _message([("x-source", b"portal"), (DLQ_ORIGIN_HEADER, b"leads.raw.portal/1/17"),
                        (DLQ_REASON_HEADER, b"too_old")])
    letter = dead_letter(message, source="portal", raw=b"x", reason="out_of_area",
                         detail="nowhere", produced_ms=1, received_ms=2)
    assert letter.origin == "leads.raw.portal[1]@17"
    assert (letter.status, letter.reason, letter.headers) == ("open", "out_of_area",
                                                              {"x-source": "portal"})


def test_a_replay_that_scores_resolves_its_original_dead_letter() -> None:
    message = _message([(DLQ_ORIGIN_HEADER, b"leads.raw.portal/1/17"),
                        (DLQ_REASON_HEADER, b"too_old")])
    letter = resolution(message, source="portal", raw=b"x", lead_id="portal:abc",
                        produced_ms=1, received_ms=2)
    assert letter is not None
    assert (letter.origin, letter.status, letter.reason) == ("leads.raw.portal[1]@17",
                                                             "resolved", "too_old")
    assert "portal:abc" in letter.detail and letter.headers == {}


@pytest.mark.parametrize("headers", [None, [], [("x-source", b"portal")], {"x-source": b"p"},
                                     [(DLQ_ORIGIN_HEADER, b"garbage")]])
def test_an_ordinary_lead_resolves_nothing(headers: object) -> None:
    assert resolution(_message(headers), source="portal", raw=b"x", lead_id="l",
                      produced_ms=1, received_ms=2) is None


def test_headers_decode_leniently() -> None:
    assert headers_of(_message([("a", b"\xff"), ("b", b"ok")])) == {"a": "\ufffd", "b": "ok"}


@pytest.mark.parametrize("module", [streams.replay, infra.ops.dlq])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]
