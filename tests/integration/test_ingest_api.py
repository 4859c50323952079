"""HTTP ingest on the real Kafka: what is refused and why, and what is produced, byte for byte."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from asgi_lifespan import LifespanManager
from confluent_kafka import Consumer, KafkaException, Message, Producer
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import positive_data_acceptance

from api.main import create_app
from infra.kafka.admin import KEY_PARTITIONER, delete_prefixed_topics, ensure_topics
from infra.kafka.producer import LeadProducer, ProduceFailed
from infra.settings import Settings
from schemas.contract import SOURCES, raw_topic
from streams.identity import lead_id

pytestmark = pytest.mark.integration

# crm has no key: ingest is not enabled for it.
KEYS = {
    source: SecretStr(f"key-{source}") for source in ("portal", "facebook", "webform", "partner")
}


def _settings(**overrides: Any) -> Settings:
    return Settings(
        topic_prefix=f"i{uuid.uuid4().hex[:12]}.", ingest_api_keys=KEYS, **overrides
    )


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture
async def kafka_settings() -> AsyncIterator[Settings]:
    """Settings with this test's own contract topics, deleted afterwards."""
    settings = _settings()
    await asyncio.to_thread(ensure_topics, settings)
    yield settings
    await asyncio.to_thread(delete_prefixed_topics, settings)


@pytest.fixture
async def client(kafka_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(kafka_settings) as c:
        yield c


@pytest.fixture
async def offline_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app whose every request is refused before Kafka: no topics needed."""
    async with _client(_settings()) as c:
        yield c


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def portal_body(
    inquiry_id: str = "pi-http-1",
    email: str = "Jane@Example.com",
    phone: str = "(512) 555-0134",
    submitted_at: str = "",
) -> bytes:
    # Hand-written, odd spacing and key order: a re-encoding would not reproduce these bytes.
    submitted_at = submitted_at or _now_iso()
    return (
        f'{{ "inquiry_id":"{inquiry_id}",  "submitted_at": "{submitted_at}",\n'
        ' "listing": {"price": "455000", "beds": 3, "lat": 30.2713, "lon": -97.7426,'
        ' "address": {"city": "Austin", "state": "TX", "zip": "78701"}},'
        f' "contact": {{"name": "Zoë Núñez", "email": "{email}", "phone": "{phone}"}},'
        ' "intent": "buy", "consent": true }'
    ).encode()


def facebook_body(lead: str = "1234567890123456") -> bytes:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    return (
        f'{{"id": "{lead}", "created_time": "{created}", "ad_id": "23859876",'
        ' "campaign_id": "23851234",'
        ' "field_data": [{"name": "full_name", "values": ["Jane Doe"]},'
        ' {"name": "email", "values": ["jane@example.com"]},'
        ' {"name": "zip_code", "values": ["78701"]}]}'
    ).encode()


def _post(
    client: httpx.AsyncClient,
    source: str,
    body: bytes,
    *,
    key: str | bytes | None = "auto",
    content_type: str | None = "application/json",
    extra: dict[str, str] | None = None,
) -> Any:
    headers: dict[str, str | bytes] = dict(extra or {})
    if key == "auto":
        headers["X-API-Key"] = f"key-{source}"
    elif key is not None:
        headers["X-API-Key"] = key
    if content_type is not None:
        headers["Content-Type"] = content_type
    return client.post(f"/v1/ingest/{source}", content=body, headers=headers)


def _read_topic(settings: Settings, topic: str, expected: int) -> list[Message]:
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": f"{settings.topic_prefix}check",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([settings.topic(topic)])
    messages: list[Message] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5 if len(messages) < expected else 1.0)
            if msg is None:
                if len(messages) >= expected:
                    break  # and nothing more came for a second
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            messages.append(msg)
    finally:
        consumer.close()
    return messages


# --- accepted: the original bytes, keyed by the source id, with the ingest headers ----------


def partner_row(lead: str = "HQ-1") -> bytes:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'{lead},{created},Jane,Doe,jane@example.com,512-555-0134,12 Oak St,Austin,TX,78701,'
        'Buyer,$450000,Condo,3,Yes,"Call me, please"\r\n'
    ).encode()


WEBFORM = b"Full+Name=Jane+Doe&E-mail=jane%40example.com&Phone=512-555-0134&ZIP=78701&sid=ws-77"
WEBFORM_JSON = b'{"submission_id": "ws-78", "Email Address": "jane@example.com", "zip": "78701"}'


@pytest.mark.parametrize(
    ("source", "body", "content_type", "extra", "source_id"),
    [
        ("portal", portal_body(), "application/json; charset=utf-8", {}, "pi-http-1"),
        ("facebook", facebook_body(), "application/json", {}, "1234567890123456"),
        ("webform", WEBFORM, "application/x-www-form-urlencoded", {}, None),
        ("webform", WEBFORM_JSON, "application/json", {}, "ws-78"),
        ("partner", partner_row(), "text/csv", {"x-partner-id": "homequest"}, "homequest:HQ-1"),
    ],
    ids=["portal", "facebook", "webform-form", "webform-json", "partner"],
)
async def test_valid_lead_is_on_the_topic_as_sent(
    client: httpx.AsyncClient,
    kafka_settings: Settings,
    source: str,
    body: bytes,
    content_type: str,
    extra: dict[str, str],
    source_id: str | None,
) -> None:
    before_ms = int(time.time() * 1000)
    response = await _post(client, source, body, content_type=content_type,
                           extra={name.title(): value for name, value in extra.items()})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "accepted"

    [msg] = await asyncio.to_thread(_read_topic, kafka_settings, raw_topic(source), 1)
    assert msg.value() == body
    key = msg.key().decode()
    if source_id is not None:  # else the parser's own stand-in id: still the key
        assert key == source_id
    assert accepted["lead_id"] == lead_id(source, key)
    headers = dict(msg.headers() or [])
    received_ms = int(headers.pop("x-received-ms"))
    assert before_ms <= received_ms <= int(time.time() * 1000)
    assert headers == {
        "content-type": content_type.encode(),
        "x-ingest": b"http",
        "x-client-ip": b"203.0.113.7",
        **{name: value.encode() for name, value in extra.items()},
    }


async def test_partner_id_is_forwarded_as_a_header(
    client: httpx.AsyncClient, kafka_settings: Settings
) -> None:
    response = await _post(client, "portal", portal_body("pi-http-2"),
                           extra={"X-Partner-Id": " acme-realty "})
    assert response.status_code == 202, response.text
    [msg] = await asyncio.to_thread(_read_topic, kafka_settings, "leads.raw.portal", 1)
    assert dict(msg.headers() or [])["x-partner-id"] == b"acme-realty"


async def test_a_retry_answers_the_same_lead_id(client: httpx.AsyncClient) -> None:
    body = portal_body("pi-http-retry")
    first, second = [await _post(client, "portal", body) for _ in range(2)]
    assert first.status_code == second.status_code == 202
    assert first.json()["lead_id"] == second.json()["lead_id"] == lead_id("portal", "pi-http-retry")


# --- refused before Kafka: each with its sentence ----------------------------------------


async def test_unknown_source_is_404_and_lists_the_known_ones(
    offline_client: httpx.AsyncClient,
) -> None:
    response = await _post(offline_client, "myspace", portal_body())
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "Unknown source 'myspace'; "
        "known sources: portal, facebook, webform, partner, crm."
    }


async def test_missing_key_is_401(offline_client: httpx.AsyncClient) -> None:
    response = await _post(offline_client, "portal", portal_body(), key=None)
    assert response.status_code == 401
    assert response.json() == {"code": "no_key",
                               "detail": "Missing X-API-Key header: portal needs its key."}
    assert response.headers["www-authenticate"].startswith("APIKey")


async def test_wrong_key_is_403(offline_client: httpx.AsyncClient) -> None:
    for wrong in ("key-facebook", "key-portal ", "kéy".encode(), b"key-portal\xff"):
        response = await _post(offline_client, "portal", portal_body(), key=wrong)
        assert response.status_code == 403
        assert response.json() == {"code": "bad_key",
                                   "detail": "The X-API-Key is not valid for portal."}


async def test_source_without_a_key_is_not_enabled(offline_client: httpx.AsyncClient) -> None:
    response = await _post(offline_client, "crm", b'{"a": 1}', key="anything")
    assert response.status_code == 403
    assert response.json() == {"code": "not_enabled", "detail": "ingest not enabled for crm"}


async def test_empty_body_is_400(offline_client: httpx.AsyncClient) -> None:
    for body in (b"", b" \r\n"):
        response = await _post(offline_client, "portal", body)
        assert response.status_code == 400
        assert response.json() == {"code": "empty",
                                   "detail": "The body is empty: send one lead."}


async def test_partner_needs_its_partner_id(offline_client: httpx.AsyncClient) -> None:
    response = await _post(offline_client, "partner", b"a,b\n", content_type="text/csv")
    assert response.status_code == 400
    assert response.json() == {
        "code": "no_partner_id",
        "detail": "partner ingest needs an X-Partner-Id header naming the partner."
    }


async def test_oversize_body_is_413_by_content_length(offline_client: httpx.AsyncClient) -> None:
    limit = Settings().max_event_bytes
    response = await _post(offline_client, "portal", b"{" + b" " * limit + b"}")
    assert response.status_code == 413
    assert response.json() == {
        "code": "too_large",
        "detail": f"The body is {limit + 2} bytes; the limit is {limit} bytes."
    }


async def test_oversize_stream_is_413_without_reading_it_all(
    offline_client: httpx.AsyncClient,
) -> None:
    limit = Settings().max_event_bytes
    sent = 0

    async def endless() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        nonlocal sent
        chunk = b" " * 4096
        for _ in range(10_000):
            sent += len(chunk)
            yield chunk

    response = await offline_client.post(
        "/v1/ingest/portal",
        content=endless(),
        headers={"X-API-Key": "key-portal", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {"code": "too_large",
                               "detail": f"The body is over the {limit}-byte limit."}
    assert sent <= limit + 2 * 4096


@pytest.mark.parametrize(
    ("source", "content_type", "expected"),
    [
        ("portal", "text/csv",
         "portal accepts Content-Type application/json, not 'text/csv'."),
        ("portal", None, "portal accepts Content-Type application/json, not 'none'."),
        ("facebook", "application/x-www-form-urlencoded",
         "facebook accepts Content-Type application/json, "
         "not 'application/x-www-form-urlencoded'."),
        ("partner", "application/json",
         "partner accepts Content-Type text/csv, not 'application/json'."),
    ],
)
async def test_wrong_media_type_is_415(
    offline_client: httpx.AsyncClient, source: str, content_type: str | None, expected: str
) -> None:
    response = await _post(offline_client, source, b'{"a": 1}', content_type=content_type,
                           extra={"X-Partner-Id": "acme"})
    assert response.status_code == 415
    assert response.json() == {"code": "unsupported_media_type", "detail": expected}


@pytest.mark.parametrize(
    ("body", "reason", "detail_has"),
    [
        (b'{"inquiry_id": "x", ', "bad_json", "portal lead rejected (bad_json): "),
        (b"\xff\xfe{}", "bad_encoding", "portal lead rejected (bad_encoding): "),
        (portal_body(email="not-an-email", phone=""), "bad_email",
         "portal lead rejected (bad_email): "),
    ],
)
async def test_invalid_lead_is_422_with_its_reason_and_nothing_produced(
    client: httpx.AsyncClient, kafka_settings: Settings, body: bytes, reason: str,
    detail_has: str,
) -> None:
    response = await _post(client, "portal", body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert set(payload) == {"reason", "detail"}
    assert payload["reason"] == reason
    assert payload["detail"].startswith(detail_has)
    assert len(payload["detail"]) > len(detail_has)
    assert await asyncio.to_thread(_read_topic, kafka_settings, "leads.raw.portal", 0) == []


async def test_unknown_partner_is_422(offline_client: httpx.AsyncClient) -> None:
    response = await _post(offline_client, "partner", partner_row(), content_type="text/csv",
                           extra={"X-Partner-Id": "nobody"})
    assert response.status_code == 422
    assert response.json()["reason"] == "unknown_partner"
    assert response.json()["detail"].startswith("partner lead rejected (unknown_partner): ")


async def test_too_old_lead_is_422(offline_client: httpx.AsyncClient) -> None:
    old = (datetime.now(UTC) - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = await _post(offline_client, "portal", portal_body(submitted_at=old))
    assert response.status_code == 422
    assert response.json()["reason"] == "too_old"


# --- Kafka down: 503, promptly -----------------------------------------------------------


async def test_kafka_unreachable_is_503_promptly() -> None:
    async with _client(_settings(kafka_bootstrap="127.0.0.1:1")) as client:
        for _ in range(3):  # at startup, and again once the reconnect backoff has passed
            started = time.monotonic()
            response = await _post(client, "portal", portal_body())
            assert time.monotonic() - started < 6
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.json() == {
                "code": "unavailable",
                "detail": "Kafka is unavailable, so the lead was not accepted; retry later."
            }
            await asyncio.sleep(0.6)


async def test_kafka_unreachable_is_503_even_when_our_own_check_crashed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The event is kept for the worker's DLQ when our check has a bug; with Kafka down it
    cannot be kept, and the answer must still be 503 (it was a 500: the log line read
    `lead.lead_id` of a lead that was never made)."""

    def crashing_parse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a parser")

    monkeypatch.setattr("api.routes.ingest.parse", crashing_parse)
    async with _client(_settings(kafka_bootstrap="127.0.0.1:1")) as client:
        response = await _post(client, "portal", portal_body())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


async def test_outcomes_are_counted(client: httpx.AsyncClient) -> None:
    await _post(client, "portal", portal_body("pi-http-metrics"))
    await _post(client, "portal", portal_body(), key="wrong")
    text = (await client.get("/metrics")).text
    assert 'aiq_ingest_http_total{outcome="accepted",source="portal"}' in text
    assert 'aiq_ingest_http_total{outcome="bad_key",source="portal"}' in text


# --- the producer adapter -----------------------------------------------------------------


async def test_producer_partitions_keys_like_the_other_producers(kafka_settings: Settings) -> None:
    topic = kafka_settings.topic("leads.raw.portal")
    keys = [f"pi-{i}".encode() for i in range(40)]
    producer = LeadProducer(kafka_settings.kafka_bootstrap)
    try:
        ours = [(await producer.send(topic, b"v", key=k, headers=[])).partition for k in keys]
    finally:
        await producer.stop()

    def theirs() -> list[int]:
        partitions: list[int] = []
        other = Producer({"bootstrap.servers": kafka_settings.kafka_bootstrap,
                          "partitioner": KEY_PARTITIONER})
        for k in keys:
            other.produce(topic, b"v", k, on_delivery=lambda _, m: partitions.append(m.partition()))
            other.flush(10)
        return partitions

    assert ours == await asyncio.to_thread(theirs)
    assert len(set(ours)) > 1


async def test_producer_fails_fast_while_kafka_is_down() -> None:
    producer = LeadProducer("127.0.0.1:1", timeout=2.0, reconnect_backoff=30.0)
    with pytest.raises(ProduceFailed, match=r"no Kafka at 127\.0\.0\.1:1"):
        await producer.start()
    started = time.monotonic()
    with pytest.raises(ProduceFailed):  # within the backoff: refused without dialling again
        await producer.send("t", b"v", key=None, headers=[])
    assert time.monotonic() - started < 0.1
    await producer.stop()
    await producer.stop()


# --- latency of a valid POST on the real broker -----------------------------------------


async def test_latency_of_accepted_posts(client: httpx.AsyncClient) -> None:
    times = []
    for i in range(500):
        body = portal_body(f"pi-lat-{i}")
        started = time.perf_counter()
        response = await _post(client, "portal", body)
        times.append(time.perf_counter() - started)
        assert response.status_code == 202
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
    print(f"\ningest POST latency over {len(times)}: p50 {p50 * 1000:.2f} ms, "
          f"p99 {p99 * 1000:.2f} ms")
    assert p99 < 1.0


# --- generated requests from the OpenAPI schema: never a 5xx ----------------------------

FUZZ_KEY = "fuzz-key"
_fuzz_settings = Settings(
    topic_prefix=f"f{uuid.uuid4().hex[:12]}.",
    ingest_api_keys={source: SecretStr(FUZZ_KEY) for source in SOURCES},
)
_fuzz_app = create_app(_fuzz_settings)
_schema = schemathesis.openapi.from_dict(_fuzz_app.openapi()).include(
    path="/v1/ingest/{source}"
)


@pytest.fixture(scope="module")
def fuzz_topics() -> Iterator[None]:
    ensure_topics(_fuzz_settings)
    yield
    delete_prefixed_topics(_fuzz_settings)


@_schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_never_get_a_5xx(case: schemathesis.Case, fuzz_topics: None) -> None:
    # With the right key, so generated bodies reach parse, validate and Kafka.
    response = case.call(app=_fuzz_app, headers={"X-API-Key": FUZZ_KEY})
    assert response.status_code < 500, (response.status_code, response.text, case.body)
    # A schema-valid object may still be an invalid lead (422): semantic, so by design.
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
