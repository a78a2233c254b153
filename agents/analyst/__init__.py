"""Analysts turn a `DayReport` into llm_analysis.md + llm_summary.txt; the deterministic one needs no LLM.

`writer` writes the three result files atomically.
"""

from agents.analyst.deterministic import FOLLOW_UP, MAX_SUMMARY_CHARS, DeterministicAnalyst, speech_seconds
from agents.analyst.writer import FILES, has_results, read_results, result_dir, write_results

__all__ = [
    "FILES",
    "FOLLOW_UP",
    "MAX_SUMMARY_CHARS",
    "DeterministicAnalyst",
    "has_results",
    "read_results",
    "result_dir",
    "speech_seconds",
    "write_results",
]
