"""Executor adapter: sends an approved plan to the executor HTTP endpoint, or records it in dry-run.

The endpoint (e.g. a small runner inside the cluster) does the actual ``kubectl rollout undo`` / whitelisted call;
this side only ever POSTs, with a bearer token and one ``Idempotency-Key`` per execution so retries are deduped there.

A retry after a timeout may reach an executor that already ran the action: its "already done" answer — HTTP 208, or
409 naming the same key/"already", or a body ``{"status": "already_done"}`` — is success, never a failure that parks
the case. The timeout is configurable (``XOPS_EXECUTOR_TIMEOUT_S``) and generous by default.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from pydantic import JsonValue, SecretStr

from server.cases.plans import Plan, PlanError, PlanPolicy, validate_plan

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

ALLOWED_METHODS = frozenset({"POST"})  # the only verbs this adapter will send to the executor endpoint
DEFAULT_TIMEOUT_S = 120.0
ALREADY_DONE = frozenset({"already_done", "already_executed", "duplicate"})


def already_done(status: int, body: dict[str, JsonValue]) -> bool:
    """The executor says this Idempotency-Key was executed before (our earlier attempt ran)."""
    marker = str(body.get("status") or body.get("result") or body.get("code") or "").strip().lower()
    if status == 208 or marker in ALREADY_DONE:
        return True
    if status == 409:
        text = " ".join(str(v) for v in body.values()).lower()
        return "already" in text or marker in ALREADY_DONE
    return False


class ExecutorUnavailable(Exception):
    """Transient failure (network, timeout, 5xx): the outbox retries the message later."""


@dataclass(frozen=True)
class ExecutionResult:
    ok: bool
    dry_run: bool
    execution_key: str
    status: int | None = None
    error: str = ""
    would_do: list[dict[str, JsonValue]] = field(default_factory=list)
    response: dict[str, JsonValue] = field(default_factory=dict)

    def to_payload(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "execution_key": self.execution_key,
            "status": self.status,
            "error": self.error,
            "would_do": self.would_do,
            "response": self.response,
        }


class ExecutorAdapter:
    def __init__(
        self,
        url: str = "",
        token: SecretStr | str = "",
        *,
        dry_run: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        method: str = "POST",
        plan_policy: PlanPolicy | None = None,
    ) -> None:
        if method.upper() not in ALLOWED_METHODS:
            raise ValueError(f"executor method {method!r} not allowed (allowed: {sorted(ALLOWED_METHODS)})")
        self.url = url
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.dry_run = dry_run
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.method = method.upper()
        self.plan_policy = plan_policy or PlanPolicy()

    @classmethod
    def from_settings(cls, settings: Settings, plan_policy: PlanPolicy | None = None) -> ExecutorAdapter:
        return cls(
            settings.executor_url,
            settings.executor_token,
            dry_run=settings.executor_dry_run,
            timeout_s=settings.executor_timeout_s,
            plan_policy=plan_policy,
        )

    async def execute(
        self, *, case_id: int, plan: Plan | None, execution_key: str, plan_error: str = ""
    ) -> ExecutionResult:
        """``plan_error``: why the case's stored plan could not be read, when ``plan`` is None for that reason."""
        if plan is None:
            error = plan_error or "case has no plan to execute"
            return ExecutionResult(False, self.dry_run, execution_key, error=error)
        try:  # re-validate at the edge: the whitelist may have changed since the plan was approved
            checked = validate_plan(plan, self.plan_policy)
        except PlanError as exc:
            return ExecutionResult(False, self.dry_run, execution_key, error=str(exc))
        actions: list[dict[str, JsonValue]] = [a.model_dump(mode="json") for a in checked.actions]
        request = {
            "execution_key": execution_key,
            "case_id": case_id,
            "summary": checked.summary,
            "actions": actions,
            "rollback": checked.rollback.model_dump(mode="json") if checked.rollback else None,
        }
        if self.dry_run:
            log.info("dry-run: case %s would execute %d action(s)", case_id, len(actions))
            return ExecutionResult(True, True, execution_key, would_do=actions)
        if not checked.mutating:
            return ExecutionResult(
                True, False, execution_key, response={"skipped": "plan has no state-changing action"}
            )
        if not self.url:
            return ExecutionResult(False, False, execution_key, error="executor_url is not configured")

        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Idempotency-Key": execution_key,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.request(self.method, self.url, json=request, headers=headers) as resp,
            ):
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ExecutorUnavailable(f"executor endpoint unreachable: {type(exc).__name__}: {exc}") from exc
        if status >= 500 or status == 429:
            raise ExecutorUnavailable(f"executor endpoint answered {status}")
        body: dict[str, JsonValue] = {}
        try:
            parsed = json.loads(text) if text else {}
            body = parsed if isinstance(parsed, dict) else {"result": parsed}
        except ValueError:
            body = {"text": text[:500]}
        if already_done(status, body):
            log.info("executor: %s was already executed; counted as done", execution_key)
            return ExecutionResult(
                True, False, execution_key, status=status, response={**body, "already_done": True}
            )
        ok = 200 <= status < 300 and body.get("ok", True) is not False
        error = "" if ok else str(body.get("error") or f"executor endpoint answered {status}")
        return ExecutionResult(ok, False, execution_key, status=status, error=error, response=body)
