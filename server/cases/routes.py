"""REST API for cases: list, show (with timeline), and transitions with Idempotency-Key + If-Match.

``approve`` is refused here: it needs the identified approver's passed spoken challenge, which only the voice
dialogue can vouch for (it calls ``CaseService.approve``). Execution and verification results are recorded by the
system only. The HTTP guard middleware authenticates every /api request; the timeline actor is the authenticated
principal, never a value from the body or a header.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from server.auth.principal import Permission
from server.cases.fsm import Event
from server.cases.plans import PlanError
from server.cases.service import CaseService
from server.cases.store import CaseError, GuardRejected
from server.vault.auth import principal_of, requires

_VERSION = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')
_VOICE_ONLY = {Event.APPROVE.value}
# results the executor and the verifier record; a REST caller claiming them would forge the outcome
_SYSTEM_ONLY = {
    Event.EXECUTION_SUCCEEDED.value,
    Event.EXECUTION_FAILED.value,
    Event.VERIFIED.value,
    Event.VERIFICATION_FAILED.value,
}


def setup_case_routes(app: web.Application, service: CaseService) -> None:
    api = _CaseApi(service)
    app.router.add_get("/api/cases", requires(Permission.READ)(api.list_cases))
    app.router.add_get("/api/cases/{case_id}", requires(Permission.READ)(api.show))
    app.router.add_post("/api/cases/{case_id}/transitions", requires(Permission.DECIDE)(api.transition))

    async def _start(_app: web.Application) -> None:
        service.start()

    async def _stop(_app: web.Application) -> None:
        await service.stop()

    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _CaseApi:
    def __init__(self, service: CaseService) -> None:
        self.service = service

    async def list_cases(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "limit must be an integer")
        cases = await asyncio.to_thread(
            self.service.list_cases,
            owner=request.query.get("owner") or None,
            status=request.query.get("status") or None,
            limit=limit,
        )
        return web.json_response({"cases": [c.to_dict() for c in cases]})

    async def show(self, request: web.Request) -> web.Response:
        case_id = _case_id(request)
        if case_id is None:
            return _error(400, "case id must be an integer")
        case = await asyncio.to_thread(self.service.get_case, case_id)
        if case is None:
            return _error(404, f"case {case_id} not found")
        timeline = await asyncio.to_thread(self.service.timeline, case_id)
        return web.json_response(
            {"case": case.to_dict(), "timeline": [t.to_dict() for t in timeline]},
            headers={"ETag": f'"{case.version}"'},
        )

    async def transition(self, request: web.Request) -> web.Response:
        case_id = _case_id(request)
        if case_id is None:
            return _error(400, "case id must be an integer")
        match = _VERSION.match(request.headers.get("If-Match", ""))
        if match is None:
            return _error(428, 'If-Match header with the case version (e.g. If-Match: "3") is required')
        try:
            body: object = await request.json()
        except ValueError:
            return _error(400, 'body must be JSON: {"event": ..., "payload": {...}}')
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            return _error(400, "body must be a JSON object with a string 'event'")
        event = body["event"]
        if event not in {e.value for e in Event}:
            return _error(400, f"unknown event '{event}' (known: {sorted(e.value for e in Event)})")
        if event in _VOICE_ONLY:
            return _error(403, "approval needs the approver's voice and spoken challenge; use the robot")
        if event in _SYSTEM_ONLY:
            return _error(403, f"'{event}' is recorded by the executor/verifier only, not over the API")
        payload = body.get("payload") or {}
        if not isinstance(payload, dict):
            return _error(400, "payload must be a JSON object")
        principal = principal_of(request)
        if principal is None:  # unreachable behind requires(); kept so a mis-wired route fails closed
            return _error(401, "authentication required")
        actor = principal.actor
        if event == Event.PLAN_PROPOSED.value:
            payload = {**payload, "proposed_by": "human"}  # a person over the API, whatever the body says
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and not 1 <= len(key) <= 200:
            return _error(400, "Idempotency-Key must be 1..200 characters")
        try:
            result = await asyncio.to_thread(
                self.service.transition, case_id, event, int(match.group(1)), actor, key, payload
            )
        except GuardRejected as exc:
            return _error(422 if event == Event.PLAN_PROPOSED.value else exc.status, str(exc))
        except PlanError as exc:
            return _error(422, str(exc))
        except CaseError as exc:
            return _error(exc.status, str(exc))
        case = await asyncio.to_thread(self.service.get_case, case_id)
        return web.json_response(
            {"result": result.to_dict(), "case": case.to_dict() if case else None},
            headers={"ETag": f'"{case.version}"'} if case else None,
        )


def _case_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["case_id"])
    except ValueError:
        return None
