"""REST API for cases over a real aiohttp server."""

from __future__ import annotations

import aiohttp

from server.cases.routes import setup_case_routes
from server.cases.service import CaseService
from tests.alerts.helpers import serve
from tests.cases.helpers import case_at_gate
from tests.http_auth import ADMIN, guarded_app


async def test_cases_rest_api(service: CaseService) -> None:
    case = case_at_gate(service)
    other = service.create_case(owner="owner:bob", title="bob's case")
    app = guarded_app()
    setup_case_routes(app, service)
    async with serve(app) as url, aiohttp.ClientSession(headers=ADMIN) as http:
        async with http.get(f"{url}/api/cases", params={"owner": "owner:alice"}) as r:
            assert r.status == 200
            assert [c["id"] for c in (await r.json())["cases"]] == [case.id]
        async with http.get(f"{url}/api/cases/{case.id}") as r:
            body = await r.json()
            assert r.status == 200 and r.headers["ETag"] == f'"{case.version}"'
            assert body["case"]["status"] == "WAIT_GATE" and body["timeline"][-1]["event"] == "plan_proposed"
        async with http.get(f"{url}/api/cases/999") as r:
            assert r.status == 404

        tr = f"{url}/api/cases/{case.id}/transitions"
        deny = {"event": "deny", "payload": {"reason": "不用回滚"}, "actor": "owner:alice"}
        async with http.post(tr, json=deny) as r:
            assert r.status == 428  # no If-Match
        async with http.post(tr, json=deny, headers={"If-Match": f'"{case.version - 1}"'}) as r:
            assert r.status == 409 and "version" in (await r.json())["error"]
        async with http.post(tr, json={"event": "approve", "payload": {"challenge_passed": True}},
                             headers={"If-Match": str(case.version)}) as r:  # fmt: skip
            assert r.status == 403  # approval needs the voice challenge
        async with http.post(tr, json={"event": "verified"}, headers={"If-Match": str(case.version)}) as r:
            assert r.status == 403 and "verifier" in (await r.json())["error"]  # system-only event
        async with http.post(tr, json={"event": "explode"}, headers={"If-Match": str(case.version)}) as r:
            assert r.status == 400
        headers = {"If-Match": f'"{case.version}"', "Idempotency-Key": "console-1"}
        async with http.post(tr, json=deny, headers=headers) as r:
            first = await r.json()
            assert (
                r.status == 200
                and first["case"]["status"] == "PARKED"
                and r.headers["ETag"] == f'"{case.version + 1}"'
            )
        async with http.post(tr, json=deny, headers=headers) as r:  # client retry after a lost reply
            again = await r.json()
            assert r.status == 200 and again["result"]["replayed"] is True
            assert again["result"]["timeline_id"] == first["result"]["timeline_id"]

        tr2 = f"{url}/api/cases/{other.id}/transitions"
        for event in ("start_analysis", "analysis_done"):
            current = service.get_case(other.id).version
            async with http.post(tr2, json={"event": event}, headers={"If-Match": str(current)}) as r:
                assert r.status == 200
        bad_plan = {
            "event": "plan_proposed",
            "payload": {"plan": {"summary": "x", "risk": "low", "actions": []}},
        }
        async with http.post(
            tr2, json=bad_plan, headers={"If-Match": str(service.get_case(other.id).version)}
        ) as r:
            assert r.status == 422 and "actions" in (await r.json())["error"]
    assert [t.event for t in service.timeline(case.id)].count("deny") == 1
