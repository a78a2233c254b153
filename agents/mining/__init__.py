"""Template mining: log message bodies → templates with ``<*>`` parameters.

``TemplateMiner`` is streaming (``add`` one message at a time) with a batch fast path (``add_many``),
``match`` without learning, and JSON state behind a pluggable persistence handler.
"""

from agents.mining.masking import PIECE_RULES, TOKEN_RULES, WILDCARD, MaskingRule, mask_token
from agents.mining.miner import (
    FilePersistence,
    MemoryPersistence,
    PersistenceHandler,
    Template,
    TemplateMiner,
)

__all__ = [
    "PIECE_RULES",
    "TOKEN_RULES",
    "WILDCARD",
    "FilePersistence",
    "MaskingRule",
    "MemoryPersistence",
    "PersistenceHandler",
    "Template",
    "TemplateMiner",
    "mask_token",
]
