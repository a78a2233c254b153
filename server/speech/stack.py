"""The speech stack of the running server: VAD, ASR and TTS loaded once and warmed before devices connect."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from server.config import Settings
from server.speech.asr import WhisperASR
from server.speech.tts import FallbackTTS, tts_from_settings
from server.speech.vad import Endpointer, SileroModel, VadConfig

log = logging.getLogger(__name__)

WARMUP_TEXT = "你好，我是小智。"


@dataclass
class SpeechStack:
    vad_model: SileroModel
    vad_config: VadConfig
    asr: WhisperASR
    tts: FallbackTTS
    sample_rate: int = 16000  # downlink TTS rate
    timings: dict[str, float] = field(default_factory=dict)  # stage → seconds spent loading/warming

    @classmethod
    def load(cls, settings: Settings, asr: WhisperASR | None = None) -> SpeechStack:
        """Load every model (blocking, a few seconds). Call once at start-up, then ``await warm()``.

        ``asr`` reuses an already loaded Whisper (tests share one per session)."""
        t0 = time.monotonic()
        vad_model = SileroModel()
        t1 = time.monotonic()
        asr = asr or WhisperASR.from_settings(settings)
        t2 = time.monotonic()
        tts = tts_from_settings(settings)
        cfg = VadConfig(
            threshold=settings.vad_threshold,
            silence_ms=settings.vad_silence_ms,
            hold_silence_ms=settings.vad_hold_silence_ms,
        )
        stack = cls(vad_model, cfg, asr, tts, settings.downlink_sample_rate)
        stack.timings.update(vad_load=t1 - t0, asr_load=t2 - t1)
        return stack

    def new_endpointer(self) -> Endpointer:
        """One per device connection (the model is shared, the stream state is not)."""
        return Endpointer(self.vad_model, self.vad_config)

    async def warm(self) -> None:
        """A real TTS call and a real transcription of it, so the first user turn is not the slow one.

        Also settles which TTS engine is in use (an offline edge-tts is detected here, not on a user turn).
        """
        t0 = time.monotonic()
        pcm = await self.tts.synthesize(WARMUP_TEXT, 16000)
        t1 = time.monotonic()
        transcript = await self.asr.transcribe_async(pcm) if pcm.size else None
        t2 = time.monotonic()
        self.timings.update(tts_warm=t1 - t0, asr_warm=t2 - t1)
        log.info(
            "speech stack warm: TTS=%s (%.2fs), ASR %.2fs → %r",
            self.tts.engine_in_use,
            t1 - t0,
            t2 - t1,
            transcript.text if transcript else "",
        )

    def close(self) -> None:
        self.asr.close()
