"""Intent routing: a fast deterministic matcher first, an LLM control-tag router for the rest."""

from server.intent.matcher import match_intent
from server.intent.models import INTENT_NAMES, LOG_KINDS, Intent

__all__ = ["INTENT_NAMES", "LOG_KINDS", "Intent", "match_intent"]
