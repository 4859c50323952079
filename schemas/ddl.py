"""The ClickHouse DDL of database `aiqleads`: one schema for every server, adapted where needed.

Contract:
- `TABLES` holds every table (`leads`, `dlq`, `outcomes`, `engagement`, `cart_events`,
  `model_metrics`) with its
  columns in insert order. Columns of record tables are derived from the msgspec Struct
  (`msgspec.inspect`), so a field added to `ScoredLead` gets a column, and a field whose type
  has no mapping fails at import instead of being dropped silently.
- Type map: `str`/`Literal` → String, `int` → Int64, `float` → Float64, `bool` → UInt8,
  `datetime` → DateTime('UTC') (whole seconds, floored), `bytes` → String (any bytes),
  `list[V]` → `Array(V)`;
  `dict[str, V]` → two parallel arrays `<name>_keys Array(String)`/`<name>_values Array(V)`,
  `X | None` → Nullable(X). Per-table overrides pin UInt64 where ClickHouse requires it
  (ReplacingMergeTree versions) or where values are unsigned (H3 cells).
- Every table ends with `ingested_ms UInt64`: wall-clock milliseconds when the row landed.
  It is observability only (landing lag) and never a version, so it cannot make a replay win.
- Engines are ReplacingMergeTree keyed so that a re-landing never duplicates:
  `leads` ORDER BY lead_id, version `scored_ms` (a property of the value, not of the landing);
  `dlq` ORDER BY (topic, partition, offset), version `received_ms`;
  `outcomes` ORDER BY (lead_id, kind, occurred_ms); `engagement` ORDER BY event_id (the
  source's deterministic id, no version: a repeat is the same event); `cart_events` ORDER BY
  (buyer_id, event_id) (the marketplace outbox's entry id). No PARTITION BY:
  ReplacingMergeTree only collapses rows within a partition, and no time column is a
  function of the key.
- `ServerFeatures.for_version(...)` says what a server supports; only two things adapt:
  LowCardinality(String) for low-cardinality strings (plain String before 20.1; 18.16 has it
  only behind an experimental flag) and insert deduplication by token (22.2+: the table gets
  `non_replicated_deduplication_window`, inserts pass `insert_deduplication_token`).
  Everything else (no DateTime64, Map, TTL, Bool) is the 18.16 common ground on purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import msgspec
import msgspec.inspect as mi

from schemas.cart import CartEvent
from schemas.contract import (
    CART_EVENTS_TABLE,
    DLQ_TABLE,
    ENGAGEMENT_TABLE,
    LEADS_TABLE,
    MODEL_METRICS_TABLE,
    OUTCOMES_TABLE,
)
from schemas.dead_letter import DeadLetter
from schemas.engagement import EngagementEvent
from schemas.lead import ScoredLead
from schemas.model_metrics import ModelMetrics
from schemas.outcome import Outcome

DATABASE = "aiqleads"

#: How a column's values are taken from a record (the warehouse's column builders obey this).
Extract = Literal["value", "epoch_seconds", "keys", "values", "landed_ms"]
#: The Python kind of the values a column builder produces (of the elements, for arrays).
ValueKind = Literal["str", "bytes", "int", "float", "bool"]

#: Blocks remembered per table for insert deduplication (servers with `dedup_token` only).
DEDUP_WINDOW = 1000

LOW_CARDINALITY_SINCE = (20, 1)
DEDUP_TOKEN_SINCE = (22, 2)


@dataclass(frozen=True, slots=True)
class ServerFeatures:
    """What a ClickHouse server (or chdb engine) supports, from its `SELECT version()`."""

    version: tuple[int, int]
    low_cardinality: bool
    dedup_token: bool

    @classmethod
    def for_version(cls, version: str) -> ServerFeatures:
        """Features of a server by version string.

        >>> ServerFeatures.for_version("18.16.1")
        ServerFeatures(version=(18, 16), low_cardinality=False, dedup_token=False)
        >>> ServerFeatures.for_version("26.9.2.1").dedup_token
        True
        """
        match = re.match(r"\s*(\d+)\.(\d+)", version)
        if match is None:
            raise ValueError(f"not a ClickHouse version: {version!r}")
        major_minor = (int(match[1]), int(match[2]))
        return cls(
            version=major_minor,
            low_cardinality=major_minor >= LOW_CARDINALITY_SINCE,
            dedup_token=major_minor >= DEDUP_TOKEN_SINCE,
        )


#: The Debian/CI server line: the oldest we support.
LEGACY = ServerFeatures.for_version("18.16")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    base_type: str  # without Nullable/LowCardinality: "String", "DateTime('UTC')", ...
    nullable: bool = False
    low_cardinality: bool = False  # a hint: honoured only where the server supports it
    source: str | None = None  # the record attribute; None for warehouse-filled columns
    extract: Extract = "value"
    kind: ValueKind = "str"

    def type_for(self, features: ServerFeatures) -> str:
        """The ClickHouse type on a server with `features`."""
        ch_type = f"Nullable({self.base_type})" if self.nullable else self.base_type
        if self.low_cardinality and features.low_cardinality:
            ch_type = f"LowCardinality({ch_type})"
        return ch_type


INGESTED_MS = Column("ingested_ms", "UInt64", extract="landed_ms", kind="int")


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]
    version: str | None = None  # ReplacingMergeTree version column
    record: type[msgspec.Struct] | None = None
    #: Columns whose values identify a batch's content for the insert deduplication token.
    token_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        by_name = {column.name: column for column in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"{self.name}: duplicate column names")
        for key in (*self.order_by, *self.token_columns, *filter(None, [self.version])):
            if key not in by_name:
                raise ValueError(f"{self.name}: unknown column {key!r}")
        for key in self.order_by:
            # Neither 18.16 nor a default new server accepts a Nullable sorting key.
            if by_name[key].nullable:
                raise ValueError(f"{self.name}: sorting key column {key!r} is Nullable")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def create_statement(self, database: str, features: ServerFeatures) -> str:
        """`CREATE TABLE IF NOT EXISTS` for this table on a server with `features`."""
        body = ",\n".join(
            f"    {quote(column.name)} {column.type_for(features)}" for column in self.columns
        )
        version = quote(self.version) if self.version else ""
        order_by = ", ".join(quote(key) for key in self.order_by)
        statement = (
            f"CREATE TABLE IF NOT EXISTS {quote(database)}.{quote(self.name)}\n(\n{body}\n)\n"
            f"ENGINE = ReplacingMergeTree({version})\n"
            f"ORDER BY ({order_by})"
        )
        if features.dedup_token:
            # Insert deduplication is off for non-replicated tables unless a window is kept.
            statement += f"\nSETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}"
        return statement


def quote(identifier: str) -> str:
    """A backquoted identifier (`partition` and `offset` are keywords in some positions)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


_SCALAR_TYPES: dict[type[mi.Type], tuple[str, ValueKind]] = {
    mi.StrType: ("String", "str"),
    mi.LiteralType: ("String", "str"),
    mi.IntType: ("Int64", "int"),
    mi.FloatType: ("Float64", "float"),
    mi.BoolType: ("UInt8", "bool"),
    mi.DateTimeType: ("DateTime('UTC')", "int"),  # built as epoch seconds
    mi.BytesType: ("String", "bytes"),
}


def record_columns(
    record: type[msgspec.Struct],
    *,
    overrides: dict[str, str] | None = None,
    low_cardinality: frozenset[str] = frozenset(),
) -> tuple[Column, ...]:
    """Columns for every field of `record`, in field order, through the type map."""
    overrides = overrides or {}
    info = mi.type_info(record)
    assert isinstance(info, mi.StructType)
    columns: list[Column] = []
    for field in info.fields:
        field_type, nullable = _unwrap_optional(field.type)
        if isinstance(field_type, mi.DictType):
            columns.extend(_map_columns(record, field.name, field_type, nullable))
            continue
        if isinstance(field_type, mi.ListType):
            columns.append(_array_column(record, field.name, field_type, nullable))
            continue
        mapped = _SCALAR_TYPES.get(type(field_type))
        if mapped is None:
            raise TypeError(
                f"{record.__name__}.{field.name}: no ClickHouse type for {field.type}; "
                "extend schemas.ddl._SCALAR_TYPES"
            )
        base_type, kind = mapped
        columns.append(
            Column(
                field.name,
                overrides.get(field.name, base_type),
                nullable=nullable,
                low_cardinality=(
                    field.name in low_cardinality or isinstance(field_type, mi.LiteralType)
                ),
                source=field.name,
                extract="epoch_seconds" if isinstance(field_type, mi.DateTimeType) else "value",
                kind=kind,
            )
        )
    unknown = set(overrides) - {column.name for column in columns}
    if unknown:
        raise ValueError(f"{record.__name__}: overrides for unknown fields {sorted(unknown)}")
    return tuple(columns)


def _map_columns(
    record: type[msgspec.Struct], name: str, map_type: mi.DictType, nullable: bool
) -> tuple[Column, Column]:
    # No Map type on 18.16: parallel arrays, read back with `arrayElement(v, indexOf(k, 'x'))`.
    mapped = _SCALAR_TYPES.get(type(map_type.value_type))
    if (
        nullable
        or not isinstance(map_type.key_type, mi.StrType)
        or mapped is None
        or isinstance(map_type.value_type, mi.DateTimeType)
    ):
        raise TypeError(f"{record.__name__}.{name}: only dict[str, <scalar>] maps to ClickHouse")
    value_type, kind = mapped
    return (
        Column(f"{name}_keys", "Array(String)", source=name, extract="keys"),
        Column(f"{name}_values", f"Array({value_type})", source=name, extract="values", kind=kind),
    )


def _array_column(
    record: type[msgspec.Struct], name: str, list_type: mi.ListType, nullable: bool
) -> Column:
    mapped = _SCALAR_TYPES.get(type(list_type.item_type))
    if nullable or mapped is None or isinstance(list_type.item_type, mi.DateTimeType):
        raise TypeError(f"{record.__name__}.{name}: only list[<scalar>] maps to ClickHouse")
    item_type, kind = mapped
    return Column(name, f"Array({item_type})", source=name, kind=kind)


def _unwrap_optional(field_type: mi.Type) -> tuple[mi.Type, bool]:
    if isinstance(field_type, mi.UnionType):
        others = [t for t in field_type.types if not isinstance(t, mi.NoneType)]
        if len(others) == 1 and len(others) < len(field_type.types):
            return others[0], True
        raise TypeError(f"only `X | None` unions map to ClickHouse, not {field_type}")
    return field_type, False


LEADS = Table(
    LEADS_TABLE,
    columns=(
        *record_columns(
            ScoredLead,
            overrides={
                # H3 cells are unsigned 64-bit; the version column must be UInt* on 18.16.
                "h3_r7": "UInt64",
                "h3_r8": "UInt64",
                "h3_r9": "UInt64",
                "scored_ms": "UInt64",
            },
            low_cardinality=frozenset({"source", "property_type", "state", "model_version"}),
        ),
        INGESTED_MS,
    ),
    order_by=("lead_id",),
    # The newest scoring wins whatever order batches land in, and re-landing the same
    # scored lead (a Kafka replay) leaves the same row: the outcome depends only on the set
    # of values landed. Ties are identical values (apart from ingested_ms).
    version="scored_ms",
    record=ScoredLead,
    token_columns=("lead_id", "scored_ms"),
)

DLQ = Table(
    DLQ_TABLE,
    columns=(
        *record_columns(
            DeadLetter,
            overrides={"received_ms": "UInt64"},
            low_cardinality=frozenset({"reason", "source", "topic"}),
        ),
        INGESTED_MS,
    ),
    # One input offset is one dead letter, however often it is re-landed.
    order_by=("topic", "partition", "offset"),
    version="received_ms",
    record=DeadLetter,
    token_columns=("topic", "partition", "offset", "received_ms"),
)

OUTCOMES = Table(
    OUTCOMES_TABLE,
    columns=(*record_columns(Outcome), INGESTED_MS),
    order_by=("lead_id", "kind", "occurred_ms"),
    record=Outcome,
    token_columns=("lead_id", "kind", "occurred_ms", "buyer_id", "amount"),
)


ENGAGEMENT = Table(
    ENGAGEMENT_TABLE,
    columns=(*record_columns(EngagementEvent), INGESTED_MS),
    # The source's event id names the event: a re-sent or re-landed event is one row.
    order_by=("event_id",),
    record=EngagementEvent,
    token_columns=("event_id",),
)


CART_EVENTS = Table(
    CART_EVENTS_TABLE,
    columns=(*record_columns(CartEvent, low_cardinality=frozenset({"kind"})), INGESTED_MS),
    # The outbox entry id names the event: a relayed-again event is one row.
    order_by=("buyer_id", "event_id"),
    record=CartEvent,
    token_columns=("event_id",),
)

MODEL_METRICS = Table(
    MODEL_METRICS_TABLE,
    columns=(
        *record_columns(ModelMetrics, low_cardinality=frozenset({"worker", "arm", "spec"})),
        INGESTED_MS,
    ),
    # One row per worker, arm, span and minute: a re-sent minute replaces itself.
    order_by=("worker", "arm", "span", "recorded_at"),
    record=ModelMetrics,
    token_columns=("worker", "arm", "span", "recorded_at"),
)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (LEADS, DLQ, OUTCOMES, ENGAGEMENT, CART_EVENTS, MODEL_METRICS)
}


def create_statements(database: str, features: ServerFeatures) -> list[str]:
    """Every statement that creates the database and its tables, idempotently, in order."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {quote(database)}",
        *(table.create_statement(database, features) for table in TABLES.values()),
    ]


def missing_column_statements(
    database: str, features: ServerFeatures, existing: dict[str, set[str]]
) -> list[str]:
    """`ALTER TABLE … ADD COLUMN` for columns a record gained since its table was created.

    `existing` maps table name to the column names it has now. Only additions are migrated:
    old rows read the new column's default. Type changes and removals need a hand migration.
    """
    statements = []
    for table in TABLES.values():
        have = existing.get(table.name)
        if have is None:
            continue
        statements.extend(
            f"ALTER TABLE {quote(database)}.{quote(table.name)} "
            f"ADD COLUMN {quote(column.name)} {column.type_for(features)}"
            for column in table.columns
            if column.name not in have
        )
    return statements
