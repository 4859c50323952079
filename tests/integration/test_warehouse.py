"""The warehouse on both backends: round trips, idempotent replays, raw bytes, queries."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from infra.settings import Settings
from infra.stack import ports
from infra.warehouse.base import Warehouse
from infra.warehouse.embedded import EmbeddedWarehouse
from infra.warehouse.errors import QueryFailed, WarehouseError, WarehouseNotStarted
from infra.warehouse.query import WORKER_VIEW, run_query
from infra.warehouse.result import (
    QueryResult,
    error_to_json,
    result_from_json,
    result_to_json,
)
from infra.warehouse.server import ServerWarehouse
from schemas.ddl import LEADS, OUTCOMES, TABLES, Column
from schemas.dead_letter import DeadLetter
from schemas.lead import ScoredLead
from schemas.outcome import Outcome

integration = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def make_lead(i: int, **overrides: Any) -> ScoredLead:
    values: dict[str, Any] = {
        "lead_id": f"portal:{i}",
        "source": "portal",
        "source_lead_id": str(i),
        "event_time": T0 + timedelta(minutes=i),
        "received_time": T0 + timedelta(minutes=i, seconds=2),
        "first_name": "Ana",
        "last_name": "López",
        "email": f"ana{i}@example.com",
        "phone": "+15125550100",
        "intent": "buy",
        "property_type": "condo",
        "price": 350_000.5 + i,
        "beds": 3,
        "street": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "lat": 30.2672,
        "lon": -97.7431,
        "location_precision": "exact",
        "consent": True,
        "message": "Looking for a 3-bed condo",
        "listing_id": "L-1",
        "campaign_id": "ad-7",
        "h3_r7": 0x872830828FFFFFF,
        "h3_r8": 0x882830828FFFFFF,
        "h3_r9": 0x892830828FFFFFF,
        "score": 0.4242,
        "model_version": "lr-1",
        "features": {"price_log": 12.77, "beds": 3.0},
        "produced_ms": 1_714_564_800_000 + i,
        "scored_ms": 1_714_564_800_100 + i,
    }
    values.update(overrides)
    return ScoredLead(**values)


def varied_leads() -> list[ScoredLead]:
    """Every column type at its edges: NULLs, empties, unicode, extremes."""
    return [
        make_lead(0),
        make_lead(
            1,
            email=None,
            phone=None,
            property_type=None,
            price=None,
            beds=None,
            street=None,
            city=None,
            state=None,
            zip=None,
            lat=None,
            lon=None,
            listing_id=None,
            campaign_id=None,
            first_name="",
            last_name="",
            message="",
            consent=False,
            intent="unknown",
            location_precision="none",
            features={},
            h3_r7=0,
            h3_r8=0,
            h3_r9=0,
            score=0.0,
            produced_ms=0,
        ),
        make_lead(
            2,
            first_name="Zoë 李",
            last_name="Ñúñez-Øster",
            message="Tab\there, newline\nthere, quote ' \" back\\slash, emoji 🏠, NUL \0 end",
            city="São Paulo",
            features={"ключ": -1.5e-300, "big": 1.7976931348623157e308},
            h3_r7=2**64 - 1,
            score=1.0,
            beds=-1,
            price=-0.0,
        ),
    ]


def expected_row(table_columns: tuple[Column, ...], record: msgspec.Struct, landed: int) -> tuple:
    """What a row must read back as, derived from the record independently of the builders."""
    row: list[Any] = []
    for column in table_columns:
        if column.extract == "landed_ms":
            row.append(landed)
            continue
        value = getattr(record, column.source or "")
        if column.extract == "keys":
            value = list(value)
        elif column.extract == "values":
            value = list(value.values())
        elif isinstance(value, datetime):
            value = value.replace(microsecond=0)
        elif isinstance(value, bool):
            value = int(value)
        row.append(value)
    return tuple(row)


def as_bytes(value: str | bytes) -> bytes:
    # Strings come back as str when valid UTF-8, else as the exact bytes.
    return value if isinstance(value, bytes) else value.encode()


def count(warehouse: Warehouse, table: str, final: bool = True) -> int:
    return warehouse.query(f"SELECT count() FROM {table}{' FINAL' if final else ''}").scalar()


@integration
def test_start_creates_every_table(warehouse: Warehouse) -> None:
    result = warehouse.query(
        f"SELECT name FROM system.tables WHERE database = '{warehouse.database}' ORDER BY name"
    )
    assert result.column("name") == sorted(TABLES)
    warehouse.start()  # idempotent: a restart finds everything in place
    assert count(warehouse, "leads") == 0


@integration
def test_leads_round_trip_every_column(warehouse: Warehouse) -> None:
    leads = varied_leads()
    warehouse.insert_leads(leads, landed_ms=1_714_564_801_000)

    result = warehouse.query("SELECT * FROM leads ORDER BY lead_id")

    assert result.columns == LEADS.column_names
    expected = [expected_row(LEADS.columns, lead, 1_714_564_801_000) for lead in leads]
    for got, want in zip(result.rows, expected, strict=True):
        assert got == want
    for got_time in result.column("event_time"):
        assert got_time.tzinfo is UTC


@integration
def test_datetimes_are_utc_floored_to_seconds(warehouse: Warehouse) -> None:
    from datetime import timezone

    plus_two = timezone(timedelta(hours=2))
    lead = make_lead(
        0,
        event_time=datetime(2024, 5, 1, 14, 0, 0, 999_999, tzinfo=plus_two),
        received_time=datetime(2024, 5, 1, 12, 0, 1),  # naive: taken as UTC
    )
    warehouse.insert_leads([lead], landed_ms=1)

    (event_time, received_time), *_ = warehouse.query(
        "SELECT event_time, received_time FROM leads"
    ).rows
    assert event_time == datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert received_time == datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
    assert warehouse.query("SELECT toUnixTimestamp(event_time) FROM leads").scalar() == 1714564800


@integration
def test_replayed_leads_never_duplicate(warehouse: Warehouse) -> None:
    leads = [make_lead(i) for i in range(50)]
    warehouse.insert_leads(leads, landed_ms=1_000)
    warehouse.insert_leads(leads, landed_ms=2_000)  # a replay lands later
    warehouse.insert_leads(leads[:10], landed_ms=3_000)

    assert count(warehouse, "leads") == 50
    distinct = warehouse.query("SELECT uniqExact(lead_id) FROM leads").scalar()
    assert distinct == 50
    if warehouse.features.dedup_token:
        # The repeated full batch was dropped at insert (110 rows otherwise, until merges).
        assert 50 <= count(warehouse, "leads", final=False) <= 60
    rows = warehouse.query("SELECT * FROM leads FINAL ORDER BY scored_ms").rows
    business = [row[:-1] for row in rows]  # all but ingested_ms
    assert business == [expected_row(LEADS.columns, lead, 0)[:-1] for lead in leads]


@integration
def test_newest_scoring_wins_whatever_the_landing_order(warehouse: Warehouse) -> None:
    newer = make_lead(0, score=0.9, scored_ms=2_000, model_version="lr-2")
    older = make_lead(0, score=0.1, scored_ms=1_000, model_version="lr-1")
    warehouse.insert_leads([newer], landed_ms=10)
    warehouse.insert_leads([older], landed_ms=20)  # a late replay of an older scoring

    rows = warehouse.query("SELECT score, model_version, scored_ms FROM leads FINAL").rows
    assert rows == [(0.9, "lr-2", 2_000)]


@integration
def test_dead_letter_raw_bytes_round_trip_exactly(warehouse: Warehouse) -> None:
    raws = [
        b"\xff\xfe\x00not utf-8 \x80\xc3",
        b"",
        "valid ünïcode 🏠".encode(),
        bytes(range(256)),
        b'{"truncated": ',
    ]
    letters = [
        DeadLetter(
            reason="bad_json",
            detail=f"case {i}",
            source="portal",
            topic="leads.raw.portal",
            partition=i % 2,
            offset=100 + i,
            raw=raw,
            headers={"content-type": "application/json", "x-trace": f"t{i}"} if i % 2 else {},
            produced_ms=1_000 + i,
            received_ms=2_000 + i,
        )
        for i, raw in enumerate(raws)
    ]
    warehouse.insert_dead_letters(letters, landed_ms=3_000)
    warehouse.insert_dead_letters(letters, landed_ms=4_000)  # re-landed after a crash

    assert count(warehouse, "dlq") == len(letters)
    rows = warehouse.query(
        "SELECT raw, headers_keys, headers_values, partition, offset, reason "
        "FROM dlq FINAL ORDER BY offset"
    ).rows
    for (raw, keys, values, partition, offset, reason), letter in zip(rows, letters, strict=True):
        assert as_bytes(raw) == letter.raw
        assert dict(zip(keys, values, strict=True)) == letter.headers
        assert (partition, offset, reason) == (letter.partition, letter.offset, letter.reason)
    assert isinstance(rows[0][0], bytes)  # not UTF-8: kept as bytes
    assert rows[2][0] == "valid ünïcode 🏠"  # UTF-8: decoded


@integration
def test_outcomes_round_trip_and_replay(warehouse: Warehouse) -> None:
    outcomes = [
        Outcome(lead_id="portal:1", kind="purchase", occurred_ms=5_000, buyer_id="b", amount=49.0),
        Outcome(lead_id="portal:1", kind="conversion", occurred_ms=9_000),
        Outcome(lead_id="portal:2", kind="no_conversion", occurred_ms=7_000),
    ]
    warehouse.insert_outcomes(outcomes, landed_ms=10_000)
    warehouse.insert_outcomes(outcomes, landed_ms=11_000)

    rows = warehouse.query("SELECT * FROM outcomes FINAL ORDER BY lead_id, occurred_ms").rows
    expected = sorted(
        (expected_row(OUTCOMES.columns, outcome, 0) for outcome in outcomes),
        key=lambda row: (row[0], row[2]),
    )
    assert [row[:-1] for row in rows] == [row[:-1] for row in expected]


@integration
def test_empty_batches_do_nothing(warehouse: Warehouse) -> None:
    warehouse.insert_leads([], landed_ms=1)
    warehouse.insert_dead_letters([], landed_ms=1)
    warehouse.insert_outcomes([], landed_ms=1)
    assert count(warehouse, "leads") == count(warehouse, "dlq") == count(warehouse, "outcomes") == 0


@integration
def test_query_renders_every_format(warehouse: Warehouse) -> None:
    warehouse.insert_leads(varied_leads(), landed_ms=7)
    result = warehouse.query(
        "SELECT lead_id, first_name, price, beds, event_time, features_keys "
        "FROM leads ORDER BY lead_id"
    )

    table = result.render("table").splitlines()
    assert table[0].split() == list(result.columns)
    assert "NULL" in table[3]  # portal:1 has no price
    assert "2024-05-01 12:00:00" in table[2]
    assert table[-1] == "(3 rows)"

    tsv = result.render("tsv").splitlines()
    assert tsv[0] == "lead_id\tfirst_name\tprice\tbeds\tevent_time\tfeatures_keys"
    assert tsv[2].split("\t")[2:4] == ["\\N", "\\N"]
    assert tsv[3].split("\t")[1] == "Zoë 李"

    wire = json.loads(result.render("json"))
    assert wire["columns"] == list(result.columns)
    assert wire["rows"][0][4] == "2024-05-01 12:00:00"
    assert wire["rows"][0][5] == ["price_log", "beds"]

    for fmt in ("table", "tsv", "json"):
        assert result_from_json(json.loads(json.dumps(result_to_json(result)))).render(fmt) == (
            result.render(fmt)
        )


@integration
def test_query_errors_are_query_failed(warehouse: Warehouse) -> None:
    with pytest.raises(QueryFailed, match="no_such_table"):
        warehouse.query("SELECT * FROM no_such_table")
    with pytest.raises(QueryFailed):
        warehouse.query("SELEKT 1")
    assert warehouse.query("SELECT 1 AS one").scalar() == 1  # still usable afterwards


@integration
def test_statements_without_rows_render_ok(warehouse: Warehouse) -> None:
    result = warehouse.query("CREATE TABLE IF NOT EXISTS scratch (x UInt8) ENGINE = Memory")
    assert result == QueryResult()
    assert result.render("table") == "OK"
    assert result.render("tsv") == ""


@integration
def test_restart_adds_columns_a_record_gained(warehouse: Warehouse) -> None:
    warehouse.insert_leads([make_lead(0)], landed_ms=1)
    # As if the table predated the `features` snapshot.
    warehouse.query("ALTER TABLE leads DROP COLUMN features_values")
    warehouse.close()

    warehouse.start()
    warehouse.insert_leads([make_lead(1)], landed_ms=2)
    values = warehouse.query("SELECT features_values FROM leads FINAL ORDER BY lead_id").column(
        "features_values"
    )
    assert values == [[], [12.77, 3.0]]  # the old row reads the default


def test_calls_before_start_fail_clearly(tmp_path: Path) -> None:
    for warehouse in (EmbeddedWarehouse(tmp_path / "w"), ServerWarehouse(port=1)):
        with pytest.raises(WarehouseNotStarted):
            warehouse.query("SELECT 1")
        with pytest.raises(WarehouseNotStarted):
            warehouse.insert_leads([make_lead(0)], landed_ms=1)
    assert not (tmp_path / "w").exists()  # no I/O before start()


# --- run_query: the `aiqleads sql` path --------------------------------------------------------


@integration
def test_run_query_against_a_server(server_warehouse: ServerWarehouse, server_url: str) -> None:
    server_warehouse.insert_leads([make_lead(0), make_lead(1)], landed_ms=1)
    url = server_url.rsplit("/", 1)[0] + f"/{server_warehouse.database}"
    settings = Settings(clickhouse_url=url)

    assert run_query(settings, "SELECT count() FROM leads").scalar() == 2


@integration
def test_run_query_opens_chdb_when_no_worker_listens(
    embedded_warehouse: EmbeddedWarehouse, free_port: int
) -> None:
    embedded_warehouse.insert_leads([make_lead(0)], landed_ms=1)
    settings = Settings(
        clickhouse_url=f"chdb://{embedded_warehouse.path}", worker_web_port=free_port
    )

    assert run_query(settings, "SELECT lead_id FROM leads").rows == [("portal:0",)]


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


@contextmanager
def http_listener(answer: Callable[[str, str], tuple[int, Any]]) -> Iterator[int]:
    """A local HTTP server answering POSTs with `answer(path, body) -> (status, json)`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            status, reply = answer(self.path, body)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_worker(embedded_warehouse: EmbeddedWarehouse) -> Iterator[tuple[int, list[str]]]:
    """The worker's `/warehouse/sql` view, answering as the Faust view does."""
    seen: list[str] = []

    def answer(path: str, sql: str) -> tuple[int, Any]:
        seen.append(sql)
        if path != WORKER_VIEW:
            return 404, {"detail": "not found"}
        try:
            return 200, result_to_json(embedded_warehouse.query(sql))
        except Exception as exc:
            return 400, error_to_json(exc)

    with http_listener(answer) as port:
        yield port, seen


@integration
def test_run_query_asks_the_worker_first(
    embedded_warehouse: EmbeddedWarehouse, fake_worker: tuple[int, list[str]]
) -> None:
    port, seen = fake_worker
    embedded_warehouse.insert_leads([make_lead(0, message="via the worker 🏠")], landed_ms=1)
    settings = Settings(clickhouse_url="chdb:///nonexistent/never-opened", worker_web_port=port)

    result = run_query(settings, "SELECT message, event_time FROM leads")

    assert seen == ["SELECT message, event_time FROM leads"]
    assert result.rows == [("via the worker 🏠", datetime(2024, 5, 1, 12, 0, tzinfo=UTC))]
    assert not Path("/nonexistent/never-opened").exists()
    with pytest.raises(QueryFailed, match="no_such_table"):
        run_query(settings, "SELECT * FROM no_such_table")


def test_run_query_never_opens_chdb_behind_a_foreign_listener(tmp_path: Path) -> None:
    # Something else answers on the worker port: it may own the chdb path, so report it.
    with http_listener(lambda path, body: (404, {"detail": "not found"})) as port:
        settings = Settings(clickhouse_url=f"chdb://{tmp_path}/other", worker_web_port=port)
        with pytest.raises(WarehouseError, match="HTTP 404"):
            run_query(settings, "SELECT 1")
    assert not (tmp_path / "other").exists()


def test_json_wire_shape_carries_what_json_cannot() -> None:
    result = QueryResult(
        ("t", "raw", "x", "nested"),
        [
            (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), b"\xff\x00a", math.nan, [b"\xfe", None]),
            (None, "ok", 1.5, []),
        ],
    )
    wire = json.loads(json.dumps(result_to_json(result), allow_nan=False))
    assert wire["rows"][0][2] == "nan"
    assert result_from_json(wire).rows == [
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), b"\xff\x00a", "nan", [b"\xfe", None]),
        (None, "ok", 1.5, []),
    ]
    for fmt in ("table", "tsv", "json"):
        assert result_from_json(wire).render(fmt) == result.render(fmt)
    with pytest.raises(QueryFailed, match="boom"):
        result_from_json({"error": "boom"})
    with pytest.raises(WarehouseError):
        result_from_json({"rows": []})


@integration
def test_embedded_inserts_leave_no_spool_files_and_a_restart_clears_stale_ones(
        embedded_warehouse: EmbeddedWarehouse) -> None:
    path, leads = embedded_warehouse.path, [make_lead(i) for i in range(20)]
    embedded_warehouse.insert_leads(leads, landed_ms=1)
    assert not list(path.glob(".insert-*"))  # each batch's file is gone once inserted
    embedded_warehouse.close()
    stale = path / ".insert-killed-mid-insert.arrow"
    stale.write_bytes(b"half a batch")
    embedded_warehouse.start()
    assert not stale.exists()
    assert count(embedded_warehouse, "leads") == len(leads)


@integration
def test_landed_leads_read_back_in_their_newest_version(warehouse: Warehouse) -> None:
    leads = [*varied_leads(), make_lead(7, duplicate_of="portal:0", quarantined=True,
                                        fraud_reasons=["velocity"], reasons=["price_log"])]
    warehouse.insert_leads([*leads, make_lead(9)], landed_ms=1)
    newer = msgspec.structs.replace(leads[0], score=0.99, scored_ms=leads[0].scored_ms + 5)
    older = msgspec.structs.replace(leads[2], score=0.01, scored_ms=leads[2].scored_ms - 5)
    warehouse.insert_leads([newer, older], landed_ms=2)  # a replay of an older scoring

    got = warehouse.landed_leads([lead.lead_id for lead in leads[:4]] + ["absent"])

    def floored(lead: ScoredLead) -> ScoredLead:
        return msgspec.structs.replace(
            lead, event_time=lead.event_time.replace(microsecond=0),
            received_time=lead.received_time.replace(microsecond=0))

    # Every field as landed, whichever version landed last; unknown ids are no error.
    assert sorted(got, key=lambda lead: lead.lead_id) == sorted(
        map(floored, [newer, leads[1], leads[2], leads[3]]), key=lambda lead: lead.lead_id)
    assert warehouse.landed_leads([]) == []
