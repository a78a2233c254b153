"""Approval pinned to the plan that was read aloud.

When the robot reads a plan to its owner it records a ``SpokenPlan`` (case version + digest of the exact plan).
The spoken approval carries it; ``CaseService.approve_spoken`` refuses with ``PlanChanged`` when the case or its
plan changed after it was spoken (a replan, another plan, a lowered risk), so the new plan must be spoken again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Protocol, assert_never

from server.cases.plans import Action, HttpCall, K8sRestoreConfig, K8sRolloutUndo, Noop, Plan, ScriptAction
from server.cases.store import ConflictError


class PlanChanged(ConflictError):
    """The plan (or the case) changed after it was read aloud: the approval is void."""


class _CaseLike(Protocol):  # read-only members: a frozen Case satisfies it
    @property
    def id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def plan(self) -> Plan | None: ...


def plan_digest(plan: Plan | None) -> str:
    """SHA-256 of the plan's canonical JSON ("" when there is none): keys sorted, its stored JSON object form, so
    a stored plan keeps the digest it had when it was a plain dict."""
    if plan is None:
        return ""
    canonical = json.dumps(plan.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SpokenPlan:
    case_id: int
    version: int
    digest: str

    @classmethod
    def of(cls, case: _CaseLike) -> SpokenPlan:
        return cls(case.id, case.version, plan_digest(case.plan))

    def check(self, case: _CaseLike) -> None:
        """Raise PlanChanged unless ``case`` is exactly what was spoken."""
        if case.id != self.case_id:
            raise PlanChanged(f"the plan read aloud was for case {self.case_id}, not case {case.id}")
        if case.version != self.version or plan_digest(case.plan) != self.digest:
            raise PlanChanged(
                f"case {case.id}'s plan changed after it was read aloud (version {self.version} → {case.version}); "
                "the new plan must be read aloud and approved again"
            )


_RISK_CN = {"low": "低", "medium": "中", "high": "高"}


def spoken_plan(plan: Plan | None) -> str:
    """What the robot reads before the challenge: rendered from the plan's actions (not from its free-text
    summary, which whoever proposed the plan chose), plus its risk."""
    if not plan:
        return "这个告警没有可执行的方案。"
    parts = [_spoken_action(action) for action in plan.actions]
    risk = _RISK_CN.get(plan.risk.value, plan.risk.value)
    return f"将要执行的方案是：{'，然后'.join(parts)}。风险等级：{risk}。"


def _spoken_action(action: Action) -> str:
    if isinstance(action, K8sRolloutUndo):
        target = f"第{action.to_revision}个版本" if action.to_revision else "上一个版本"
        image = f"（镜像{action.image}）" if action.image else ""
        return f"把{action.namespace}命名空间的{action.deployment}回滚到{target}{image}"
    if isinstance(action, K8sRestoreConfig):
        restart = f"，并重启{action.restart}" if action.restart else ""
        return f"把{action.namespace}命名空间的配置{action.name}恢复成之前的内容{restart}"
    if isinstance(action, HttpCall):
        return f"调用接口{action.endpoint_id}（{action.method}）"
    if isinstance(action, ScriptAction):
        return f"运行脚本{action.script_id}"
    if isinstance(action, Noop):
        return "不做任何操作"
    assert_never(action)
