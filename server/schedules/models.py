"""A schedule: what (log broadcast or alert review), when (a time of day on some weekdays), for whom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

WEEKDAY_ZH = "一二三四五六日"


class ScheduleKind(StrEnum):
    BROADCAST = "broadcast"  # read the latest log summary
    ALERT_REVIEW = "alert_review"  # remind to look at the open alerts

    @property
    def zh(self) -> str:
        return {"broadcast": "播报日志", "alert_review": "提醒看告警"}[self.value]


class ScheduleIn(BaseModel):
    owner: str = Field(min_length=1, max_length=128)
    kind: ScheduleKind
    hour: int = Field(ge=0, le=23)
    minute: int = Field(ge=0, le=59)
    weekdays: list[int] = Field(min_length=1, max_length=7)  # 0 = Monday … 6 = Sunday

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in v):
            raise ValueError("weekdays are 0 (Monday) … 6 (Sunday)")
        return sorted(set(v))

    def days_zh(self) -> str:
        days = self.weekdays
        if days == list(range(7)):
            return "每天"
        if days == list(range(5)):
            return "工作日"
        if days == [5, 6]:
            return "周末"
        return "每周" + "、".join(WEEKDAY_ZH[d] for d in days)

    def describe_zh(self) -> str:
        return f"{self.days_zh()}{self.hour}点{f'{self.minute}分' if self.minute else ''}{self.kind.zh}"

    def cron_day_of_week(self) -> str:
        return ",".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[d] for d in self.weekdays)


@dataclass(frozen=True, slots=True)
class Schedule:
    id: int
    spec: ScheduleIn
    created_by: str
    created_at: datetime

    @property
    def owner(self) -> str:
        return self.spec.owner

    def describe_zh(self) -> str:
        return self.spec.describe_zh()
