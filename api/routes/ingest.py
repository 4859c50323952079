"""`POST /v1/ingest/{source}`: one lead over HTTP into `leads.raw.<source>`, for sources
that cannot speak Kafka.

The request is checked at the edge with the same pure parse + validate the worker runs,
so a caller learns of a bad lead at once (422, nothing produced: the DLQ is for
Kafka-delivered events). A good lead is produced as the original bytes, keyed by the
source's own id, and answered 202 only after Kafka acknowledged it; Kafka down or slow
is a 503 within the producer's timeout, never a 500.
"""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request, Security, status
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, SecretStr
from starlette.requests import ClientDisconnect

from api.deps import PartnersDep, ProducerDep, SettingsDep
from api.errors import ApiError
from infra.kafka.producer import ProduceFailed
from infra.metrics import INGEST_HTTP
from schemas.contract import (
    CLIENT_IP_HEADER,
    INGEST_HEADER,
    PARTNER_HEADER,
    RECEIVED_MS_HEADER,
    SOURCES,
    raw_topic,
)
from streams.errors import INTERNAL_ERROR, LeadRejected
from streams.parse.registry import parse
from streams.validate import validate

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CSV = "text/csv"

#: The request media types each source's parser reads.
MEDIA_TYPES: dict[str, frozenset[str]] = {
    "portal": frozenset({JSON}),
    "facebook": frozenset({JSON}),
    "crm": frozenset({JSON}),
    "webform": frozenset({JSON, FORM}),
    "partner": frozenset({CSV}),
}
assert set(MEDIA_TYPES) == set(SOURCES), "every source needs its accepted media types"

RETRY_AFTER_SECONDS = 1
MAX_PARTNER_ID_CHARS = 128

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The ingest key of this source (`AIQ_INGEST_API_KEYS`).",
)


class IngestAccepted(BaseModel):
    """Kafka has the lead: it will be scored or dead-lettered, never lost."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"lead_id": "3f1c…", "status": "accepted"}]}
    )

    # None with status "queued": our own check failed (a bug, logged); the bytes went to
    # Kafka anyway, so the worker dead-letters them for replay instead of losing them.
    lead_id: str | None
    status: Literal["accepted", "queued"] = "accepted"


class IngestError(BaseModel):
    """Why the request was refused: a code and a sentence."""

    code: str
    detail: str


class IngestRejected(BaseModel):
    """The lead itself is invalid: the reason code the DLQ would have used, and why."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"reason": "bad_email", "detail": "portal lead rejected (bad_email): …"}]
        }
    )

    reason: str
    detail: str


_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": (
        "One lead in its source's own format: JSON for portal, facebook and crm; JSON or "
        "URL-encoded form fields for webform; one CSV row (text/csv) for partner."
    ),
    "content": {
        JSON: {
            "schema": {"type": "object"},
            "example": {
                "inquiry_id": "pi-8f2c1e",
                "submitted_at": "2026-05-01T12:00:00Z",
                "listing": {"listing_id": "L-2231", "price": 455000, "beds": 3,
                            "lat": 30.2713, "lon": -97.7426},
                "contact": {"name": "Jane Doe", "email": "jane@example.com",
                            "phone": "(512) 555-0134"},
                "intent": "buy",
                "consent": True,
            },
        },
        FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
        CSV: {"schema": {"type": "string"}},
    },
}

_DESCRIPTION = """\
Accept one lead from a source that cannot produce to Kafka.

The lead is parsed and validated exactly as the stream worker would, so an invalid lead
is refused here (422) and nothing is produced. A valid lead is written unchanged to
`leads.raw.<source>`; the answer is **202 only once Kafka has acknowledged it**.

**Retries are safe.** The `lead_id` is deterministic (the source plus the source's own id,
else a hash of the content), so re-sending the same lead after a timeout or a 503 lands it
once downstream; the response carries that `lead_id`.
"""


def _refuse(
    source: str, outcome: str, code: int, detail: str, headers: dict[str, str] | None = None
) -> ApiError:
    INGEST_HTTP.labels(source, outcome).inc()
    return ApiError(code, outcome, detail, headers=headers)


@router.post(
    "/{source}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestAccepted,
    summary="Ingest one lead over HTTP",
    description=_DESCRIPTION,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        400: {"model": IngestError, "description": "Empty body, or a header missing or bad"},
        401: {"model": IngestError, "description": "No X-API-Key header"},
        403: {"model": IngestError, "description": "Wrong key, or ingest not enabled"},
        404: {"model": IngestError, "description": "Unknown source"},
        413: {"model": IngestError, "description": "Body over the event size limit"},
        415: {"model": IngestError, "description": "Media type not read for this source"},
        422: {"model": IngestRejected, "description": "The lead is invalid"},
        503: {"model": IngestError, "description": "Kafka unavailable; retry later"},
    },
)
async def ingest_lead(
    request: Request,
    source: Annotated[
        str, Path(description="The lead source", json_schema_extra={"enum": list(SOURCES)})
    ],
    settings: SettingsDep,
    producer: ProducerDep,
    partners: PartnersDep,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
    partner_id: Annotated[
        str | None,
        Header(alias="X-Partner-Id", description="Required for `partner`: whose CSV row this is"),
    ] = None,
) -> Any:
    if source not in MEDIA_TYPES:
        raise _refuse("unknown", "not_found", 404,
                      f"Unknown source {source[:64]!r}; known sources: {', '.join(SOURCES)}.")
    _authorize(source, api_key, settings.ingest_api_keys.get(source))
    content_type = request.headers.get("content-type", "")
    _check_media_type(source, content_type)
    partner_id = (partner_id or "").strip() or None
    if source == "partner" and partner_id is None:
        raise _refuse(source, "no_partner_id", 400,
                      "partner ingest needs an X-Partner-Id header naming the partner.")
    if partner_id is not None and len(partner_id) > MAX_PARTNER_ID_CHARS:
        raise _refuse(source, "bad_partner_id", 400,
                      f"X-Partner-Id is longer than {MAX_PARTNER_ID_CHARS} characters.")
    raw = await _read_body(request, source, settings.max_event_bytes)

    received = datetime.now(UTC)
    headers = {"content-type": content_type, INGEST_HEADER: "http",
               RECEIVED_MS_HEADER: str(int(received.timestamp() * 1000))}
    if request.client is not None:
        headers[CLIENT_IP_HEADER] = request.client.host
    if partner_id is not None:
        headers[PARTNER_HEADER] = partner_id
    # Header values go to Kafka as the bytes the client sent (Starlette decoded them as
    # latin-1); the parser sees them as the worker will, decoded from those bytes as UTF-8.
    kafka_headers = [(name, value.encode("latin-1")) for name, value in headers.items()]
    seen_headers = {name: value.decode("utf-8", "replace") for name, value in kafka_headers}

    try:
        lead = parse(source, raw, received, max_bytes=settings.max_event_bytes,
                     headers=seen_headers, partners=partners)
        validate(lead, received,
                 max_age=timedelta(days=settings.max_lead_age_days),
                 max_skew=timedelta(seconds=settings.max_clock_skew_seconds))
    except LeadRejected as exc:
        INGEST_HTTP.labels(source, exc.reason).inc()
        body = IngestRejected(reason=exc.reason,
                              detail=f"{source} lead rejected ({exc.reason}): {exc.detail}")
        return JSONResponse(body.model_dump(), status_code=422)
    except Exception:  # a bug in our check, not a bad request: keep the lead, DLQ it later
        log.exception("ingest %s: checking a %d-byte body failed", source, len(raw))
        lead = None

    try:
        await producer.send(settings.topic(raw_topic(source)), raw,
                            key=lead.source_lead_id.encode() if lead else None,
                            headers=kafka_headers)
    except ProduceFailed as exc:
        # `lead` is None when our own check crashed: still a 503, never a 500.
        log.warning("ingest %s: lead %s not produced: %s", source,
                    lead.lead_id if lead else "(unchecked)", exc)
        # The cause (broker addresses included) goes to the log, not to the caller.
        raise _refuse(source, "unavailable", 503,
                      "Kafka is unavailable, so the lead was not accepted; retry later.",
                      headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from exc
    if lead is None:
        INGEST_HTTP.labels(source, INTERNAL_ERROR).inc()
        return IngestAccepted(lead_id=None, status="queued")
    INGEST_HTTP.labels(source, "accepted").inc()
    return IngestAccepted(lead_id=lead.lead_id)


def _authorize(source: str, api_key: str | None, expected: SecretStr | None) -> None:
    if expected is None or not expected.get_secret_value():
        raise _refuse(source, "not_enabled", 403, f"ingest not enabled for {source}")
    if not api_key:
        raise _refuse(source, "no_key", 401, f"Missing X-API-Key header: {source} needs its key.",
                      headers={"WWW-Authenticate": 'APIKey header="X-API-Key"'})
    # Starlette decodes headers as latin-1, so this gives back the bytes the client sent.
    if not hmac.compare_digest(api_key.encode("latin-1"), expected.get_secret_value().encode()):
        raise _refuse(source, "bad_key", 403, f"The X-API-Key is not valid for {source}.")


def _check_media_type(source: str, content_type: str) -> None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    accepted = MEDIA_TYPES[source]
    if media_type not in accepted:
        raise _refuse(source, "unsupported_media_type", 415,
                      f"{source} accepts Content-Type {' or '.join(sorted(accepted))}, "
                      f"not {media_type or 'none'!r}.")


async def _read_body(request: Request, source: str, cap: int) -> bytes:
    """The body, refused as soon as it is known to exceed `cap`: never buffered past it."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.strip().isdigit()):
            raise _refuse(source, "bad_length", 400, "Content-Length is not a byte count.")
        if int(declared) > cap:
            raise _refuse(source, "too_large", 413,
                          f"The body is {int(declared)} bytes; the limit is {cap} bytes.")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > cap:
                raise _refuse(source, "too_large", 413, f"The body is over the {cap}-byte limit.")
    except ClientDisconnect as exc:
        raise _refuse(source, "disconnected", 400,
                      "The client disconnected before the body was complete.") from exc
    if not body.strip():
        raise _refuse(source, "empty", 400, "The body is empty: send one lead.")
    return bytes(body)
