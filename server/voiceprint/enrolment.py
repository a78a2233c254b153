"""Spoken enrolment as a pure state machine: ask the name, then three prompted phrases, then done.

The dialogue owns the audio and the TTS; it feeds this machine what the user said and speaks ``step.prompt``.
When ``step.done`` the dialogue calls ``VoiceprintStore.enrol(None, step.clips, name=step.name)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

PHRASES = ("小智请记住我的声音", "今天天气很好，我们去公园散步", "一二三四五六七八九十")
MIN_CLIP_S = 1.0
MAX_RETRIES = 2  # per step; then the enrolment is cancelled with an explanation

PROMPT_ASK_NAME = "好的，我们来注册声纹。请告诉我你的名字。"
PROMPT_PHRASE = "请跟我读：{phrase}"
PROMPT_RETRY_NAME = "没有听清你的名字，请再说一遍。"
PROMPT_RETRY_PHRASE = "没有听清，请再读一遍：{phrase}"
PROMPT_DONE = "谢谢{name}，我已经记住你的声音了。"
PROMPT_CANCELLED = "声纹注册已取消。"
PROMPT_FAILED = "多次没有听清，声纹注册已取消，稍后可以再试。"

_NAME_PREFIX = re.compile(r"^(我的名字是|我的名字叫|我叫|我是|名字是|叫我)")
_CANCEL_WORDS = ("取消", "算了", "不注册", "退出")


class Stage(StrEnum):
    ASK_NAME = "ask_name"
    PHRASE = "phrase"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class EnrolmentState:
    stage: Stage = Stage.ASK_NAME
    name: str = ""
    phrase_index: int = 0
    retries: int = 0
    clips: tuple[np.ndarray, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Step:
    state: EnrolmentState
    prompt: str  # what the robot says next

    @property
    def done(self) -> bool:
        return self.state.stage is Stage.DONE

    @property
    def finished(self) -> bool:
        return self.state.stage in (Stage.DONE, Stage.CANCELLED)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def clips(self) -> list[np.ndarray]:
        return list(self.state.clips)


def extract_name(transcript: str) -> str:
    """ "我叫张三。" -> "张三"; keeps letters/digits/CJK only."""
    text = re.sub(r"[\s，。！？,.!?、:：\"'“”]", "", transcript or "")
    text = _NAME_PREFIX.sub("", text)
    return text[:16]


def start() -> Step:
    return Step(EnrolmentState(), PROMPT_ASK_NAME)


def _cancelled(transcript: str) -> bool:
    return any(w in (transcript or "") for w in _CANCEL_WORDS)


def advance(state: EnrolmentState, transcript: str, pcm: np.ndarray | None = None) -> Step:
    """One user turn. ``pcm`` is the utterance audio (16 kHz int16), needed in the phrase stage."""
    if state.stage in (Stage.DONE, Stage.CANCELLED):
        return Step(state, "")
    if _cancelled(transcript):
        return Step(replace(state, stage=Stage.CANCELLED), PROMPT_CANCELLED)
    if state.stage is Stage.ASK_NAME:
        name = extract_name(transcript)
        if not name:
            return _retry(state, PROMPT_RETRY_NAME)
        nxt = replace(state, stage=Stage.PHRASE, name=name, retries=0)
        return Step(nxt, PROMPT_PHRASE.format(phrase=PHRASES[0]))
    # phrase stage: keep the clip if there is enough audio; the encoder judges speech content at enrol time
    if pcm is None or len(pcm) < MIN_CLIP_S * 16000 or not (transcript or "").strip():
        return _retry(state, PROMPT_RETRY_PHRASE.format(phrase=PHRASES[state.phrase_index]))
    clips = (*state.clips, np.asarray(pcm, dtype=np.int16))
    index = state.phrase_index + 1
    if index >= len(PHRASES):
        done = replace(state, stage=Stage.DONE, clips=clips, phrase_index=index, retries=0)
        return Step(done, PROMPT_DONE.format(name=state.name))
    nxt = replace(state, clips=clips, phrase_index=index, retries=0)
    return Step(nxt, PROMPT_PHRASE.format(phrase=PHRASES[index]))


def _retry(state: EnrolmentState, prompt: str) -> Step:
    if state.retries >= MAX_RETRIES:
        return Step(replace(state, stage=Stage.CANCELLED), PROMPT_FAILED)
    return Step(replace(state, retries=state.retries + 1), prompt)


class EnrolmentDialogue:
    """Small stateful wrapper for the dialogue: ``d = EnrolmentDialogue(); say(d.prompt); d.hear(text, pcm)``."""

    def __init__(self) -> None:
        self._step = start()

    @property
    def prompt(self) -> str:
        return self._step.prompt

    @property
    def step(self) -> Step:
        return self._step

    def hear(self, transcript: str, pcm: np.ndarray | None = None) -> Step:
        self._step = advance(self._step.state, transcript, pcm)
        return self._step
