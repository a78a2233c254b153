"""An isolated service instance for benchmarks: its own dirs, ephemeral ports, offline TTS."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from server.config import Settings

REPO = Path(__file__).resolve().parents[1]


def isolated_settings(root: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": root / "data",
        "results_dir": root / "results",
        "whisper_dir": REPO / "data" / "models" / "whisper-base",
        "host": "127.0.0.1",
        "ws_port": 0,
        "http_port": 0,
        "mcp_port": 0,
        "tts_engine": "espeak",  # edge-tts is a cloud service; offline the server speaks with espeak-ng
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)


def yesterday(settings: Settings) -> str:
    return (datetime.now(ZoneInfo(settings.timezone)).date() - timedelta(days=1)).isoformat()


def write_summary(settings: Settings, text: str, owner: str | None = None) -> Path:
    """Put a summary for yesterday where the broadcast reads it (no pipeline run needed)."""
    out = settings.results_dir / yesterday(settings) / (owner or settings.default_owner)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "llm_summary.txt"
    path.write_text(text, encoding="utf-8")
    return path
