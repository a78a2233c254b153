"""Issue 10 probe, reproduced: the plan is swapped over the API after the robot read it aloud; the owner's
spoken approval (right voice, right digits) must then be refused, and the new plan must be read again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import aiohttp
import pytest

from server.cases.fsm import Risk, State
from server.cases.pinning import PlanChanged, SpokenPlan, plan_digest, spoken_plan
from server.cases.plans import deterministic_plan
from server.cases.routes import setup_case_routes
from server.cases.service import CaseService
from server.cases.store import StaticApprovers
from server.dialogue.context import Speaker, TurnContext
from server.dialogue.owner_skills import OwnerSkills
from server.storage.db import Database
from server.voiceprint.challenge import ChallengeManager
from server.voiceprint.scoring import Identification
from tests.alerts.helpers import serve
from tests.http_auth import ADMIN, guarded_app

SWAPPED = {
    "summary": "将 prod/payment-gateway 回滚到上一个版本",  # the attacker keeps the old wording...
    "risk": "low",  # ...lowers the risk...
    "actions": [
        {"type": "k8s_rollout_undo", "namespace": "kube-system", "deployment": "coredns", "to_revision": 1}
    ],
    "rollback": {"kind": "none", "reason": "probe"},
}


@dataclass
class _Owner:
    id: int = 7
    can_approve: bool = True


class _Voiceprints:
    def get_owner(self, _key: object) -> _Owner:
        return _Owner()


def _skills(cases: CaseService, challenges: ChallengeManager) -> OwnerSkills:
    return OwnerSkills(
        settings=None,  # type: ignore[arg-type]
        reports=None,  # type: ignore[arg-type]
        owners=None,  # type: ignore[arg-type]
        voiceprints=_Voiceprints(),  # type: ignore[arg-type]
        scheduler=None,  # type: ignore[arg-type]
        challenges=challenges,
        cases=cases,
        delivery=None,  # type: ignore[arg-type]
    )


def _ctx() -> TurnContext:
    ident = Identification(owner_id=7, score=0.9, threshold=0.6, margin=1.0)
    return TurnContext(owner="alice", device=None, today=date(2026, 9, 1), speaker=Speaker("alice", ident))  # type: ignore[arg-type]


async def _say(skills: OwnerSkills, ctx: TurnContext, text: str) -> str:
    if text == "确认回滚":
        reply = await skills.rollback_confirm(None, ctx)  # type: ignore[arg-type]
        ctx.memory.expect = reply.expect
    else:
        reply = await skills.intercept(text, ctx)
        assert reply is not None
    return "".join(reply.sentences)


async def test_plan_swapped_after_it_was_spoken_is_not_approved(tmp_path) -> None:
    db = Database.sqlite(tmp_path / "pin.sqlite3")
    db.create_all()
    cases = CaseService(db, approvers=StaticApprovers({"owner:alice": Risk.HIGH}))
    case = cases.create_case(
        owner="alice", title="prod/payment-gateway 5xx", resource="prod/deployment/payment-gateway"
    )
    cases.propose_plan(
        case.id, deterministic_plan(namespace="prod", workload="payment-gateway"), actor="tracer"
    )
    # a frozen clock: this test is about the plan, not the challenge's 30 s expiry (a loaded CI machine can take
    # that long between the challenge and its answer, and then the refusal is for the wrong reason)
    challenges = ChallengeManager(draw_digits=lambda lo, hi: "123456", clock=lambda: 1000.0)
    skills, ctx = _skills(cases, challenges), _ctx()

    said = await _say(skills, ctx, "确认回滚")
    # the robot reads the plan (its real target) and then the challenge
    assert said.index("prod命名空间的payment-gateway") < said.index("数字")

    # the probe: swap the plan over the API, as an authenticated admin (the API needs a token now)
    app = guarded_app()
    setup_case_routes(app, cases)
    async with serve(app) as url, aiohttp.ClientSession(headers=ADMIN) as http:
        tr = f"{url}/api/cases/{case.id}/transitions"
        for body in ({"event": "replan"}, {"event": "plan_proposed", "payload": {"plan": SWAPPED}}):
            current = cases.get_case(case.id)
            body = {
                **body,
                "actor": "owner:alice",
                "payload": {**body.get("payload", {}), "proposed_by": "deterministic"},
            }
            async with http.post(tr, json=body, headers={"If-Match": str(current.version)}) as r:
                assert r.status == 200, await r.text()
    swapped = cases.get_case(case.id)
    assert swapped.status is State.WAIT_GATE and swapped.plan.actions[0].deployment == "coredns"
    assert swapped.plan.proposed_by == "human"  # labelled by who sent it, not by the body
    assert cases.timeline(case.id)[-1].actor == "admin:token"

    answer = await _say(skills, ctx, "123456")  # right voice, right digits
    assert "修改" in answer and "没有执行" in answer
    after = cases.get_case(case.id)
    assert after.status is State.WAIT_GATE and after.version == swapped.version
    assert "approve" not in [t.event for t in cases.timeline(case.id)]

    # the new plan is read aloud (its real target, not the kept summary) and only then can be approved
    said = await _say(skills, ctx, "确认回滚")
    assert "coredns" in said and "kube-system" in said
    answer = await _say(skills, ctx, "123456")
    assert "验证通过" in answer
    assert cases.get_case(case.id).status is State.EXECUTING
    db.dispose()


def test_spoken_plan_check_refuses_any_change(tmp_path) -> None:
    db = Database.sqlite(tmp_path / "pin2.sqlite3")
    db.create_all()
    cases = CaseService(db, approvers=StaticApprovers({"owner:alice": Risk.HIGH}))
    case = cases.create_case(owner="alice", title="t", resource="prod/deployment/api")
    cases.propose_plan(case.id, deterministic_plan(namespace="prod", workload="api"), actor="tracer")
    gate = cases.get_case(case.id)
    spoken = SpokenPlan.of(gate)
    assert spoken.digest == plan_digest(gate.plan) and len(spoken.digest) == 64
    stale = SpokenPlan(case.id, gate.version - 1, spoken.digest)
    with pytest.raises(PlanChanged):
        cases.approve_spoken(stale, approver="owner:alice", challenge_passed=True)
    forged = SpokenPlan(case.id, gate.version, "0" * 64)
    with pytest.raises(PlanChanged):
        cases.approve_spoken(forged, approver="owner:alice", challenge_passed=True)
    assert cases.get_case(case.id).status is State.WAIT_GATE
    cases.approve_spoken(spoken, approver="owner:alice", challenge_passed=True)
    assert cases.get_case(case.id).status is State.EXECUTING
    assert "回滚" in spoken_plan(gate.plan) and "api" in spoken_plan(gate.plan)
    db.dispose()
