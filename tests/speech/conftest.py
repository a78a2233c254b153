from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.config import Settings
from server.speech.asr import WhisperASR
from server.speech.vad import SileroModel
from tests.paths import REPO


@pytest.fixture(scope="session")
def whisper() -> Iterator[WhisperASR]:
    """Whisper base loaded once for the whole test session (settings defaults: 10 s window, 2 threads)."""
    asr = WhisperASR.from_settings(Settings(data_dir=REPO / "data"))
    yield asr
    asr.close()


@pytest.fixture(scope="session")
def vad_model() -> SileroModel:
    return SileroModel()
