"""Approval pinned to the plan that was read aloud.

When the robot reads a plan to its owner it records a ``SpokenPlan`` (case version + digest of the exact plan).
The spoken approval carries it; ``CaseService.approve_spoken`` refuses with ``PlanChanged`` when the case or its
plan changed after it was spoken (a replan, another plan, a lowered risk), so the new plan must be spoken again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from server.cases.store import ConflictError


class PlanChanged(ConflictError):
    """The plan (or the case) changed after it was read aloud: the approval is void."""


class _CaseLike(Protocol):  # read-only members: a frozen Case satisfies it
    @property
    def id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def plan(self) -> dict[str, Any] | None: ...


def plan_digest(plan: dict[str, Any] | None) -> str:
    """SHA-256 of the plan's canonical JSON ("" when there is none)."""
    if plan is None:
        return ""
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
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


def spoken_plan(plan: dict[str, Any] | None) -> str:
    """What the robot reads before the challenge: rendered from the plan's actions (not only its free-text
    summary, which whoever proposed the plan chose), plus its risk."""
    if not plan:
        return "这个告警没有可执行的方案。"
    parts = []
    for action in plan.get("actions") or []:
        kind = action.get("type")
        if kind == "k8s_rollout_undo":
            target = f"第{action['to_revision']}个版本" if action.get("to_revision") else "上一个版本"
            image = f"（镜像{action['image']}）" if action.get("image") else ""
            parts.append(
                f"把{action.get('namespace')}命名空间的{action.get('deployment')}回滚到{target}{image}"
            )
        elif kind == "http_call":
            parts.append(f"调用接口{action.get('endpoint_id')}（{action.get('method')}）")
        elif kind == "script":
            parts.append(f"运行脚本{action.get('script_id')}")
        elif kind == "noop":
            parts.append("不做任何操作")
    risk = _RISK_CN.get(str(plan.get("risk")), str(plan.get("risk")))
    return f"将要执行的方案是：{'，然后'.join(parts) or plan.get('summary', '')}。风险等级：{risk}。"
