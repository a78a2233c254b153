"""REST for what keeps people informed: channels (configure, test), silences, and acknowledging or snoozing a case.

Every route is under /api, so the HTTP guard has authenticated the caller; the actor on a timeline is that
principal, never a name from the body. Channel secrets are write-only: answers show ``ChannelSpec.masked()``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from server.auth.principal import Permission
from server.notify.service import NotifyService
from server.silences.models import SilenceIn
from server.vault.auth import principal_of, requires


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _actor(request: web.Request) -> str:
    principal = principal_of(request)
    return principal.actor if principal else "unknown"


async def _json(request: web.Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text='{"error": "body is not valid JSON"}', content_type="application/json"
        ) from None


def _case_id(request: web.Request) -> int:
    raw = request.match_info["case_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text='{"error": "no such case"}', content_type="application/json")
    return int(raw)


class SnoozeIn(BaseModel):
    minutes: float = Field(gt=0, le=24 * 60)


def setup_notify_routes(app: web.Application, notify: NotifyService) -> None:
    decide = requires(Permission.DECIDE)
    configure = requires(Permission.CONFIGURE)
    read = requires(Permission.READ)

    # -- acknowledgement ---------------------------------------------------------------------------
    async def acknowledge(request: web.Request) -> web.Response:
        case_id = _case_id(request)
        result = await notify.acknowledge(case_id, _actor(request))
        if result is None:
            return _error(404, f"case {case_id} not found")
        return web.json_response({"case_id": case_id, "acknowledged": True, "first": result})

    async def snooze(request: web.Request) -> web.Response:
        case_id = _case_id(request)
        try:
            body = SnoozeIn.model_validate(await _json(request))
        except ValidationError as exc:
            return _error(400, exc.errors()[0]["msg"])
        until = await notify.snooze(case_id, body.minutes, _actor(request))
        if until is None:
            return _error(404, f"case {case_id} not found")
        return web.json_response({"case_id": case_id, "snoozed_until": until.isoformat()})

    # -- silences ------------------------------------------------------------------------------------
    async def list_silences(request: web.Request) -> web.Response:
        owner = request.query.get("owner") or None
        return web.json_response(
            {"silences": [notify.silence_json(s) for s in notify.silences.list(owner, active_only=True)]}
        )

    async def create_silence(request: web.Request) -> web.Response:
        try:
            data = SilenceIn.model_validate(await _json(request))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return _error(400, f"{where}: {first['msg']}" if where else first["msg"])
        silence = notify.silences.add(data, created_by=_actor(request))
        return web.json_response(notify.silence_json(silence), status=201)

    async def expire_silence(request: web.Request) -> web.Response:
        raw = request.match_info["silence_id"]
        if not raw.isdigit() or not notify.silences.expire(int(raw)):
            return _error(404, "no such active silence")
        return web.json_response({"id": int(raw), "expired_at": datetime.now(UTC).isoformat()})

    # -- channels ------------------------------------------------------------------------------------
    async def list_channels(_request: web.Request) -> web.Response:
        return web.json_response({"channels": [c.masked() for c in notify.channels.all()]})

    async def put_channel(request: web.Request) -> web.Response:
        body = await _json(request)
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        try:
            spec = notify.parse_channel({**body, "name": request.match_info["name"]})
            notify.channels.put(spec)
        except (ValidationError, ValueError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            return _error(400, msg)
        return web.json_response(spec.masked(), status=201)

    async def delete_channel(request: web.Request) -> web.Response:
        if not notify.channels.remove(request.match_info["name"]):
            return _error(404, "no such channel")
        return web.json_response({"deleted": request.match_info["name"]})

    async def test_channel(request: web.Request) -> web.Response:
        outcome = await notify.test_channel(request.match_info["name"], _actor(request))
        if outcome is None:
            return _error(404, "no such channel")
        return web.json_response(
            {"channel": outcome.channel, "status": outcome.status.value, "detail": outcome.detail},
            status=200 if outcome.status.value == "sent" else 502,
        )

    r = app.router
    r.add_post("/api/cases/{case_id}/acknowledge", decide(acknowledge))
    r.add_post("/api/cases/{case_id}/snooze", decide(snooze))
    r.add_get("/api/silences", read(list_silences))
    r.add_post("/api/silences", decide(create_silence))
    r.add_delete("/api/silences/{silence_id}", decide(expire_silence))
    r.add_get("/api/channels", read(list_channels))
    r.add_put("/api/channels/{name}", configure(put_channel))
    r.add_delete("/api/channels/{name}", configure(delete_channel))
    r.add_post("/api/channels/{name}/test", configure(test_channel))
