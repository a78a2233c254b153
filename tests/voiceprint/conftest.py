from pathlib import Path

import numpy as np
import pytest

from server.storage.db import Database
from server.voiceprint.audio import decode_wav
from server.voiceprint.encoder import VoiceEncoder, get_encoder
from server.voiceprint.store import VoiceprintStore
from tests.paths import AUDIO, COMMANDS

SPEAKERS = AUDIO / "speakers"


def load(path: Path) -> np.ndarray:
    return decode_wav(path.read_bytes(), path.name)


def enrol_clips(name: str) -> list[np.ndarray]:
    if name == "neural":
        return [load(COMMANDS / f"enroll_phrase_{i}.wav") for i in (1, 2, 3)]
    return [load(SPEAKERS / name / f"enroll_{i}.wav") for i in (1, 2, 3)]


@pytest.fixture(scope="session")
def encoder() -> VoiceEncoder:
    """The process-wide encoder, warmed once (first-ever run compiles numba kernels for ~30 s)."""
    enc = get_encoder()
    enc.warmup()
    return enc


@pytest.fixture
def store(tmp_path: Path, encoder: VoiceEncoder) -> VoiceprintStore:
    from server.vault import store as _vault_tables  # noqa: F401 - all owner tables exist

    db = Database.sqlite(tmp_path / "vp.sqlite3")
    db.create_all()
    yield VoiceprintStore(db, encoder)
    db.dispose()
