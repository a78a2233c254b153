"""Streamed LLM text → speakable sentences within a time budget (pure, no I/O).

An LLM streams a few characters at a time; TTS wants whole sentences, the first as early as possible.
``SentenceStream`` cuts at sentence ends as text arrives; ``SpokenBudget`` keeps an answer within about
45 s of speech and makes sure it ends with a question that offers the next step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from server.dialogue.answers import CHARS_PER_SECOND, MAX_ANSWER_SECONDS
from server.speech.text import speakable_sentences

MAX_ANSWER_CHARS = int(MAX_ANSWER_SECONDS * CHARS_PER_SECOND)  # ≈ 200 Chinese characters
_END = re.compile(r"[。！？!?；;…]+|\n+|(?<=[^\d])\.(?=\s|$)")
_QUESTION_END = ("？", "?", "吗", "呢")


class SentenceStream:
    def __init__(self, max_chars: int = 60) -> None:
        self.buffer = ""
        self.max_chars = max_chars

    def feed(self, text: str) -> list[str]:
        """Sentences completed by ``text`` (speakable: Markdown stripped, long ones split)."""
        self.buffer += text
        out: list[str] = []
        while m := _END.search(self.buffer):
            head, self.buffer = self.buffer[: m.end()], self.buffer[m.end() :]
            out.extend(speakable_sentences(head, self.max_chars))
        return out

    def flush(self) -> list[str]:
        rest, self.buffer = self.buffer, ""
        return speakable_sentences(rest, self.max_chars) if rest.strip() else []


def is_question(sentence: str) -> bool:
    return sentence.rstrip("。.！! ").endswith(_QUESTION_END)


@dataclass
class SpokenBudget:
    """Admits sentences while they fit ``max_chars`` minus room for the closing question."""

    max_chars: int = MAX_ANSWER_CHARS
    reserve: int = 0  # characters kept free for the closing question
    spoken: list[str] = field(default_factory=list)
    full: bool = False

    @property
    def used(self) -> int:
        return sum(len(s) for s in self.spoken)

    def take(self, sentence: str) -> str | None:
        if self.full or not sentence:
            return None
        room = self.max_chars - self.reserve - self.used
        if len(sentence) > room:
            self.full = True
            if self.spoken:  # drop the sentence rather than cut it mid-way
                return None
            sentence = sentence[: max(room, 0)].rstrip("，,、：: ") + "。"
        self.spoken.append(sentence)
        return sentence

    def closing(self, question: str) -> str | None:
        """The question to append, unless the answer already ended with one (and was not cut short)."""
        if self.spoken and is_question(self.spoken[-1]) and not self.full:
            return None
        self.spoken.append(question)
        return question

    @property
    def text(self) -> str:
        return "".join(self.spoken)
