"""Voiceprints: who is speaking. Resemblyzer embeddings, per-owner calibrated thresholds, unknown = guest."""
