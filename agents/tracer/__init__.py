"""Alert tracer (issue 11): evidence for the window → ordered cause rules over Kubernetes semantics → a typed
`Cause` → sentence templates → the `Undo` that reverses the causal change (never an innocent object).

Modules: `context` (evidence gathering), `rules` (one small rule object per cause), `model` (Cause, Undo),
`speech` (sentence templates), `core` (the pipeline of those, honest absence), `symptoms` (the last-resort
symptom tracer)."""

from agents.tracer.context import safe_name, speakable_actor
from agents.tracer.core import absence, render_spoken, trace, trace_business_error
from agents.tracer.model import Cause, CauseKind, Undo, UndoKind
from agents.tracer.symptoms import (
    AFTER_S,
    BEFORE_S,
    CAUSES,
    AlertKeys,
    EvidenceLine,
    RollbackTarget,
    Trace,
    TraceStep,
)

__all__ = [
    "AFTER_S",
    "BEFORE_S",
    "CAUSES",
    "AlertKeys",
    "Cause",
    "CauseKind",
    "EvidenceLine",
    "RollbackTarget",
    "Trace",
    "TraceStep",
    "Undo",
    "UndoKind",
    "absence",
    "render_spoken",
    "safe_name",
    "speakable_actor",
    "trace",
    "trace_business_error",
]
