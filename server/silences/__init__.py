"""Silences and maintenance windows: alerts that match are recorded, not spoken (Alertmanager's matcher model)."""
