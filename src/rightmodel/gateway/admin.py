"""Admin routes: manage API keys over HTTP (the same operations as `rightmodel keys`).

Every route needs an admin key (`rightmodel keys create --admin`): none or an invalid one → 401,
a tenant key → 403. While no admin key exists they answer 401, even on an open gateway, so an
open gateway can never be used to mint its own first key. A key made or revoked here takes
effect on this gateway at once and on the others sharing the store within `auth.refresh_s`.
The new key's secret is in the creation response only (`Cache-Control: no-store`).
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from rightmodel.auth.keys import KeySpec
from rightmodel.auth.store import KeyStoreError, UnknownKey
from rightmodel.gateway.deadlines import with_deadline
from rightmodel.gateway.errors import APIError, invalid
from rightmodel.gateway.validation import read_json

log = logging.getLogger("rightmodel.gateway.auth")
ADMIN_BODY_LIMIT = 64 * 1024

router = APIRouter(prefix="/admin", tags=["admin"])


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


def _store_error(exc: KeyStoreError) -> APIError:
    return APIError(503, f"the key store cannot be used right now: {exc}", code="key_store_unavailable", headers={"Retry-After": "2"})


@router.get("/keys", summary="List API keys (never their secrets)")
@with_deadline("admin_deadline_s")
async def list_keys(request: Request) -> Response:
    guard = request.app.state.gateway.guard
    guard.require_admin(request)
    try:
        records = await asyncio.to_thread(guard.store.list)
    except KeyStoreError as exc:
        raise _store_error(exc) from None
    # Off the loop: with shared limits each usage is a read of the limits store.
    usages = await asyncio.to_thread(lambda: [guard.usage(r.key_id) for r in records]) if guard.shared is not None else [
        guard.usage(r.key_id) for r in records]
    data = [{**r.public(), "usage": u} for r, u in zip(records, usages)]
    return _json({"object": "list", "data": data})


_CREATE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": KeySpec.model_json_schema()}}}}
# Declared by hand (not as a typed path parameter) so a malformed id gets our 404, not FastAPI's 422 shape.
_KEY_ID = {"parameters": [{"name": "key_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{12}$"}}]}


@router.post("/keys", summary="Create an API key (its secret is in this response only)", status_code=201, openapi_extra=_CREATE_BODY)
@with_deadline("admin_deadline_s")
async def create_key(request: Request) -> Response:
    guard = request.app.state.gateway.guard
    admin = guard.require_admin(request)
    body = await read_json(request, ADMIN_BODY_LIMIT)
    try:
        spec = KeySpec.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise invalid(param or "body", f"'{param}': {first['msg']}" if param else first["msg"]) from None
    try:
        record, key = await asyncio.to_thread(guard.store.create, spec)
        await asyncio.to_thread(guard.refresh)
    except KeyStoreError as exc:
        raise _store_error(exc) from None
    log.warning("admin: key %s created for tenant %r by admin key %s", record.key_id, record.tenant, admin.key_id)
    return _json({**record.public(), "key": key}, status=201, headers={"Cache-Control": "no-store"})


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key", openapi_extra=_KEY_ID)
@with_deadline("admin_deadline_s")
async def revoke_key(request: Request) -> Response:
    guard = request.app.state.gateway.guard
    admin = guard.require_admin(request)
    key_id = request.path_params["key_id"]
    try:
        record = await asyncio.to_thread(guard.store.revoke, key_id)
        await asyncio.to_thread(guard.refresh)
    except UnknownKey:
        raise APIError(404, f"no key with id '{key_id}'", param="key_id", code="key_not_found") from None
    except KeyStoreError as exc:
        raise _store_error(exc) from None
    log.warning("admin: key %s (tenant %r) revoked by admin key %s", record.key_id, record.tenant, admin.key_id)
    return _json(record.public())
