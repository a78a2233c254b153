"""Typed values shared by the channels, the notification log and the escalation ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


class ChannelKind(StrEnum):
    WECOM = "wecom"  # WeCom (企业微信) group robot webhook
    FEISHU = "feishu"  # Feishu (飞书) custom bot webhook, signed
    DINGTALK = "dingtalk"  # DingTalk (钉钉) custom robot, signed
    WEBHOOK = "webhook"  # generic JSON POST
    SMS = "sms"  # Tencent Cloud SMS (SendSms, TC3-signed through tencentcloud-sdk-python)


class SendStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class ChannelSpec(BaseModel):
    """One configured channel. ``secret`` holds what must stay secret (a webhook key is part of its URL, so the
    URL is secret too); both are encrypted at rest by the channel store and never shown back."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w.\-\u4e00-\u9fff]+$")
    kind: ChannelKind
    url: str = Field(
        default="", max_length=2048
    )  # webhook URL (wecom/feishu/dingtalk/webhook) or SMS endpoint
    secret: str = Field(default="", max_length=512)  # Feishu/DingTalk signing secret; SMS SecretKey
    # SMS only
    secret_id: str = Field(default="", max_length=128)
    region: str = Field(default="ap-guangzhou", max_length=32)
    sdk_app_id: str = Field(default="", max_length=32)
    sign_name: str = Field(default="", max_length=64)
    template_id: str = Field(default="", max_length=32)
    phone_numbers: list[str] = Field(default_factory=list, max_length=50)
    owner: str = Field(default="", max_length=128)  # empty: a channel for every owner

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("https://", "http://")):
            raise ValueError("url must start with https:// or http://")
        return v

    @field_validator("phone_numbers")
    @classmethod
    def _phones(cls, v: list[str]) -> list[str]:
        for p in v:
            if not p.startswith("+") or not p[1:].isdigit() or not 8 <= len(p) <= 16:
                raise ValueError(f"phone numbers are E.164, e.g. +8613800000000 (got {p[:20]!r})")
        return v

    def check_complete(self) -> None:
        """Raise ValueError naming what a channel of this kind still needs."""
        need: list[str] = []
        if self.kind is ChannelKind.SMS:
            need = [
                n
                for n in ("secret_id", "secret", "sdk_app_id", "sign_name", "template_id")
                if not getattr(self, n)
            ]
            if not self.phone_numbers:
                need.append("phone_numbers")
        else:
            if not self.url:
                need.append("url")
            if self.kind in (ChannelKind.FEISHU, ChannelKind.DINGTALK) and not self.secret:
                need.append("secret (the bot's signing secret)")
        if need:
            raise ValueError(f"{self.kind.value} channel {self.name!r} needs: {', '.join(need)}")

    def masked(self) -> dict[str, object]:
        """What may be shown: kind, name, and only the host of the URL; secrets as set/unset."""
        host = self.url.split("/")[2] if self.url.count("/") >= 2 else ""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "host": host,
            "secret_set": bool(self.secret),
            "owner": self.owner,
            "phone_numbers": [p[:4] + "****" + p[-2:] for p in self.phone_numbers],
        }


@dataclass(frozen=True, slots=True)
class Notification:
    """What a person must know to act: which case, what broke, why, the fix, and how to acknowledge."""

    case_id: int
    owner: str
    severity: str
    title: str
    cause: str = ""
    fix: str = ""
    rung: int = 0

    def text(self) -> str:
        lines = [f"[{self.severity}] 告警 #{self.case_id}：{self.title}"]
        lines.append(f"原因：{self.cause}" if self.cause else "原因：尚未查明")
        if self.fix:
            lines.append(f"建议：{self.fix}")
        lines.append(
            f"确认方式：对小智说“收到”，或执行 xiaozhi-ops cases ack {self.case_id}，或在控制台确认。"
        )
        if self.rung:
            lines.append(f"（第 {self.rung} 级升级：此前无人确认）")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    channel: str
    kind: ChannelKind
    status: SendStatus
    detail: str = ""
    attempts: int = 1
    retryable: bool = field(default=False)
