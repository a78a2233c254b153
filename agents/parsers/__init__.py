"""Parsers: one line or one JSON object → LogRecord, for business, k8s event and k8s audit logs.

Entry point for files: ``parse_stream(kind, lines)`` → iterable of records with ``.stats``.
"""

from agents.parsers.audit import audit_from_obj
from agents.parsers.business import business_from_obj, business_from_text
from agents.parsers.cls import ClsMeta, unwrap_cls
from agents.parsers.common import normalize_level, parse_ts, workload_from_pod
from agents.parsers.k8s_event import event_from_obj
from agents.parsers.plain import parse_plain
from agents.parsers.stream import BadLine, ParseStats, RecordStream, parse_line, parse_object, parse_stream

__all__ = [
    "BadLine",
    "ClsMeta",
    "ParseStats",
    "RecordStream",
    "audit_from_obj",
    "business_from_obj",
    "business_from_text",
    "event_from_obj",
    "normalize_level",
    "parse_line",
    "parse_object",
    "parse_plain",
    "parse_stream",
    "parse_ts",
    "unwrap_cls",
    "workload_from_pod",
]
