"""CaseService: the operations the rest of the product calls (alerts, dialogue, MCP tools, REST, CLI).

State changes always go through ``CaseStore.transition``; execution happens only when the outbox delivers the
``case.execute`` message written by the approval transition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from server.cases.executor import ExecutionResult, ExecutorAdapter, ExecutorUnavailable
from server.cases.fsm import MSG_EXECUTE, Event, State
from server.cases.outbox import IdempotentConsumer, OutboxDispatcher
from server.cases.pinning import SpokenPlan
from server.cases.plans import Plan, PlanPolicy, validate_plan
from server.cases.store import (
    ApproverDirectory,
    Case,
    CaseNotFound,
    CaseStore,
    OutboxMessage,
    TimelineEntry,
    TransitionResult,
)
from server.storage.db import Database

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

EXECUTOR_CONSUMER = "executor"


class CaseService:
    def __init__(
        self,
        db: Database,
        *,
        approvers: ApproverDirectory | None = None,
        plan_policy: PlanPolicy | None = None,
        executor: ExecutorAdapter | None = None,
        dispatcher: OutboxDispatcher | None = None,
        min_error_rate_drop: float = 0.5,
        max_execution_attempts: int = 5,
    ) -> None:
        self.plan_policy = plan_policy or PlanPolicy()
        self.store = CaseStore(db, approvers=approvers, plan_policy=self.plan_policy)
        self.executor = executor or ExecutorAdapter(plan_policy=self.plan_policy)
        self.dispatcher = dispatcher or OutboxDispatcher(self.store)
        self.min_error_rate_drop = min_error_rate_drop
        self.max_execution_attempts = max_execution_attempts
        self.dispatcher.register(
            MSG_EXECUTE, IdempotentConsumer(self.store, EXECUTOR_CONSUMER, self._on_execute)
        )

    @classmethod
    def from_settings(
        cls,
        db: Database,
        settings: Settings,
        *,
        approvers: ApproverDirectory | None = None,
        plan_policy: PlanPolicy | None = None,
    ) -> CaseService:
        policy = plan_policy or PlanPolicy()
        return cls(
            db,
            approvers=approvers,
            plan_policy=policy,
            executor=ExecutorAdapter.from_settings(settings, policy),
        )

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the outbox dispatcher on the running loop."""
        self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()

    # -- reads --------------------------------------------------------------------------------------

    def get_case(self, case_id: int) -> Case | None:
        return self.store.get_case(case_id)

    def list_cases(
        self, *, owner: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[Case]:
        return self.store.list_cases(owner=owner, status=status, limit=limit)

    def timeline(self, case_id: int) -> list[TimelineEntry]:
        return self.store.timeline(case_id)

    # -- writes -------------------------------------------------------------------------------------

    def create_case(
        self,
        *,
        owner: str,
        title: str,
        account: str | None = None,
        severity: str = "warning",
        resource: str = "",
        alert_id: str | None = None,
        alert_group_id: str | None = None,
        actor: str = "system",
        conn: Connection | None = None,
    ) -> Case:
        """A new case in state NEW. Pass ``conn`` to create it inside the caller's transaction."""
        return self.store.create_case(
            owner=owner,
            title=title,
            account=account,
            severity=severity,
            resource=resource,
            alert_id=alert_id,
            alert_group_id=alert_group_id,
            actor=actor,
            conn=conn,
        )

    def add_note(
        self, case_id: int, *, actor: str, text: str, detail: Mapping[str, object] | None = None
    ) -> int:
        return self.store.add_note(case_id, actor=actor, text=text, detail=detail)

    def transition(
        self,
        case_id: int,
        event: Event | str,
        expected_version: int | None,
        actor: str,
        idempotency_key: str | None = None,
        payload: Mapping[str, object] | None = None,
    ) -> TransitionResult:
        result = self.store.transition(case_id, event, expected_version, actor, idempotency_key, payload)
        if result.outbox_ids and not result.replayed:
            self.dispatcher.wake()
        return result

    def propose_plan(
        self,
        case_id: int,
        plan: Plan | Mapping[str, object] | str,
        *,
        actor: str,
        proposed_by: str = "deterministic",
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> TransitionResult:
        """Validate and attach a plan (→ WAIT_GATE). A NEW/ANALYZING case is first walked to PLANNING.

        An LLM plan (``proposed_by='llm'``) is validated exactly like any other and can only be proposed.
        Raises PlanError (clear field-by-field message) before touching the case if the plan is invalid.
        """
        checked = validate_plan(plan, self.plan_policy, proposed_by=proposed_by)
        case = self._require(case_id)
        if expected_version is not None and case.version != expected_version:
            # let transition() raise the ConflictError with its usual message
            return self.transition(case_id, Event.PLAN_PROPOSED, expected_version, actor, idempotency_key)
        if case.status is State.NEW:
            self.transition(case_id, Event.START_ANALYSIS, case.version, actor)
            case = self._require(case_id)
        if case.status is State.ANALYZING:
            self.transition(case_id, Event.ANALYSIS_DONE, case.version, actor)
            case = self._require(case_id)
        return self.transition(
            case_id,
            Event.PLAN_PROPOSED,
            case.version,
            actor,
            idempotency_key,
            {"plan": checked, "proposed_by": proposed_by},
        )

    def approve(
        self,
        case_id: int,
        *,
        approver: str,
        challenge_passed: bool,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> TransitionResult:
        """WAIT_GATE → EXECUTING. ``approver`` is the identified person (voiceprint owner id), never an AI actor;
        ``challenge_passed`` is True only when the spoken random challenge was answered correctly.

        The idempotency key is scoped to the case's reopen round: after a reopen, the same caller key is a new
        approval (it would otherwise replay the old one: nothing runs, yet the caller is told it is executing)."""
        return self.transition(
            case_id,
            Event.APPROVE,
            expected_version,
            approver,
            self.round_key(case_id, idempotency_key),
            {"challenge_passed": challenge_passed},
        )

    def round_key(self, case_id: int, idempotency_key: str | None) -> str | None:
        """``key`` → ``key#r<n>`` where n counts the case's reopens (n = 0: the key unchanged)."""
        if not idempotency_key:
            return None
        rounds = self.store.reopen_count(case_id)
        return idempotency_key if rounds == 0 else f"{idempotency_key}#r{rounds}"

    def deny(
        self,
        case_id: int,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> TransitionResult:
        """WAIT_GATE → PARKED with the reason (e.g. the spoken "不用回滚")."""
        return self.transition(
            case_id, Event.DENY, expected_version, actor, idempotency_key, {"reason": reason}
        )

    def park(
        self, case_id: int, *, actor: str, reason: str, expected_version: int | None = None
    ) -> TransitionResult:
        return self.transition(case_id, Event.PARK, expected_version, actor, payload={"reason": reason})

    async def execute(
        self, case_id: int, *, execution_key: str, give_up_if_unavailable: bool = False
    ) -> TransitionResult | None:
        """Run the approved plan through the executor and record execution_succeeded/failed.

        Called by the outbox consumer for ``case.execute``; safe to call twice with the same key (the result
        transition is keyed on it, and the endpoint receives the same Idempotency-Key). Returns None when the
        case is no longer EXECUTING and this key recorded nothing (e.g. parked meanwhile). An unreachable endpoint
        raises ExecutorUnavailable (the outbox retries) unless ``give_up_if_unavailable``: then the case is parked.
        """
        case = await asyncio.to_thread(self._require, case_id)
        result_key = f"{execution_key}:result"
        if case.status is not State.EXECUTING:
            prior = await asyncio.to_thread(self.store.stored_result, result_key)
            if prior is None:
                log.warning(
                    "case %s is %s, not EXECUTING; execution %s skipped", case_id, case.status, execution_key
                )
            return prior
        try:
            outcome = await self.executor.execute(
                case_id=case_id, plan=case.plan, execution_key=execution_key, plan_error=case.plan_error
            )
        except ExecutorUnavailable as exc:
            if not give_up_if_unavailable:
                raise
            outcome = ExecutionResult(False, False, execution_key, error=f"gave up: {exc}")
        event = Event.EXECUTION_SUCCEEDED if outcome.ok else Event.EXECUTION_FAILED
        payload = outcome.to_payload()
        if not outcome.ok:
            payload["reason"] = outcome.error
        return await asyncio.to_thread(self.transition, case_id, event, None, "executor", result_key, payload)

    def verify(
        self,
        case_id: int,
        *,
        actor: str = "system",
        recovered: bool | None = None,
        error_rate_before: float | None = None,
        error_rate_after: float | None = None,
        expected_version: int | None = None,
    ) -> TransitionResult:
        """VERIFYING → CLOSED if the alert recovered or the error rate fell enough, else → PARKED."""
        fell = (
            error_rate_before is not None
            and error_rate_after is not None
            and error_rate_before > 0
            and error_rate_after <= error_rate_before * (1 - self.min_error_rate_drop)
        )
        evidence = {
            "recovered": recovered,
            "error_rate_before": error_rate_before,
            "error_rate_after": error_rate_after,
        }
        if recovered or fell:
            return self.transition(case_id, Event.VERIFIED, expected_version, actor, payload=evidence)
        reason = "alert not recovered and error rate did not fall"
        return self.transition(
            case_id,
            Event.VERIFICATION_FAILED,
            expected_version,
            actor,
            payload={**evidence, "reason": reason},
        )

    def approve_spoken(
        self,
        spoken: SpokenPlan,
        *,
        approver: str,
        challenge_passed: bool,
        idempotency_key: str | None = None,
    ) -> TransitionResult:
        """The voice approval of exactly the plan that was read aloud: refused (PlanChanged) if the case or its
        plan changed since; the transition itself is pinned to the spoken version, so a change racing this call
        is refused too (ConflictError)."""
        spoken.check(self._require(spoken.case_id))
        return self.approve(
            spoken.case_id,
            approver=approver,
            challenge_passed=challenge_passed,
            expected_version=spoken.version,
            idempotency_key=idempotency_key,
        )

    # -- internals ----------------------------------------------------------------------------------

    def _require(self, case_id: int) -> Case:
        case = self.store.get_case(case_id)
        if case is None:
            raise CaseNotFound(f"case {case_id} not found")
        return case

    async def _on_execute(self, msg: OutboxMessage) -> None:
        key = str(msg.payload.get("execution_key") or f"case-{msg.case_id}-msg{msg.id}")
        give_up = msg.attempts + 1 >= self.max_execution_attempts
        await self.execute(msg.case_id, execution_key=key, give_up_if_unavailable=give_up)
