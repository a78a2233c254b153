"""The one intent → skill table, and who may run what (the guest policy), as data.

Built once, here, from the three skill providers: the basic skills (server.dialogue.skills), the agent
(drill-down from findings + index, LLM chat when one is configured) and the owner skills (voiceprint-aware:
alerts, approvals, enrolment, on-demand analysis). A guest (a voice no owner enrolled) gets GUEST_REPLY
for every intent that reads an owner's data or acts on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from server.dialogue.context import TurnContext
from server.dialogue.replies import Reply
from server.dialogue.skills import NOT_YET_AVAILABLE, Skill, Skills
from server.intent.models import INTENT_NAMES, Intent

if TYPE_CHECKING:
    from server.dialogue.agent import DialogueAgent
    from server.dialogue.owner_skills import OwnerSkills


class Access(StrEnum):
    ANYONE = "anyone"
    OWNER = "owner"  # needs an identified owner (reads their reports/alerts or acts on their cases)


GUEST_POLICY: dict[str, Access] = {
    "greeting": Access.ANYONE,
    "help": Access.ANYONE,
    "chat": Access.ANYONE,
    "stop": Access.ANYONE,
    "volume": Access.ANYONE,
    "enroll_voiceprint": Access.ANYONE,  # how a guest becomes an owner
    "rollback_deny": Access.ANYONE,  # saying no never changes anything but the case's parking
    "broadcast": Access.OWNER,
    "drill_down": Access.OWNER,
    "alerts": Access.OWNER,
    "rollback_confirm": Access.OWNER,
    **{name: Access.OWNER for name in NOT_YET_AVAILABLE},  # alert handling and schedules are per owner
}
GUEST_REPLY = (
    "我还不认识你的声音，不能读取主人的日志和告警。",
    "说“注册声纹”，我就能记住你。",
)
assert set(GUEST_POLICY) == INTENT_NAMES, "every intent needs a guest policy"


def guarded(name: str, skill: Skill) -> Skill:
    if GUEST_POLICY[name] is Access.ANYONE:
        return skill

    async def owner_only(intent: Intent, ctx: TurnContext) -> Reply:
        if ctx.guest:
            return Reply.say(*GUEST_REPLY)
        return await skill(intent, ctx)

    return owner_only


def build_skill_table(
    base: Skills,
    agent: DialogueAgent | None = None,
    owner: OwnerSkills | None = None,
    extra: Mapping[str, Skill] | None = None,
) -> dict[str, Skill]:
    """The table, installed on ``base`` (``Skills.handle`` dispatches through it) and returned.
    ``extra``: skills of further providers (e.g. alert acknowledgement), replacing the placeholders."""
    table: dict[str, Skill] = dict(base.table)  # greeting, help, stop, volume, chat, broadcast, drill_down, …
    if agent is not None:
        agent.base_chat = base.chat  # the agent falls back to it when the LLM fails
        table["drill_down"] = agent.drill_down
        if agent.llm is not None:
            table["chat"] = agent.chat
    if owner is not None:
        table["broadcast"] = owner.with_on_demand(base.broadcast)
        table["alerts"] = owner.alerts
        table["rollback_confirm"] = owner.rollback_confirm
        table["rollback_deny"] = owner.rollback_deny
        table["enroll_voiceprint"] = owner.enroll
    for name in INTENT_NAMES - table.keys():  # no provider for it in this build: say so, never guess
        table[name] = base.not_available
    for name, skill in (extra or {}).items():
        if name not in INTENT_NAMES:
            raise ValueError(f"no intent {name!r} for an extra skill")
        table[name] = skill
    table = {name: guarded(name, skill) for name, skill in table.items()}
    base.table = table
    return table
