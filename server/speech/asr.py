"""Speech recognition: an ASR interface and the faster-whisper implementation.

Whisper pads every call to a 30 s mel window, so a 1-2 s command costs as much as 30 s of audio. For
utterances that fit in ``window_s`` (default 10 s) we run the CTranslate2 model directly on a shorter
window (feature extractor → ``encode`` → ``generate`` with the usual prompt tokens), which is ≈3.5× faster
for commands at nearly the same accuracy (reference/speech-stack.md §10). Longer audio takes the normal
``transcribe`` path. Decoding is greedy/beam at temperature 0 with repetition guards: the temperature
fallback loop can take 40 s on noise, and a short window makes loops more likely.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
import time
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

with warnings.catch_warnings():  # zhconv imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    import zhconv

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
ASR_REVISION = 2  # bump when decoding or post-processing changes what a clip is heard as
# Command words as Whisper "hotwords" (a previous-text prompt): they fix script (Simplified) and the
# homophones base makes on these words. Kept to command vocabulary; long prompts leak into the output.
# Measured on the spoken dev subset: 静默 屏蔽 定时 音量 in place of 异常 gave 777 vs 771 of 875 right, but
# long sentences lost 异常 and 日志 (tests/speech): not adopted; the repair layer restores those words.
DEFAULT_HOTWORDS = (
    "你好小智 开始播报日志 深入分析业务日志 事件日志 审计日志 关联分析 根源 异常 告警 回滚 注册声纹"
)


class Listen(StrEnum):
    """What the server expects to hear next: picks the hotword prompt (the dialogue maps its ``Expect``)."""

    COMMAND = "command"  # anything: the command vocabulary
    ANSWER = "answer"  # a yes/no reply to the question just asked ("是否回滚？", "你是想…吗？")


# One short prompt per expectation (measured on the spoken dev subset, bench/intents.py --split dev).
HOTWORDS: dict[Listen, str] = {
    Listen.COMMAND: DEFAULT_HOTWORDS,
    # yes/no words and 回滚 (without it a recorded "不用回滚" came out "不用水滚"); with 行 and 取消 in the
    # list Whisper continued the prompt ("好的" → "好的，行"). Dev rollback answers: 34/40 (before: 32/40).
    Listen.ANSWER: "好的 确认 同意 可以 回滚 不用 不要 先别 算了",
}
# Workload names put in the prompt (``prompt_names``): Kubernetes names (RFC 1123 labels), a few at most so the
# prompt stays short (a long prompt leaks into the output). Measured on the Latin rows of the seen held-out
# sets through a code-switching speaker (bench/voices.py MixedVoice): see bench/RESULTS.md, round 6.
MAX_PROMPT_NAMES = 6
MAX_PROMPTS = 64  # prompt token lists kept (one per hotword list × owner name list)
_K8S_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def prompt_names(names: Sequence[str]) -> list[str]:
    """The names fit for the prompt: well-formed Kubernetes names only (a report's text never reaches the
    recognizer's prompt), first ``MAX_PROMPT_NAMES`` distinct, in the order given."""
    out: list[str] = []
    for name in names:
        name = name.strip().lower()
        if _K8S_NAME.fullmatch(name) and name not in out:
            out.append(name)
    return out[:MAX_PROMPT_NAMES]


# Phrases Whisper invents on silence/noise (subtitle credits from its training data).
HALLUCINATIONS = (
    "字幕由",
    "请不吝点赞",
    "订阅 转发",
    "点赞订阅",
    "感谢观看",
    "谢谢观看",
    "明镜与点点",
    "amara.org",
    "中文字幕",
)
SCORE_TAIL_FRAMES = 25  # encoder frames (20 ms each) after the clip's end that candidate scoring still sees
_REPEAT = re.compile(r"(.{1,8}?)\1{3,}")  # the same 1-8 chars four or more times in a row
_CJK_GAP = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")  # Whisper's pause marker in Chinese


@dataclass(frozen=True)
class Transcript:
    text: str  # Simplified Chinese, stripped; "" when nothing was said
    duration_s: float
    elapsed_s: float
    path: Literal["window", "full", "skipped"]
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    language: str = "zh"

    @property
    def rtf(self) -> float:
        return self.elapsed_s / self.duration_s if self.duration_s else 0.0


@dataclass(frozen=True)
class TextScore:
    """How well one candidate sentence fits the audio: Whisper's forced-decoding log-probability of its
    tokens and of the end of text after them (the same prompt as decoding)."""

    text: str
    logprob: float  # sum over the text's tokens
    tokens: int  # tokens scored (CTranslate2's alignment gives no usable end-of-text probability)

    @property
    def per_token(self) -> float:
        return self.logprob / self.tokens if self.tokens else 0.0


class ASR(Protocol):
    def transcribe(
        self,
        pcm: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        listen: Listen = Listen.COMMAND,
        names: Sequence[str] = (),
    ) -> Transcript: ...

    async def transcribe_async(
        self,
        pcm: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        listen: Listen = Listen.COMMAND,
        names: Sequence[str] = (),
    ) -> Transcript: ...

    def warmup(self) -> None: ...

    def score_texts(
        self,
        pcm: np.ndarray,
        texts: Sequence[str],
        sample_rate: int = SAMPLE_RATE,
        listen: Listen = Listen.COMMAND,
    ) -> list[TextScore]:
        """Log P(text | audio) for each candidate (``[]`` when the recognizer cannot score this clip)."""
        ...


# --- pure post-processing ---
def to_simplified(text: str) -> str:
    return zhconv.convert(text, "zh-cn")


def collapse_repeats(text: str) -> str:
    """'喀喀喀喀喀' → '喀', '好的好的好的好的' → '好的': Whisper's loop hallucination, not speech."""
    return _REPEAT.sub(r"\1", text)


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def clean_transcript(text: str) -> str:
    """Simplified script, no loop repetitions, no invented subtitle credits."""
    s = collapse_repeats(to_simplified(text).strip())
    s = _CJK_GAP.sub("，", s)
    low = s.lower()
    if any(h in low for h in HALLUCINATIONS):
        return ""
    return s


def strip_prompt_leak(text: str, hotwords: str, min_words: int = 3, min_chars: int = 6) -> str:
    """Remove a run of ``min_words`` or more consecutive prompt words (``min_chars`` or more characters)
    copied into the output: Whisper sometimes "continues" its previous-text prompt instead of listening.
    A text that is nothing but the leaked run becomes ""."""
    words = hotwords.split()
    squashed = re.sub(r"[\s，,。、]", "", text)
    for size in range(len(words), min_words - 1, -1):
        for start in range(len(words) - size + 1):
            run = "".join(words[start : start + size])
            if len(run) >= min_chars and run in squashed:
                return squashed.replace(run, "").strip() if squashed != run else ""
    return text


def is_non_speech(no_speech_prob: float, avg_logprob: float) -> bool:
    """Whisper's own silence rule, a little stricter: on noise, base with hotwords still "hears" command
    words (审计日志) but with no_speech_prob > 0.7 and avg log-prob < -1; real commands score < 0.05, > -0.5."""
    return (no_speech_prob > 0.5 and avg_logprob < -0.8) or avg_logprob < -1.5


def to_float32(pcm: np.ndarray) -> np.ndarray:
    if pcm.dtype == np.int16:
        return pcm.astype(np.float32) / 32768.0
    if pcm.dtype == np.float32:
        return pcm
    raise ValueError(f"expected int16 or float32 PCM, got {pcm.dtype}")


class WhisperASR:
    """faster-whisper on CPU (int8). Thread-safe: one inference at a time; async calls use one worker."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int = 2,
        window_s: int = 10,
        beam_size: int = 5,
        hotwords: str = DEFAULT_HOTWORDS,
        language: str = "zh",
        min_audio_s: float = 0.2,
    ):
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        if not (Path(model_path) / "model.bin").exists():
            raise RuntimeError(f"no Whisper model at {model_path} (run `xiaozhi-ops models`)")
        started = time.monotonic()
        self.model = WhisperModel(str(model_path), device="cpu", compute_type="int8", cpu_threads=threads)
        self.model_name = Path(model_path).name
        self.window_s = max(1, min(30, int(window_s)))
        self.beam_size = beam_size
        self.hotwords = {**HOTWORDS, Listen.COMMAND: hotwords}
        self.language = language
        self.min_audio_s = min_audio_s
        self._tokenizer = Tokenizer(
            self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language=language
        )
        self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]))
        self._prompts: dict[str, list[int]] = {}  # hotword prompt text → its tokens (see ``_prompt``)
        self._lock = threading.Lock()
        self._score_start = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._encoded: tuple[str, np.ndarray] | None = None  # the last clip's digest and encoder output
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        log.info(
            "Whisper loaded from %s in %.2fs (threads=%d, window=%ds)",
            model_path,
            time.monotonic() - started,
            threads,
            self.window_s,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> WhisperASR:
        return cls(settings.whisper_path, threads=settings.asr_threads, window_s=settings.asr_window_s)

    def config_id(self, listen: Listen = Listen.COMMAND, names: Sequence[str] = ()) -> str:
        """Everything that changes what a clip is heard as when listening for ``listen`` (transcript caches
        key on it)."""
        parts = [
            self.model_name,
            self.window_s,
            self.beam_size,
            self.prompt_words(listen, names),
            ASR_REVISION,
        ]
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]

    def prompt_words(self, listen: Listen = Listen.COMMAND, names: Sequence[str] = ()) -> str:
        """The hotword prompt: the words for what is expected, then the workload names the speaker may say
        (``prompt_names``)."""
        return " ".join([self.hotwords[listen], *prompt_names(names)])

    def _prompt(self, words: str) -> list[int]:
        if words not in self._prompts:
            if len(self._prompts) >= MAX_PROMPTS:
                self._prompts.clear()  # bounded: owners' name lists change rarely
            self._prompts[words] = self.model.get_prompt(
                self._tokenizer, [], without_timestamps=True, hotwords=words
            )
        return self._prompts[words]

    def transcribe(
        self,
        pcm: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        listen: Listen = Listen.COMMAND,
        names: Sequence[str] = (),
    ) -> Transcript:
        """``listen``: what the dialogue expects next (its hotword prompt); the default is any command.
        ``names``: workload names the speaker may say (the owner's, from their reports), added to the
        prompt so Whisper writes "payment-api" rather than sounds ("陪问 API")."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"ASR needs {SAMPLE_RATE} Hz audio, got {sample_rate}")
        audio = to_float32(np.asarray(pcm).reshape(-1))
        duration = len(audio) / SAMPLE_RATE
        if duration < self.min_audio_s or not np.any(audio):
            return Transcript("", duration, 0.0, "skipped")
        started = time.monotonic()
        words = self.prompt_words(listen, names)
        with self._lock:
            if duration <= self.window_s and self.window_s < 30:
                raw, no_speech, logprob = self._window_decode(audio, duration, words)
                path: Literal["window", "full"] = "window"
            else:
                raw, no_speech, logprob = self._full_decode(audio, words)
                path = "full"
        text = strip_prompt_leak(clean_transcript(raw), words)
        elapsed = time.monotonic() - started
        return Transcript(text, duration, elapsed, path, no_speech, logprob, self.language)

    async def transcribe_async(
        self,
        pcm: np.ndarray,
        sample_rate: int = SAMPLE_RATE,
        listen: Listen = Listen.COMMAND,
        names: Sequence[str] = (),
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.transcribe, pcm, sample_rate, listen, names)

    def score_texts(
        self,
        pcm: np.ndarray,
        texts: Sequence[str],
        sample_rate: int = SAMPLE_RATE,
        listen: Listen = Listen.COMMAND,
    ) -> list[TextScore]:
        """Whisper as a scorer of candidate sentences: forced decoding of each text on the clip's encoder
        output, which is reused when the clip is the one just transcribed. Only clips that fit the short
        window are scored (``[]`` otherwise, and for no texts).

        Cost is what bounds this (measured on the spoken dev split, 2 shared cores): the decoder runs once
        per candidate, and the ~65-token hotword prompt made it ~50 ms a candidate, so candidates are
        scored after the bare start sequence (language, task, no timestamps; ~4× cheaper; ``listen`` is
        accepted for the Protocol), and against the encoder frames that hold the clip (+0.5 s) rather
        than the whole window (cross-attention keys are computed per candidate; ~3× cheaper). Both
        change the absolute numbers a little, not which candidate fits the audio best."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"ASR needs {SAMPLE_RATE} Hz audio, got {sample_rate}")
        audio = to_float32(np.asarray(pcm).reshape(-1))
        duration = len(audio) / SAMPLE_RATE
        if not texts or duration > self.window_s or self.window_s >= 30 or duration < self.min_audio_s:
            return []
        import ctranslate2

        tokens = [self._tokenizer.encode(t.strip()) or [self._tokenizer.eot] for t in texts]
        with self._lock:
            encoded = self._encode(audio)
            kept = min(encoded.shape[1], int(duration * 50) + SCORE_TAIL_FRAMES)  # 20 ms per encoder frame
            batch = np.ascontiguousarray(np.repeat(encoded[:, :kept], len(texts), axis=0))
            results = self.model.model.align(
                ctranslate2.StorageView.from_array(batch),
                self._score_start,
                tokens,
                [kept * 2] * len(texts),
            )
        out = []
        for text, tok, result in zip(texts, tokens, results, strict=True):
            probs = np.asarray(result.text_token_probs[: len(tok)], dtype=np.float64)
            logprob = float(np.log(np.clip(probs, 1e-12, 1.0)).sum())
            out.append(TextScore(text, logprob, len(probs)))
        return out

    def warmup(self) -> None:
        """One real decode so the first user turn doesn't pay for lazy initialisation."""
        t = np.arange(SAMPLE_RATE, dtype=np.float32) / SAMPLE_RATE
        tone = (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        self.transcribe(tone)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- decoders (called with the lock held) --
    def _window_decode(self, audio: np.ndarray, duration: float, words: str) -> tuple[str, float, float]:
        import ctranslate2

        encoded = ctranslate2.StorageView.from_array(self._encode(audio))
        # Chinese speech runs at ~4-6 characters/s and ~1-2 tokens per character: bound the output so a
        # decoding loop stops early instead of filling 448 tokens.
        max_new = int(24 + 20 * duration)
        prompt = self._prompt(words)
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            max_length=min(self.model.max_length, len(prompt) + max_new),
            repetition_penalty=1.1,
            no_repeat_ngram_size=4,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_no_speech_prob=True,
            return_scores=True,
        )[0]
        tokens = result.sequences_ids[0]
        logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # as faster-whisper averages it
        if is_non_speech(result.no_speech_prob, logprob):
            return "", result.no_speech_prob, logprob
        return self._tokenizer.decode(tokens).strip(), result.no_speech_prob, logprob

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        """The encoder output of the short window, ``[1, frames/2, d_model]``; the last one is kept, so
        scoring candidates for the clip just transcribed does not encode it again."""
        import ctranslate2

        digest = hashlib.sha1(audio.tobytes()).hexdigest()
        if self._encoded is not None and self._encoded[0] == digest:
            return self._encoded[1]
        frames = self.window_s * 100  # 10 ms hop
        features = self.model.feature_extractor(audio)[:, :frames]
        if features.shape[1] < frames:
            features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))
        storage = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
        encoded = np.array(self.model.model.encode(storage, to_cpu=True))
        self._encoded = (digest, encoded)
        return encoded

    def _full_decode(self, audio: np.ndarray, words: str) -> tuple[str, float, float]:
        segments, _ = self.model.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            hotwords=words,
            repetition_penalty=1.1,
            no_repeat_ngram_size=4,
            vad_filter=True,  # long audio: skip silences instead of hallucinating in them
        )
        kept = [seg for seg in segments if not is_non_speech(seg.no_speech_prob, seg.avg_logprob)]
        if not kept:
            return "", 1.0, 0.0
        logprob = sum(seg.avg_logprob for seg in kept) / len(kept)
        return " ".join(seg.text.strip() for seg in kept), max(s.no_speech_prob for s in kept), logprob
