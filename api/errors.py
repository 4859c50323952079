"""Every error the API answers is JSON with a code and a sentence: ``{"code", "detail"}``.

Routes raise `ApiError(status, code, detail)`; the handlers here turn FastAPI's own
errors (validation, unknown routes, wrong methods) and an unreachable Redis into the
same shape, so a client never parses two kinds of error, and never sees a 500 for a
request it could have got right.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from streams.errors import AIQLeadsError

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large",
          415: "unsupported_media_type", 422: "invalid_request", 429: "rate_limited",
          503: "unavailable"}
REDIS_RETRY_AFTER_S = 2


class ErrorPublic(BaseModel):
    """Why a request was refused: a stable code and a sentence for people."""

    code: str
    detail: str


class ApiError(AIQLeadsError, StarletteHTTPException):
    def __init__(self, status_code: int, code: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.code = code


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these statuses, all with `ErrorPublic`."""
    # The content is spelled out: a route answering HTML or a stream still refuses in JSON.
    return {code: {"model": ErrorPublic, "description": _CODES.get(code, "error"),
                   "content": {"application/json": {
                       "schema": {"$ref": "#/components/schemas/ErrorPublic"}}}}
            for code in codes}


def _body(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


def document_validation_errors(app: FastAPI) -> None:
    """OpenAPI: every 422 is an `ErrorPublic`, as `invalid` below answers it (not FastAPI's
    default `HTTPValidationError`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorPublic", ErrorPublic.model_json_schema())
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                response = operation.get("responses", {}).get("422")
                if response is not None and "HTTPValidationError" in str(response):
                    response["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ErrorPublic"}}}
        if "ValidationError" not in str(schema.get("paths")):
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document_validation_errors(app)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404 and not isinstance(exc, ApiError):
            detail = f"No route {request.url.path}; see /docs."
        if exc.status_code == 405:
            # Starlette names the methods of the first route that matched the path only.
            allowed = sorted({m for route in app.routes
                              if isinstance(route, APIRoute)
                              and route.matches(request.scope)[0] != Match.NONE
                              for m in route.methods})
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
        return JSONResponse(_body(code, detail), status_code=exc.status_code,
                            headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return JSONResponse(_body("invalid_request", "; ".join(problems) or "invalid request"),
                            status_code=422)

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, exc: RedisError) -> JSONResponse:
        log.warning("Redis unavailable for %s: %s", request.url.path, exc)
        return JSONResponse(
            _body("unavailable", "The marketplace store (Redis) is unavailable; retry shortly."),
            status_code=503, headers={"Retry-After": str(REDIS_RETRY_AFTER_S)})
