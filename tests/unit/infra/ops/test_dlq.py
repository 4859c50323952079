"""`infra.ops.dlq`: the queries it sends, what it shows people, and what replay produces."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.ops import dlq
from infra.settings import Settings
from infra.warehouse.result import QueryResult
from schemas.contract import DLQ_ORIGIN_HEADER, DLQ_REASON_HEADER

SETTINGS = Settings(clickhouse_url="chdb:///nowhere")


class FakeQuery:
    def __init__(self, result: QueryResult) -> None:
        self.result = result
        self.sql: list[str] = []

    def __call__(self, settings: Settings, sql: str) -> QueryResult:
        self.sql.append(sql)
        return self.result


class FakeProducer:
    def __init__(self, partitions: dict[str, int], fail: bool = False) -> None:
        self.partitions = partitions
        self.fail = fail
        self.sent: list[dict[str, Any]] = []
        self._pending: list[Any] = []

    def list_topics(self, topic: str, timeout: float) -> Any:
        topics = {
            name: SimpleNamespace(error=None, partitions=dict.fromkeys(range(n)))
            for name, n in self.partitions.items()
        }
        return SimpleNamespace(topics=topics)

    def produce(self, topic: str, value: bytes, **kwargs: Any) -> None:
        self.sent.append({"topic": topic, "value": value, **kwargs})
        msg = SimpleNamespace(topic=lambda: topic)
        self._pending.append((kwargs["on_delivery"], msg))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        for callback, msg in self._pending:
            callback("broker down" if self.fail else None, msg)
        self._pending.clear()
        return 0


def _open_rows() -> QueryResult:
    return QueryResult(
        ("topic", "partition", "offset", "reason", "source", "raw", "headers_keys",
         "headers_values"),
        [
            ("leads.raw.portal", 1, 7, "too_old", "portal", '{"a":1}', ["x-source"], ["portal"]),
            ("leads.raw.portal", 9, 8, "too_old", "portal", b"\xff\xfe", [], []),
        ],
    )


def test_filters_apply_outside_final_so_they_see_each_origins_newest_version() -> None:
    query = FakeQuery(_open_rows())
    dlq.select_for_replay(SETTINGS, reason="too_old", source="portal", limit=5, query=query)
    (sql,) = query.sql
    inner, _, outer = sql.partition(" FROM dlq FINAL)")
    assert "WHERE" not in inner
    assert "reason = 'too_old'" in outer and "source = 'portal'" in outer
    assert "status = 'open'" in outer and outer.rstrip().endswith("LIMIT 5")


def test_filter_values_are_quoted() -> None:
    assert dlq.where_clause(reason="x' OR 1=1 --") == "WHERE reason = 'x\\' OR 1=1 --'"
    assert dlq.where_clause(source="a\\'b") == "WHERE source = 'a\\\\\\'b'"


def test_counts_adds_a_total_row() -> None:
    query = FakeQuery(QueryResult(("reason", "source", "n_open", "n_resolved", "n_total"),
                                  [("too_old", "portal", 2, 1, 3), ("bad_json", "crm", 1, 0, 1)]))
    result = dlq.counts(SETTINGS, query=query)
    assert result.columns == ("reason", "source", "open", "resolved", "total")
    assert result.rows[-1] == ("total", "", 3, 1, 4)


def test_list_shows_origin_age_and_a_safe_preview() -> None:
    query = FakeQuery(QueryResult(
        ("topic", "partition", "offset", "source", "reason", "status", "received_ms", "detail",
         "raw"),
        [("leads.raw.crm", 2, 41, "crm", "bad_json", "open", 1_000, "line 1\nline 2",
          b"\x1b[31m\xff")],
    ))
    result = dlq.list_letters(SETTINGS, now_ms=1_000 + 90 * 60_000, query=query)
    (row,) = result.rows
    assert row[:5] == ("leads.raw.crm[2]@41", "crm", "bad_json", "open", "1h30m")
    assert row[5] == "line 1\\nline 2"
    assert row[6] == "\\x1b[31m\\xff"


@given(st.binary(max_size=300), st.integers(min_value=2, max_value=80))
def test_preview_is_one_printable_line_within_width(raw: bytes, width: int) -> None:
    line = dlq.preview(raw, width)
    assert len(line) <= width
    assert line.isprintable()


def test_replay_sends_raw_bytes_to_the_original_partition_with_origin_headers() -> None:
    producer = FakeProducer({"leads.raw.portal": 4})
    summary = dlq.replay(SETTINGS, reason="too_old", query=FakeQuery(_open_rows()),
                         producer=producer)
    assert summary.ok and (summary.selected, summary.sent, summary.failed) == (2, 2, 0)
    first, second = producer.sent
    assert first["value"] == b'{"a":1}' and first["partition"] == 1
    assert first["headers"] == [("x-source", b"portal"),
                                (DLQ_ORIGIN_HEADER, b"leads.raw.portal/1/7"),
                                (DLQ_REASON_HEADER, b"too_old")]
    # Partition 9 no longer exists: the partitioner chooses.
    assert second["value"] == b"\xff\xfe" and "partition" not in second
    assert "replayed 2 of 2" in summary.render()


def test_dry_run_sends_nothing() -> None:
    producer = FakeProducer({"leads.raw.portal": 4})
    summary = dlq.replay(SETTINGS, dry_run=True, query=FakeQuery(_open_rows()),
                         producer=producer)
    assert producer.sent == [] and summary.ok
    assert summary.render().startswith("would replay 2 of 2")


@pytest.mark.parametrize(("partitions", "fail"), [({}, False), ({"leads.raw.portal": 4}, True)])
def test_replay_reports_failures(partitions: dict[str, int], fail: bool) -> None:
    summary = dlq.replay(SETTINGS, query=FakeQuery(_open_rows()),
                         producer=FakeProducer(partitions, fail=fail))
    assert not summary.ok and summary.failed == 2 and summary.sent == 0
    assert "failed: 2" in summary.render()


def test_a_full_page_says_more_may_remain() -> None:
    summary = dlq.replay(SETTINGS, limit=2, dry_run=True, query=FakeQuery(_open_rows()))
    assert "limit 2 reached" in summary.render()
