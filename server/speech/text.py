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
# A control block (an intent tag, a tool call) is for the program, never for the ear: dropped with its body.
_CONTROL_BLOCK = re.compile(r"<(intent|tool_call|function_call)\b[^>]*>.*?</\1\s*>", re.S | re.I)
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
    s = _CONTROL_BLOCK.sub(" ", s)
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


# --- numbers, dates and units, read the way a Mandarin speaker says them (for TTS engines that cannot) ---
_DIGITS = "零一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")
_UNIT_WORDS = {
    "ms": "毫秒",
    "s": "秒",
    "sec": "秒",
    "min": "分钟",
    "h": "小时",
    "kb": "K",
    "kib": "K",
    "mb": "兆",
    "mib": "兆",
    "gb": "G",
    "gib": "G",
    "tb": "T",
    "tib": "T",
}
_MEASURE_AFTER_TWO = "个次位台条种项件天名倍"


def digits_zh(digits: str) -> str:
    """Digit by digit: "2026" → "二零二六" (years, ids, long numbers)."""
    return "".join(_DIGITS[int(d)] if d.isdigit() else d for d in digits)


def _group_zh(n: int) -> str:
    """0 < n < 10000."""
    out = ""
    zero = False
    for power in (3, 2, 1, 0):
        d = n // 10**power % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[d] + _SMALL_UNITS[power]
    return out


def integer_zh(n: int) -> str:
    """The spoken reading of an integer: 1234 → 一千二百三十四, 10 → 十, 15 → 十五, 100005 → 十万零五."""
    if n < 0:
        return "负" + integer_zh(-n)
    if n == 0:
        return "零"
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(_BIG_UNITS):
        return digits_zh(str(sum(g * 10000**i for i, g in enumerate(groups))))
    out = ""
    need_zero = False
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _group_zh(g) + _BIG_UNITS[i]
        need_zero = False
    if out.startswith("一十"):
        out = out[1:]  # 十五, not 一十五
    return out


def decimal_zh(text: str) -> str:
    """ "3.14" → 三点一四; "12" → 十二."""
    whole, _, frac = text.partition(".")
    head = integer_zh(int(whole)) if len(whole) <= 12 else digits_zh(whole)
    return head + ("点" + digits_zh(frac) if frac else "")


def _number(m: re.Match[str]) -> str:
    sign, text = ("负", m[0][1:]) if m[0].startswith("-") else ("", m[0])
    if "." in text:
        return sign + decimal_zh(text)
    if (len(text) > 1 and text.startswith("0")) or len(text) > 12:
        return sign + digits_zh(text)  # an id or a code: "007", a phone number
    value = int(text)
    after = m.string[m.end() : m.end() + 2].lstrip(" ")[:1]
    if value == 2 and not sign and after and after in _MEASURE_AFTER_TWO:
        return "两"  # 两个, 两次
    return sign + integer_zh(value)


def _clock(m: re.Match[str]) -> str:
    hour, minute, second = int(m[1]), int(m[2]), m[3]
    out = integer_zh(hour) + "点"
    if minute or second:
        out += ("零" if minute < 10 else "") + integer_zh(minute) + "分"
    if second and int(second):
        out += integer_zh(int(second)) + "秒"
    return out


def _date(m: re.Match[str]) -> str:
    return f"{digits_zh(m[1])}年{integer_zh(int(m[2]))}月{integer_zh(int(m[3]))}日"


def _unit(m: re.Match[str]) -> str:
    return decimal_zh(m[1]) + _UNIT_WORDS[m[2].lower()]


_THOUSANDS = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?![\d,])")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_YEAR = re.compile(r"(?<!\d)(\d{2,4})(?=年)")
_CLOCK = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_VERSION = re.compile(r"(?<![\w.])[vV]?(\d+(?:\.\d+){2,})(?![\w.])")
_WITH_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s?(ms|sec|min|[KMGT]i?B|s|h)(?![A-Za-z])", re.I)
_NUMBER = re.compile(r"(?<![A-Za-z])-?\d+(?:\.\d+)?")
_RANGE = re.compile(r"(?<=\d)\s*[-~～]\s*(?=\d)")


def numbers_to_words(text: str) -> str:
    """Dates, times, percentages, versions, quantities with units and plain numbers as spoken Chinese:
    "今天是2026年11月28日" → "今天是二零二六年十一月二十八日"; "耗时 350ms" → "耗时 三百五十毫秒";
    "错误率 12.5%" → "错误率 百分之十二点五"; "01:00" → "一点". Letters and other text are left alone."""
    if not any(c.isdigit() for c in text):
        return text
    text = _THOUSANDS.sub(lambda m: m[0].replace(",", ""), text)
    text = _ISO_DATE.sub(_date, text)
    text = _YEAR.sub(lambda m: digits_zh(m[1]), text)
    text = _CLOCK.sub(_clock, text)
    text = _PERCENT.sub(lambda m: "百分之" + decimal_zh(m[1]), text)
    text = _VERSION.sub(lambda m: "点".join(digits_zh(p) for p in m[1].split(".")), text)
    text = _WITH_UNIT.sub(_unit, text)
    text = _RANGE.sub("到", text)
    text = _NUMBER.sub(_number, text)
    return text
