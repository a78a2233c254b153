"""Fixtures shared across test packages: the real speech stack (loaded once) and a running service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from server.config import Settings
from tests.paths import REPO

pytest_plugins = ["tests.pg"]  # the throw-away PostgreSQL cluster


def make_settings(tmp: Path, **overrides: object) -> Settings:
    """Settings for an isolated instance: its own data/results dirs, ephemeral ports, offline TTS."""
    base: dict[str, object] = {
        "data_dir": tmp / "data",
        "results_dir": tmp / "analysis_results",
        "whisper_dir": REPO / "data" / "models" / "whisper-base",
        "host": "127.0.0.1",
        "ws_port": 0,
        "http_port": 0,
        "mcp_port": 0,
        "tts_engine": "espeak",  # deterministic audio; edge-tts is unreachable offline anyway
        "timezone": "Asia/Shanghai",
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)


@pytest.fixture(scope="session", autouse=True)
def intent_classifier() -> None:
    """The intent classifier, kept between runs as the server keeps it (server/intent/classifier.py
    ``trained``): a test process loads it instead of training it again."""
    from server.intent.classifier import shared_classifier

    for heard in (False, True):
        shared_classifier(heard, Settings(_env_file=None).intent_cache_path)


@pytest.fixture(scope="session")
def speech_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Real VAD + Whisper + TTS, loaded and warmed once for the whole test session."""
    from server.speech.stack import SpeechStack

    settings = make_settings(tmp_path_factory.mktemp("speech"))
    stack = SpeechStack.load(settings)
    asyncio.run(stack.warm())
    yield stack
    stack.close()


@pytest.fixture
async def start_app(speech_stack: object, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Factory: ``app = await start_app(**settings_overrides)`` runs a full service on ephemeral ports."""
    from server.app import App

    apps: list[App] = []

    async def _start(**overrides: object) -> App:
        app = App(make_settings(tmp_path, **overrides))
        await app.start(speech=speech_stack, run_pipeline=False)  # type: ignore[arg-type]
        apps.append(app)
        return app

    yield _start
    for app in apps:
        await app.stop()
