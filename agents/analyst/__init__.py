"""Analysts: turn a DayReport into llm_analysis.md + llm_summary.txt (LLM or deterministic)."""
