"""The HTTP ingest contract as /docs shows it: statuses, bodies, key, media types, retries."""

from __future__ import annotations

from typing import Any

import pytest

from api.main import create_app
from api.routes.ingest import MEDIA_TYPES
from infra.settings import Settings
from schemas.contract import SOURCES


@pytest.fixture(scope="module")
def operation() -> dict[str, Any]:
    openapi = create_app(Settings()).openapi()
    return openapi["paths"]["/v1/ingest/{source}"]["post"]


def _schema_ref(response: dict[str, Any]) -> str:
    return response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_every_source_has_its_media_types() -> None:
    assert set(MEDIA_TYPES) == set(SOURCES)
    assert MEDIA_TYPES["partner"] == {"text/csv"}
    assert MEDIA_TYPES["webform"] == {"application/json", "application/x-www-form-urlencoded"}


def test_each_status_has_its_model(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    assert _schema_ref(responses["202"]) == "IngestAccepted"
    assert _schema_ref(responses["422"]) == "IngestRejected"
    for code in ("400", "401", "403", "404", "413", "415", "503"):
        assert _schema_ref(responses[code]) == "IngestError", code
    assert "200" not in responses


def test_the_key_header_is_a_security_scheme() -> None:
    openapi = create_app(Settings()).openapi()
    assert openapi["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The ingest key of this source (`AIQ_INGEST_API_KEYS`).",
    }
    assert openapi["paths"]["/v1/ingest/{source}"]["post"]["security"] == [{"APIKeyHeader": []}]


def test_sources_and_bodies_are_documented(operation: dict[str, Any]) -> None:
    [source] = [p for p in operation["parameters"] if p["in"] == "path"]
    assert source["schema"]["enum"] == list(SOURCES)
    assert any(p["name"] == "X-Partner-Id" and p["in"] == "header"
               for p in operation["parameters"])
    assert set(operation["requestBody"]["content"]) == {
        "application/json", "application/x-www-form-urlencoded", "text/csv"
    }


def test_retries_are_documented_as_safe(operation: dict[str, Any]) -> None:
    assert "Retries are safe" in operation["description"]
    assert "lead_id" in operation["description"]
    assert "202 only once Kafka has acknowledged it" in operation["description"]
