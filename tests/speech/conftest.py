from __future__ import annotations

import pytest

from server.speech.asr import WhisperASR
from server.speech.vad import SileroModel


@pytest.fixture(scope="session")
def whisper(speech_stack) -> WhisperASR:
    """The session's one Whisper (settings defaults: 10 s window, 2 threads), from tests/conftest.py."""
    return speech_stack.asr


@pytest.fixture(scope="session")
def vad_model(speech_stack) -> SileroModel:
    return speech_stack.vad_model
