"""`python -m bench.voiceprint`: identification time for 3 s of speech (target ≤ 60 ms) and enrolment time.

Measures both torch thread settings, since torch's thread count is process-wide and the server picks one.
identify_3s is the whole path (preprocess, embed, pitch, decide); pitch_3s is the pitch check's share of it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEAKERS = REPO.parent / "shared" / "audio" / "speakers"


def _ms(fn, n: int) -> dict:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 1), "p90_ms": round(times[int(0.9 * (n - 1))], 1)}


def main() -> None:
    import numpy as np
    import torch

    from server.storage.db import Database
    from server.vault import store as _tables  # noqa: F401
    from server.voiceprint.audio import decode_wav
    from server.voiceprint.encoder import VoiceEncoder
    from server.voiceprint.pitch import median_pitch
    from server.voiceprint.store import VoiceprintStore

    def load(name: str, f: str) -> np.ndarray:
        p = SPEAKERS / name / f
        return decode_wav(p.read_bytes(), p.name)

    t0 = time.perf_counter()
    enc = VoiceEncoder(threads=1)
    load_s = time.perf_counter() - t0
    warm_s = enc.warmup()
    probe = load("espeak_m3", "probe_audit.wav")[: 3 * 16000]  # exactly 3 s
    wav = enc.preprocess(probe)
    clips = {
        n: [load(n, f"enroll_{i}.wav") for i in (1, 2, 3)] for n in ("espeak_f2", "espeak_m1", "espeak_m3")
    }
    results: dict = {
        "machine": f"{platform.machine()} cpus={os.cpu_count()} torch={torch.__version__}",
        "model_load_s": round(load_s, 2),
        "warmup_s": round(warm_s, 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.sqlite(Path(tmp) / "b.sqlite3")
        db.create_all()
        store = VoiceprintStore(db, enc)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for _ in range(3):
                store.identify_pcm(probe)
            enrol = _ms(lambda: store.enrol(None, clips["espeak_m3"], name="m3"), 5)
            for n in ("espeak_f2", "espeak_m1"):
                store.enrol(None, clips[n], name=n)
            results[f"threads_{threads}"] = {
                "identify_3s": _ms(lambda: store.identify_pcm(probe), 30),
                "embed_3s": _ms(lambda: enc.analyse(probe), 30),
                "pitch_3s": _ms(lambda: median_pitch(wav), 30),
                "enrol_3_clips": enrol,
            }
        db.dispose()
    results["target_identify_ms"] = 60
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
