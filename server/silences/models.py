"""Silence matchers as Alertmanager has them (``=``, ``!=``, ``=~``, ``!~`` over alert labels) and the silence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

# What a matcher may name: the normalised alert fields plus any label an Alertmanager alert carries.
KNOWN_FIELDS = ("alertname", "severity", "namespace", "workload", "pod", "resource", "account", "title")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$")
MAX_SILENCE_HOURS = 7 * 24


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class Matcher(BaseModel):
    name: str
    op: MatchOp = MatchOp.EQ
    value: str = Field(max_length=256)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _LABEL_NAME.match(v):
            raise ValueError(f"matcher name {v[:40]!r} is not a label name (letters, digits, _)")
        return v

    @model_validator(mode="after")
    def _regex(self) -> Matcher:
        if self.op in (MatchOp.RE, MatchOp.NRE):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(
                    f"matcher {self.name}{self.op.value}{self.value!r}: bad regex ({exc})"
                ) from None
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return got == self.value
        if self.op is MatchOp.NE:
            return got != self.value
        hit = re.fullmatch(self.value, got) is not None  # anchored, as Alertmanager does
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{self.value}"


_MATCHER_TEXT = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"?(.*?)\"?\s*$")


def parse_matcher(text: str) -> Matcher:
    """``workload=order-api``, ``namespace=~"prod-.*"``, ``severity!=info`` → Matcher (ValueError otherwise)."""
    m = _MATCHER_TEXT.match(text)
    if not m:
        raise ValueError(
            f"not a matcher: {text[:60]!r} (expected name=value, name!=value, name=~regex or name!~regex)"
        )
    return Matcher(name=m.group(1), op=MatchOp(m.group(2)), value=m.group(3))


class SilenceIn(BaseModel):
    """A silence as asked for (API, CLI, or a confirmed spoken request)."""

    owner: str = Field(min_length=1, max_length=128)
    matchers: list[Matcher] = Field(default_factory=list, max_length=16)
    starts_at: datetime
    ends_at: datetime
    comment: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _window(self) -> SilenceIn:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a timezone")
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence must end after it starts")
        if (self.ends_at - self.starts_at).total_seconds() > MAX_SILENCE_HOURS * 3600:
            raise ValueError(f"a silence may last at most {MAX_SILENCE_HOURS} hours")
        return self


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    owner: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    expired: bool = False  # ended early by someone

    def active(self, now: datetime) -> bool:
        return not self.expired and self.starts_at <= now < self.ends_at

    def matches(self, owner: str, labels: dict[str, str]) -> bool:
        """Everything of the owner when there are no matchers; else every matcher must hold."""
        return owner == self.owner and all(m.matches(labels) for m in self.matchers)

    def describe_zh(self, tz: tzinfo | None = None) -> str:
        """For people: the window in their timezone (``tz``, default UTC) and what it covers."""
        scope = "、".join(str(m) for m in self.matchers) or "全部告警"
        start, end = self.starts_at.astimezone(tz or UTC), self.ends_at.astimezone(tz or UTC)
        return f"{start:%m月%d日%H:%M}到{end:%m月%d日%H:%M}，{scope}"
