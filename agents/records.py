"""One normalised record for the three log kinds (business, k8s event, k8s audit).

A slotted dataclass rather than a pydantic model: a day can hold millions of records and the
pipeline must parse ≥ 1M lines in well under a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class LogKind(StrEnum):
    BUSINESS = "business"
    EVENT = "event"
    AUDIT = "audit"


# Canonical levels. Events map Warning→WARN, Normal→INFO; audit maps denied/5xx to WARN/ERROR.
LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")


@dataclass(slots=True)
class LogRecord:
    ts: float  # epoch seconds, UTC
    kind: LogKind
    level: str  # one of LEVELS
    message: str  # the message body (what template mining sees)
    namespace: str = ""
    workload: str = ""  # deployment / statefulset / service name
    pod: str = ""
    object: str = ""  # "Kind/name" of the involved object (events) or "resource/name" (audit)
    user: str = ""  # audit: user.username; business: optional end-user id
    raw: str = ""  # the original line (untrusted text)
    fields: dict[str, Any] = field(
        default_factory=dict
    )  # kind-specific extras (reason, verb, code, trace_id…)
