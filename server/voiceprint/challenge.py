"""Spoken challenge for sensitive actions: fresh random digits, spoken back in time, by the right voice, once.

A replayed recording fails because the digits are new for every challenge, and a challenge is consumed by its
first verification attempt (pass or fail), so it can never be answered twice.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from server.voiceprint.scoring import Identification

DEFAULT_TTL_S = 30.0
CN_DIGITS = "零一二三四五六七八九"

# toneless pinyin -> digit: ASR may write a homophone (依/衣 for 一, 酒 for 九, 溜 for 六) or the spoken forms
# 幺 (1) and 两 (2). 十/是 (shi) are deliberately absent: they are not digits, and guessing would accept wrong answers.
_PINYIN_DIGIT = {
    "ling": "0",
    "dong": "0",
    "yi": "1",
    "yao": "1",
    "er": "2",
    "liang": "2",
    "san": "3",
    "si": "4",
    "wu": "5",
    "liu": "6",
    "lu": "6",
    "qi": "7",
    "ba": "8",
    "jiu": "9",
}
_CHAR_DIGIT = {c: str(i) for i, c in enumerate(CN_DIGITS)} | {"〇": "0", "幺": "1", "两": "2", "兩": "2"}


def spoken_digits(transcript: str) -> str:
    """Digits heard in a transcript: '3 8 1 5', '三八一五', '三八幺五', '叁捌壹伍'→'3815', '散吧依舞' → '3815'."""
    from pypinyin import Style, lazy_pinyin

    out: list[str] = []
    for ch in transcript or "":
        if ch.isdigit() and ch.isascii():
            out.append(ch)
        elif "０" <= ch <= "９":
            out.append(str(ord(ch) - ord("０")))
        elif ch in _CHAR_DIGIT:
            out.append(_CHAR_DIGIT[ch])
        elif "\u4e00" <= ch <= "\u9fff":
            py = lazy_pinyin(ch, style=Style.NORMAL)[0]
            digit = _PINYIN_DIGIT.get(py)
            if digit:
                out.append(digit)
    return "".join(out)


def speak_digits(digits: str) -> str:
    """'3815' -> '三 八 一 五' (what TTS reads; spaced so each digit is said separately)."""
    return " ".join(CN_DIGITS[int(d)] for d in digits)


class Verdict(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown_challenge"
    USED = "already_used"
    EXPIRED = "expired"
    DIGITS_MISMATCH = "digits_mismatch"
    VOICE_MISMATCH = "voice_mismatch"


@dataclass(frozen=True)
class Challenge:
    id: str
    owner_id: int
    action: str
    digits: str
    issued_at: float
    expires_at: float

    @property
    def prompt(self) -> str:
        secs = round(self.expires_at - self.issued_at)
        return f"为了确认是你本人，请在{secs}秒内读出这几个数字：{speak_digits(self.digits)}"


@dataclass(frozen=True)
class ChallengeResult:
    verdict: Verdict
    challenge_id: str
    heard: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


def judge(challenge: Challenge, transcript: str, ident: Identification, now: float) -> Verdict:
    """Pure decision for an unused challenge. Time first, then the words, then the voice."""
    if now > challenge.expires_at:
        return Verdict.EXPIRED
    if spoken_digits(transcript) != challenge.digits:
        return Verdict.DIGITS_MISMATCH
    if ident.owner_id is None or ident.owner_id != challenge.owner_id:
        return Verdict.VOICE_MISMATCH
    return Verdict.OK


def _random_digits(lo: int, hi: int) -> str:
    """Fresh digits from the OS CSPRNG: a recording of an earlier answer is useless."""
    n = lo + secrets.randbelow(hi - lo + 1)
    return "".join(str(secrets.randbelow(10)) for _ in range(n))


class ChallengeManager:
    """Issues and verifies challenges; thread-safe; keeps only outstanding challenges in memory."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        digits: tuple[int, int] = (4, 6),
        clock: Callable[[], float] = time.monotonic,
        draw_digits: Callable[[int, int], str] | None = None,
    ) -> None:
        if not 1 <= digits[0] <= digits[1]:
            raise ValueError("digits must be (min, max) with 1 <= min <= max")
        self.ttl_s = ttl_s
        self.digit_range = digits
        self.clock = clock
        self.draw_digits = draw_digits or _random_digits  # injectable only so tests can say the answer
        self._open: dict[str, Challenge] = {}
        self._used: dict[
            str, float
        ] = {}  # id -> when it was consumed (kept one TTL to report "already used")
        self._lock = threading.Lock()

    def issue(self, owner_id: int, action: str = "") -> Challenge:
        digits = self.draw_digits(*self.digit_range)
        now = self.clock()
        ch = Challenge(secrets.token_urlsafe(12), owner_id, action, digits, now, now + self.ttl_s)
        with self._lock:
            self._purge(now)
            self._open[ch.id] = ch
        return ch

    def verify(self, challenge_id: str, transcript: str, ident: Identification) -> ChallengeResult:
        """Consumes the challenge whatever the outcome: one attempt per challenge."""
        now = self.clock()
        with self._lock:
            ch = self._open.pop(challenge_id, None)
            if ch is None:
                verdict = Verdict.USED if challenge_id in self._used else Verdict.UNKNOWN
                return ChallengeResult(verdict, challenge_id)
            self._used[challenge_id] = now
        return ChallengeResult(judge(ch, transcript, ident, now), challenge_id, spoken_digits(transcript))

    def _purge(self, now: float) -> None:
        for cid in [c for c, ch in self._open.items() if now > ch.expires_at + self.ttl_s]:
            self._used[cid] = now  # an expired challenge still counts as spent
            del self._open[cid]
        for cid in [c for c, t in self._used.items() if now - t > 10 * self.ttl_s]:
            del self._used[cid]
