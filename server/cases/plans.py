"""Remediation plan schema and validation.

A plan is data, validated the same way whoever proposed it (deterministic rules, an LLM, a human). Endpoints and
scripts are referred to by id from a whitelist (``PlanPolicy``); free-form URLs or shell never appear in a plan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.cases.fsm import Risk

if TYPE_CHECKING:
    from agents.tracer import Trace

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_IMAGE = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"


class PlanError(ValueError):
    """A plan that does not validate; ``problems`` lists each field and why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid plan: " + "; ".join(problems))


@dataclass(frozen=True)
class PlanPolicy:
    """What a plan may refer to. ``endpoints`` maps endpoint id -> allowed HTTP methods."""

    endpoints: dict[str, frozenset[str]] = field(default_factory=dict)
    scripts: frozenset[str] = frozenset()
    max_actions: int = 10

    @classmethod
    def from_mapping(
        cls, endpoints: dict[str, list[str]] | None = None, scripts: list[str] | None = None
    ) -> PlanPolicy:
        return cls(
            endpoints={k: frozenset(m.upper() for m in v) for k, v in (endpoints or {}).items()},
            scripts=frozenset(scripts or ()),
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class K8sRolloutUndo(_Strict):
    type: Literal["k8s_rollout_undo"]
    namespace: str = Field(pattern=_DNS_LABEL)
    deployment: str = Field(pattern=_DNS_SUBDOMAIN)
    to_revision: int | None = Field(default=None, ge=1)
    image: str | None = Field(default=None, pattern=_IMAGE)

    @property
    def mutating(self) -> bool:
        return True


class K8sRestoreConfig(_Strict):
    """Put a ConfigMap's previous data back (the content an earlier audit record holds)."""

    type: Literal["k8s_restore_config"]
    namespace: str = Field(pattern=_DNS_LABEL)
    resource: Literal["configmaps"] = "configmaps"
    name: str = Field(pattern=_DNS_SUBDOMAIN)
    data: dict[Annotated[str, Field(max_length=253)], Annotated[str, Field(max_length=65536)]] = Field(
        max_length=200
    )
    restart: str | None = Field(default=None, pattern=_DNS_SUBDOMAIN)  # the Deployment to restart afterwards

    @property
    def mutating(self) -> bool:
        return True


class HttpCall(_Strict):
    type: Literal["http_call"]
    endpoint_id: str = Field(pattern=_ID)
    method: str
    body: dict[str, JsonValue] | None = None

    @field_validator("method")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    @model_validator(mode="after")
    def _whitelisted(self, info: ValidationInfo) -> HttpCall:
        policy = _policy(info)
        if policy is None:
            return self
        allowed = policy.endpoints.get(self.endpoint_id)
        if allowed is None:
            raise ValueError(f"endpoint_id '{self.endpoint_id}' is not in the endpoint whitelist")
        if self.method not in allowed:
            raise ValueError(
                f"method '{self.method}' is not allowed for endpoint '{self.endpoint_id}' (allowed: {sorted(allowed)})"
            )
        return self

    @property
    def mutating(self) -> bool:
        return self.method not in ("GET", "HEAD")


class ScriptAction(_Strict):
    type: Literal["script"]
    script_id: str = Field(pattern=_ID)
    args: list[Annotated[str, Field(max_length=256)]] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _whitelisted(self, info: ValidationInfo) -> ScriptAction:
        policy = _policy(info)
        if policy is not None and self.script_id not in policy.scripts:
            raise ValueError(f"script_id '{self.script_id}' is not in the script whitelist")
        return self

    @property
    def mutating(self) -> bool:
        return True


class Noop(_Strict):
    type: Literal["noop"]
    reason: str = Field(min_length=1, max_length=500)

    @property
    def mutating(self) -> bool:
        return False


Action = Annotated[
    K8sRolloutUndo | K8sRestoreConfig | HttpCall | ScriptAction | Noop, Field(discriminator="type")
]


class RollbackTarget(_Strict):
    """Where to go back to if the action itself makes things worse."""

    kind: Literal["k8s_revision", "config_data", "none"]
    namespace: str | None = Field(default=None, pattern=_DNS_LABEL)
    deployment: str | None = Field(default=None, pattern=_DNS_SUBDOMAIN)
    revision: int | None = Field(default=None, ge=1)  # None = the revision current when execution starts
    reason: str = ""

    @model_validator(mode="after")
    def _complete(self) -> RollbackTarget:
        if self.kind == "k8s_revision" and not (self.namespace and self.deployment):
            raise ValueError("rollback kind 'k8s_revision' needs namespace and deployment")
        if self.kind == "none" and not self.reason.strip():
            raise ValueError("rollback kind 'none' needs a reason")
        return self


class Plan(_Strict):
    summary: str = Field(min_length=1, max_length=500)
    risk: Risk
    actions: list[Action] = Field(min_length=1)
    rollback: RollbackTarget | None = None
    proposed_by: Literal["deterministic", "llm", "human"] = "deterministic"
    rationale: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> Plan:
        policy = _policy(info)
        if policy is not None and len(self.actions) > policy.max_actions:
            raise ValueError(f"a plan may have at most {policy.max_actions} actions, got {len(self.actions)}")
        if any(a.mutating for a in self.actions) and self.rollback is None:
            raise ValueError(
                "a plan with state-changing actions needs a rollback target (or kind 'none' + reason)"
            )
        return self

    @property
    def mutating(self) -> bool:
        return any(a.mutating for a in self.actions)

    def to_json(self) -> str:
        """The storage/wire form (what ``cases.plan`` holds)."""
        return self.model_dump_json()

    def to_dict(self) -> dict[str, JsonValue]:
        """The JSON object form (an API answer, the plan digest); equal to ``json.loads(self.to_json())``."""
        dumped: dict[str, JsonValue] = self.model_dump(mode="json")
        return dumped

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """A plan read back from storage: the schema is checked, the whitelist is not (it may have changed since;
        propose, approve and execute check it against the current policy). Raises PlanError."""
        return _validated(text, _STORED, None)


_STORED = object()  # validation context marker: a stored plan, whitelist not checked


def _policy(info: ValidationInfo) -> PlanPolicy | None:
    """The whitelist to check against; None when reading a stored plan back."""
    ctx = info.context or {}
    policy = ctx.get("policy")
    if policy is _STORED:
        return None
    return policy if isinstance(policy, PlanPolicy) else PlanPolicy()


def validate_plan(data: object, policy: PlanPolicy | None = None, *, proposed_by: str | None = None) -> Plan:
    """Validate a plan from any proposer: a Plan, a JSON object or JSON text (anything else is refused).
    Raises PlanError listing every problem (field path + reason)."""
    return _validated(data, policy or PlanPolicy(), proposed_by)


def _validated(data: object, policy: PlanPolicy | object, proposed_by: str | None) -> Plan:
    if isinstance(data, Plan):
        data = data.to_dict()
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PlanError([f"plan is not valid JSON: {exc.msg} at position {exc.pos}"]) from None
    if not isinstance(data, Mapping):
        raise PlanError(["plan must be a JSON object"])
    if proposed_by is not None:
        data = {**data, "proposed_by": proposed_by}
    try:
        return Plan.model_validate(data, context={"policy": policy})
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "plan"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}")
        raise PlanError(problems) from None


def deterministic_plan(
    *,
    namespace: str | None,
    workload: str | None,
    workload_kind: str | None = "deployment",
    to_revision: int | None = None,
    image: str | None = None,
    evidence: str = "",
) -> Plan:
    """The rule-based proposal: roll a Deployment back one revision (or to the given one); otherwise investigate."""
    if namespace and workload and (workload_kind or "deployment").lower() == "deployment":
        action: dict[str, str | int] = {
            "type": "k8s_rollout_undo",
            "namespace": namespace,
            "deployment": workload,
        }
        if to_revision:
            action["to_revision"] = to_revision
        if image:
            action["image"] = image
        target = f"版本 {to_revision}" if to_revision else "上一个版本"
        data = {
            "summary": f"将 {namespace}/{workload} 回滚到{target}",
            "risk": "medium",
            "actions": [action],
            "rollback": {"kind": "k8s_revision", "namespace": namespace, "deployment": workload},
            "rationale": evidence,
        }
    else:
        data = {
            "summary": "暂无可自动执行的修复，建议人工排查",
            "risk": "low",
            "actions": [{"type": "noop", "reason": "no rollback target identified"}],
            "rationale": evidence,
        }
    return validate_plan(data, proposed_by="deterministic")


def plan_from_trace(trace: Trace) -> Plan:
    """The plan that undoes what the tracer named as the cause (``agents.tracer.Trace.undo``).

    An image change → roll that Deployment back (to the previous image when known); a ConfigMap change whose
    previous content the audit log holds → restore that content; anything else → no action, the manual fix in
    words naming the causal object. Never an action on an object that is not the cause.
    """
    undo = trace.undo
    evidence = trace.root_cause_zh[:2000]
    if undo is None:
        return deterministic_plan(**trace.plan_args())
    kind = str(undo.kind)
    ns, name = undo.namespace or trace.namespace, undo.target.rpartition("/")[2]
    if kind in ("rollback_image", "rollback_revision") and undo.target.startswith("deployments/") and ns:
        return deterministic_plan(namespace=ns, workload=name, image=undo.image or None, evidence=evidence)
    if kind == "restore_config" and undo.target.startswith("configmaps/") and ns and undo.data:
        data = {
            "summary": f"恢复配置 {ns}/{name} 的上一版本",
            "risk": "medium",
            "actions": [{"type": "k8s_restore_config", "namespace": ns, "name": name, "data": dict(undo.data),
                         "restart": trace.workload or None}],
            "rollback": {"kind": "config_data", "reason": f"re-apply the current content of configmap {name}"},
            "rationale": evidence,
        }  # fmt: skip
        return validate_plan(data, proposed_by="deterministic")
    manual = str(undo.manual_zh or "建议人工排查")[:400]
    return validate_plan(
        {
            "summary": manual[:500],
            "risk": "low",
            "actions": [
                {
                    "type": "noop",
                    "reason": (f"manual fix for {undo.target}: " if undo.target else "") + manual,
                }
            ],
            "rationale": evidence,
        },
        proposed_by="deterministic",
    )
