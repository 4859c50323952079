"""Operator routes: `/ops` (the live dashboard), `/v1/ops/*` (its data), and the login form.

Access: with `AIQ_OPS_TOKEN` set, a request needs it as `Authorization: Bearer <token>` or
as the cookie the login form sets; without a token (the local default) these routes answer
only on the loopback interface. Everything here is served from `OpsState`, computed off the
request path; nothing shows contact details.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, StreamingResponse

from api.deps import SettingsDep
from api.errors import ApiError, error_responses
from api.ops_state import OpsState
from infra.health import query
from infra.settings import Settings

router = APIRouter(tags=["ops"], responses=error_responses(401, 403, 503))

STATIC = Path(__file__).resolve().parents[1] / "static" / "ops"
COOKIE = "aiq_ops"
_ASSETS = {"ops.js": "text/javascript", "ops.css": "text/css"}
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Dead-letter details can quote what the sender wrote: mask anything like a contact.
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|\+?\d[\d\s().-]{6,}\d")
_SSE_KEEPALIVE_SECONDS = 15.0


def _denied(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "testclient"  # Starlette's in-process test client


def _supplied_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.cookies.get(COOKIE)


def token_ok(settings: Settings, supplied: str | None) -> bool:
    if settings.ops_token is None or not supplied:
        return False
    return hmac.compare_digest(supplied.encode(), settings.ops_token.get_secret_value().encode())


async def require_ops(request: Request, settings: SettingsDep) -> None:
    if settings.ops_token is None:
        if not _is_loopback(request.client.host if request.client else None):
            raise _denied(403, "ops_loopback_only",
                          "Operator routes answer only on loopback while AIQ_OPS_TOKEN is unset.")
        return
    if not token_ok(settings, _supplied_token(request)):
        raise _denied(401, "ops_token_required",
                      "Send the operator token as 'Authorization: Bearer <token>' or log in "
                      "at /ops/login.")


async def require_token_if_set(request: Request, settings: SettingsDep) -> None:
    """For `/metrics`: the token when one is set, open otherwise (Prometheus scrapes it
    from another host)."""
    if settings.ops_token is not None and not token_ok(settings, _supplied_token(request)):
        raise _denied(401, "ops_token_required",
                      "Send the operator token as 'Authorization: Bearer <token>'.")


OpsAccess = Annotated[None, Depends(require_ops)]
MetricsAccess = Annotated[None, Depends(require_token_if_set)]


async def get_ops(request: Request) -> OpsState:
    return request.app.state.ops


OpsDep = Annotated[OpsState, Depends(get_ops)]


@router.get("/v1/ops/lag")
async def lag(_: OpsAccess, ops: OpsDep) -> dict[str, Any]:
    """Consumer lag per group and partition: offsets, seconds and Burrow-style status."""
    return ops.lag.to_json()


@router.get("/v1/ops/summary")
async def summary(_: OpsAccess, ops: OpsDep) -> dict[str, Any]:
    """Throughput, latency, DLQ, models, health and lag: what /ops shows."""
    return ops.overview()


@router.get("/v1/ops/map")
async def lead_map(_: OpsAccess, ops: OpsDep) -> dict[str, Any]:
    """H3 cells with every map layer's value and the cell's boundary."""
    return {**ops.map, "error": ops.map_error, "computed_at": ops.map_at}


@router.get("/v1/ops/dlq")
async def dead_letters(
    _: OpsAccess, settings: SettingsDep,
    reason: Annotated[str | None, Query(description="a reason code, e.g. too_old")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The newest open dead letters (origin, reason, masked detail), without their bytes."""
    if reason is not None and not _REASON.match(reason):
        raise _denied(422, "bad_reason", "A reason code is lower-case letters, digits and _.")
    where = "status = 'open'" + (f" AND reason = '{reason}'" if reason else "")
    sql = (f"SELECT topic, partition, offset, source, reason, detail, received_ms "
           f"FROM dlq FINAL WHERE {where} ORDER BY received_ms DESC LIMIT {limit}")
    try:
        rows = await asyncio.to_thread(query, settings, sql)
    except Exception as exc:
        raise _denied(503, "warehouse_unavailable", f"The warehouse did not answer: {exc}"
                      ) from exc
    return {"reason": reason, "letters": [
        {"origin": f"{r[0]}[{r[1]}]@{r[2]}", "source": r[3], "reason": r[4],
         "detail": _CONTACT.sub("…", str(r[5]))[:300], "received_ms": r[6]} for r in rows]}


@router.get("/v1/ops/stream")
async def stream(_: OpsAccess, ops: OpsDep, request: Request) -> StreamingResponse:
    """Server-sent events: `overview` after every poll, `map` when the map was rebuilt."""

    async def events() -> AsyncIterator[bytes]:
        map_version = -1
        while True:
            payload = ops.overview()
            yield _sse("overview", payload)
            if payload["map"]["version"] != map_version:
                map_version = payload["map"]["version"]
                yield _sse("map", {**ops.map, "error": ops.map_error})
            changed = ops.changed
            try:
                await asyncio.wait_for(changed.wait(), _SSE_KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                return

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


@router.get("/ops", include_in_schema=False, response_model=None)
async def page(request: Request, settings: SettingsDep) -> FileResponse | RedirectResponse:
    if settings.ops_token is not None and not token_ok(settings, _supplied_token(request)):
        return RedirectResponse("/ops/login", status_code=303)
    await require_ops(request, settings)
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-store"})


@router.get("/ops/static/{name}", include_in_schema=False)
async def asset(name: str, _: OpsAccess) -> FileResponse:
    if name not in _ASSETS:
        raise _denied(404, "not_found", "No such asset.")
    return FileResponse(STATIC / name, media_type=_ASSETS[name])


_LOGIN = """<!doctype html><html lang="en"><meta charset="utf-8"><title>AIQLeads ops login</title>
<style>body{{font:15px system-ui,sans-serif;background:#0f1720;color:#e6edf3;display:grid;
place-items:center;height:100vh;margin:0}}form{{background:#17212b;padding:2em;border-radius:8px}}
input{{display:block;margin:.5em 0 1em;padding:.4em;width:18em}}.error{{color:#ff6b6b}}</style>
<body><form method="post"
action="/ops/login"><h1>AIQLeads operations</h1><label>Operator token
<input type="password" name="token" autocomplete="current-password" autofocus></label>
<button>Log in</button>{error}</form></body></html>"""


@router.get("/ops/login", include_in_schema=False)
async def login_form() -> HTMLResponse:
    return HTMLResponse(_LOGIN.format(error=""))


@router.post("/ops/login", include_in_schema=False, response_model=None)
async def login(request: Request, settings: SettingsDep) -> HTMLResponse | RedirectResponse:
    if settings.ops_token is None:
        return RedirectResponse("/ops", status_code=303)  # nothing to log in to
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    supplied = (form.get("token") or [""])[0]
    if not token_ok(settings, supplied):
        return HTMLResponse(_LOGIN.format(error='<p class="error">Wrong token.</p>'),
                            status_code=401)
    response = RedirectResponse("/ops", status_code=303)
    response.set_cookie(COOKIE, supplied, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=12 * 3600)
    return response
