"""Paths to shared test data, relative to the repository (never absolute)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
AUDIO = SHARED / "audio"
COMMANDS = AUDIO / "commands"
DATASETS = SHARED / "datasets"
