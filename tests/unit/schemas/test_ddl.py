"""The ClickHouse DDL and the column builders: derived from the records, adapted per server."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from infra.warehouse.columns import build_columns, dedup_token, epoch_seconds
from schemas.ddl import (
    DLQ,
    LEADS,
    LEGACY,
    OUTCOMES,
    TABLES,
    ServerFeatures,
    Table,
    create_statements,
    missing_column_statements,
    record_columns,
)
from schemas.dead_letter import DeadLetter
from schemas.lead import ScoredLead
from schemas.outcome import Outcome

CURRENT = ServerFeatures.for_version("26.9.2.1")  # chdb 4.4's engine
RECORD_TABLES = [table for table in TABLES.values() if table.record is not None]


def ddl(features: ServerFeatures) -> str:
    return ";\n".join(create_statements("aiqleads", features))


def field_columns(record: type[msgspec.Struct]) -> set[str]:
    """The column names each field must produce (a dict field: a keys and a values array)."""
    names = set()
    for field in msgspec.structs.fields(record):
        if str(field.type).startswith("dict["):
            names |= {f"{field.name}_keys", f"{field.name}_values"}
        else:
            names.add(field.name)
    return names


@pytest.mark.parametrize(
    ("version", "low_cardinality", "dedup_token"),
    [
        ("18.16.1", False, False),
        ("19.17.4.11", False, False),
        ("20.1.2.4", True, False),
        ("22.1.3.7", True, False),
        ("22.2.2.1", True, True),
        ("24.8.4.13", True, True),
        ("26.9.2.1", True, True),
    ],
)
def test_features_follow_the_version(
    version: str, low_cardinality: bool, dedup_token: bool
) -> None:
    features = ServerFeatures.for_version(version)
    assert (features.low_cardinality, features.dedup_token) == (low_cardinality, dedup_token)


def test_an_unparseable_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a ClickHouse version"):
        ServerFeatures.for_version("unknown")


def test_legacy_ddl_uses_only_what_18_16_has() -> None:
    text = ddl(LEGACY)
    for missing in ("DateTime64", "LowCardinality", "Map(", "TTL", "Bool", "JSON", "SETTINGS"):
        assert missing not in text
    assert "DateTime('UTC')" in text


def test_current_ddl_adapts() -> None:
    text = ddl(CURRENT)
    assert "`source` LowCardinality(String)" in text
    assert "`intent` LowCardinality(String)" in text  # every Literal is low-cardinality
    assert "`property_type` LowCardinality(Nullable(String))" in text
    assert text.count("non_replicated_deduplication_window") == len(TABLES)
    assert "DateTime64" not in text  # one schema: same precision on every backend


def test_the_only_differences_are_the_adaptations() -> None:
    def strip(text: str) -> str:
        text = re.sub(r"LowCardinality\((.*)\)(,?)$", r"\1\2", text, flags=re.MULTILINE)
        return re.sub(r"\nSETTINGS non_replicated_deduplication_window = \d+", "", text)

    assert strip(ddl(CURRENT)) == ddl(LEGACY)


@pytest.mark.parametrize("table", RECORD_TABLES, ids=lambda table: table.name)
def test_every_record_field_has_a_column(table: Table) -> None:
    assert table.record is not None
    assert set(table.column_names) == field_columns(table.record) | {"ingested_ms"}
    assert table.column_names[-1] == "ingested_ms"


def test_every_scored_lead_field_has_a_column() -> None:
    columns = {column.source for column in LEADS.columns}
    assert {field.name for field in msgspec.structs.fields(ScoredLead)} <= columns


@pytest.mark.parametrize("table", RECORD_TABLES, ids=lambda table: table.name)
def test_nullable_exactly_where_the_field_is_optional(table: Table) -> None:
    assert table.record is not None
    optional = {
        field.name
        for field in msgspec.structs.fields(table.record)
        if str(field.type).endswith("| None")
    }
    assert {column.name for column in table.columns if column.nullable} == optional


def test_types_of_the_lead_columns() -> None:
    types = {column.name: column.type_for(LEGACY) for column in LEADS.columns}
    assert types["event_time"] == "DateTime('UTC')"
    assert types["price"] == "Nullable(Float64)"
    assert types["beds"] == "Nullable(Int64)"
    assert types["consent"] == "UInt8"
    assert types["h3_r9"] == "UInt64"
    assert types["features_keys"] == "Array(String)"
    assert types["features_values"] == "Array(Float64)"
    assert types["ingested_ms"] == "UInt64"


def test_engines_make_relanding_idempotent() -> None:
    assert (LEADS.order_by, LEADS.version) == (("lead_id",), "scored_ms")
    assert (DLQ.order_by, DLQ.version) == (("topic", "partition", "offset"), "received_ms")
    assert OUTCOMES.order_by == ("lead_id", "kind", "occurred_ms")
    for table in TABLES.values():
        statement = table.create_statement("aiqleads", LEGACY)
        assert "ENGINE = ReplacingMergeTree(" in statement
        assert "PARTITION BY" not in statement
        if table.version:
            # 18.16 accepts only UInt*, Date or DateTime as a version column.
            version = next(c for c in table.columns if c.name == table.version)
            assert version.type_for(LEGACY).startswith("UInt")


def test_keywords_are_quoted() -> None:
    statement = DLQ.create_statement("aiqleads", LEGACY)
    assert "ORDER BY (`topic`, `partition`, `offset`)" in statement
    assert statement.startswith("CREATE TABLE IF NOT EXISTS `aiqleads`.`dlq`")


def test_a_field_without_a_mapping_fails_loudly() -> None:
    class Future(msgspec.Struct):
        tags: set[str]

    with pytest.raises(TypeError, match=r"Future\.tags"):
        record_columns(Future)


def test_a_list_of_scalars_is_an_array() -> None:
    class Tagged(msgspec.Struct):
        tags: list[str]

    (column,) = record_columns(Tagged)
    assert (column.name, column.base_type) == ("tags", "Array(String)")


def test_a_nullable_sorting_key_is_refused() -> None:
    class Keyed(msgspec.Struct):
        key: str | None

    with pytest.raises(ValueError, match="Nullable"):
        Table("t", record_columns(Keyed), order_by=("key",))


def test_missing_columns_are_added_and_only_they() -> None:
    existing = {"leads": set(LEADS.column_names) - {"features_keys", "features_values"}}
    statements = missing_column_statements("aiqleads", LEGACY, existing)
    assert statements == [
        "ALTER TABLE `aiqleads`.`leads` ADD COLUMN `features_keys` Array(String)",
        "ALTER TABLE `aiqleads`.`leads` ADD COLUMN `features_values` Array(Float64)",
    ]
    assert missing_column_statements("aiqleads", LEGACY, {}) == []


# --- column builders ----------------------------------------------------------------------


def lead(i: int, **overrides: object) -> ScoredLead:
    base: dict[str, object] = {
        "lead_id": f"crm:{i}",
        "source": "crm",
        "source_lead_id": str(i),
        "event_time": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
        "received_time": datetime(2024, 1, 1, 0, 0, 5, 500_000, tzinfo=UTC),
        "features": {"a": 1.0, "b": float(i)},
        "scored_ms": 1_000 + i,
    }
    return ScoredLead(**{**base, **overrides})  # type: ignore[arg-type]


def test_builders_give_one_list_per_column_in_order() -> None:
    columns = build_columns(LEADS, [lead(0), lead(1)], landed_ms=99)
    by_name = dict(zip(LEADS.column_names, columns, strict=True))
    assert all(len(values) == 2 for values in columns)
    assert by_name["lead_id"] == ["crm:0", "crm:1"]
    assert by_name["event_time"] == [1704067200, 1704067201]
    assert by_name["received_time"] == [1704067205, 1704067205]  # floored
    assert by_name["features_keys"] == [["a", "b"], ["a", "b"]]
    assert by_name["features_values"] == [[1.0, 0.0], [1.0, 1.0]]
    assert by_name["email"] == [None, None]
    assert by_name["ingested_ms"] == [99, 99]
    assert all(type(values) is list for values in columns)  # the driver edits cells in place


def test_builders_handle_an_empty_batch() -> None:
    assert build_columns(LEADS, [], landed_ms=1) == [[] for _ in LEADS.columns]


def test_dead_letter_columns_keep_bytes_and_split_headers() -> None:
    letter = DeadLetter(
        reason="bad_json",
        detail="d",
        source="portal",
        topic="leads.raw.portal",
        partition=1,
        offset=7,
        raw=b"\xff\x00",
        headers={"k": "v"},
    )
    by_name = dict(zip(DLQ.column_names, build_columns(DLQ, [letter], 5), strict=True))
    assert by_name["raw"] == [b"\xff\x00"]
    assert (by_name["headers_keys"], by_name["headers_values"]) == ([["k"]], [["v"]])


def test_epoch_seconds_is_utc_whatever_the_zone() -> None:
    moment = datetime(2024, 1, 1, 2, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=2)))
    assert epoch_seconds(moment) == 1704067200
    assert epoch_seconds(datetime(2024, 1, 1)) == 1704067200  # naive is UTC, not local


def test_dedup_token_names_content_not_landing() -> None:
    batch = [lead(0), lead(1)]
    token = dedup_token(LEADS, build_columns(LEADS, batch, landed_ms=1))
    assert token == dedup_token(LEADS, build_columns(LEADS, batch, landed_ms=2))
    rescored = [lead(0), lead(1, scored_ms=5_000)]
    assert token != dedup_token(LEADS, build_columns(LEADS, rescored, landed_ms=1))
    assert token.startswith("leads-")
    outcome = Outcome(lead_id="x", kind="purchase", occurred_ms=1)
    corrected = Outcome(lead_id="x", kind="purchase", occurred_ms=1, amount=5.0)
    assert dedup_token(OUTCOMES, build_columns(OUTCOMES, [outcome], 1)) != dedup_token(
        OUTCOMES, build_columns(OUTCOMES, [corrected], 1)
    )
