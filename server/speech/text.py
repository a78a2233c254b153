"""Make reply text speakable and cut it into sentences for TTS (pure functions).

LLM answers and analysis files are Markdown; read aloud, "**", "- " or a URL are noise. Sentences are the
unit of TTS and of the device's `sentence_start` subtitle, so they must be short enough to render quickly.
"""

from __future__ import annotations

import re

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_INLINE_CODE = re.compile(r"`([^`]*)`")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\uff00-\uffef<>\"')\]]+", re.I)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.M)
_QUOTE = re.compile(r"^\s*>+\s?", re.M)
# "- x", "* x", "+ x", "1. x", "1) x", "1、x", "（1）x" at the start of a line; "1.5 倍" is not a marker.
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•·]\s+|\d{1,3}[.)]\s+|\d{1,3}、|[（(]\d{1,3}[）)]\s*)", re.M)
_RULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$", re.M)
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$", re.M)
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, symbols & pictographs ext.
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u2b00-\u2bff"  # arrows/stars used as emoji
    "\ufe0f\u200d\u20e3"  # variation selector, zero-width joiner, keycap
    "\U000e0020-\U000e007f"  # tag sequences (flags)
    "]+"
)
_LEFTOVER_MARKUP = re.compile(r"[*#`|~^]+")
_SPACES = re.compile(r"[ \t\u3000]+")

# Strong sentence ends: Chinese ones always; ASCII ones only when not inside a number ("3.5", "v1.2").
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;…])|(?<=\.)(?!\d)|\n+")
_SOFT_BREAK = re.compile(r"(?<=[，,、：:])(?!\d)")
_ONLY_PUNCT = re.compile(r"^[\s\W_]*$")


def speakable(text: str) -> str:
    """Strip Markdown, code, URLs, HTML and emoji; keep words, numbers and sentence punctuation."""
    s = text.replace("\r\n", "\n")
    s = _CODE_BLOCK.sub(" ", s)
    s = _INLINE_CODE.sub(r"\1", s)
    s = _IMAGE.sub(r"\1", s)
    s = _LINK.sub(r"\1", s)
    s = _URL.sub(" ", s)
    s = _HTML_TAG.sub(" ", s)
    s = _TABLE_SEP.sub("", s)
    s = _RULE.sub("", s)
    s = _HEADING.sub("", s)
    s = _QUOTE.sub("", s)
    s = _LIST_MARKER.sub("", s)
    for _ in range(2):  # nested emphasis such as ***x*** or **_x_**
        s = _EMPHASIS.sub(r"\2", s)
    s = _EMOJI.sub("", s)
    s = _LEFTOVER_MARKUP.sub(" ", s)
    lines = [_SPACES.sub(" ", line).strip() for line in s.split("\n")]
    return "\n".join(line for line in lines if line)


def split_sentences(text: str, max_chars: int = 60) -> list[str]:
    """Split speakable text into sentences of at most ``max_chars`` characters.

    Splits on sentence punctuation first, then on commas for long sentences, then hard-splits. A line
    without final punctuation (a Markdown heading or list item) counts as its own sentence.
    """
    if max_chars < 2:
        raise ValueError("max_chars must be >= 2")
    out: list[str] = []
    for raw in _SENTENCE_END.split(text):
        sentence = raw.strip()
        if not sentence or _ONLY_PUNCT.match(sentence):
            continue
        out.extend(_fit(sentence, max_chars))
    return out


def speakable_sentences(text: str, max_chars: int = 60) -> list[str]:
    return split_sentences(speakable(text), max_chars)


def _fit(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    current = ""
    for part in _SOFT_BREAK.split(sentence):
        if current and len(current) + len(part) > max_chars:
            pieces.append(current.strip())
            current = ""
        current += part
    if current.strip():
        pieces.append(current.strip())
    fitted: list[str] = []
    for piece in pieces:
        while len(piece) > max_chars:
            cut = _hard_cut(piece, max_chars)
            fitted.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece and not _ONLY_PUNCT.match(piece):
            fitted.append(piece)
    return fitted


def _hard_cut(piece: str, max_chars: int) -> int:
    """Cut at a space if one is near the end (English), never inside a run of digits."""
    space = piece.rfind(" ", max_chars // 2, max_chars)
    if space > 0:
        return space
    cut = max_chars
    while cut > max_chars // 2 and piece[cut - 1].isdigit() and piece[cut].isdigit():
        cut -= 1
    return cut
