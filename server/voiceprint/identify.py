"""Async identification for the dialogue: runs the encoder in a thread so it overlaps with ASR."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from server.voiceprint.audio import AudioError
from server.voiceprint.scoring import Identification
from server.voiceprint.store import VoiceprintStore

log = logging.getLogger(__name__)

GUEST = Identification(owner_id=None, score=0.0, threshold=0.0, margin=0.0)


@dataclass(frozen=True)
class IdentifyResult:
    identification: Identification
    elapsed_ms: float
    error: str | None = None  # e.g. "no speech": the turn goes on as a guest


class Identifier:
    """``await identifier.identify(pcm)`` with the whole utterance PCM (wake-word pre-roll included: the median
    window score shrugs off a short odd segment). Holds no audio or result after returning."""

    def __init__(self, store: VoiceprintStore, executor: Executor | None = None) -> None:
        self.store = store
        # one worker: the encoder serialises on its lock anyway, and a second would only compete with ASR
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="voiceprint")

    def _run(self, pcm: np.ndarray | bytes) -> IdentifyResult:
        t0 = time.perf_counter()
        try:
            ident = self.store.identify_pcm(pcm)
            err = None
        except AudioError as exc:
            ident, err = GUEST, str(exc)
        elapsed = (time.perf_counter() - t0) * 1000
        log.debug(
            "voiceprint owner=%s score=%.3f thr=%.3f %.0f ms",
            ident.owner_id,
            ident.score,
            ident.threshold,
            elapsed,
        )
        return IdentifyResult(ident, elapsed, err)

    async def identify(self, pcm: np.ndarray | bytes) -> IdentifyResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, pcm)

    def close(self) -> None:
        if isinstance(self._executor, ThreadPoolExecutor):
            self._executor.shutdown(wait=False, cancel_futures=True)
