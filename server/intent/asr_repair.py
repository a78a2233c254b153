"""Repairing what the recognizer mishears, before the intent layer reads it.

Whisper base hears the robot's command words as same-sounding everyday words (静默 → 经末, 九点 → 酒店,
屏蔽 → 平毕, 声纹 → 生纹) and spells Latin names letter by letter ("P.A.Y.M.E.N.T A.P.I"). The repairs are
built from the command lexicon and from how Mandarin sounds, not from transcripts:

* ``Term``: a span whose toneless pinyin equals a command word's — with the fuzzy-pinyin pairs every
  Chinese input method offers (zh/z, ch/c, sh/s, n/l, -ng/-n) — becomes that word, but only when a cue
  of the same command is elsewhere in the utterance (or, for the log kinds, "日志" follows). Small talk
  that happens to contain 节目 or 时间 has no such cue and stays small talk. ``near`` terms also accept
  one pinyin letter off (音量 ↔ 云量/饮料), and only next to unmistakable cues (调到, 百分之, a number).
* a run of spelled-out Latin letters is collapsed and fuzzily matched to a known workload name.

``listen_for`` maps what the dialogue expects to the recognizer's hotword prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from pypinyin import Style, pinyin

from server.intent.models import Expect
from server.speech.asr import Listen
from server.speech.cer import edit_distance

ANSWER_EXPECTS = (Expect.ROLLBACK, Expect.CONFIRM, Expect.DRILL)


def listen_for(expect: Expect) -> Listen:
    """The hotword prompt for the next utterance: a yes/no answer after a question, else any command."""
    return Listen.ANSWER if expect in ANSWER_EXPECTS else Listen.COMMAND


@dataclass(frozen=True)
class Term:
    """A command word and what makes hearing it plausible."""

    word: str
    cues: tuple[str, ...] = ()  # one of these elsewhere in the utterance
    followed_by: tuple[str, ...] = ()  # or: the span is directly followed by one of these
    near: bool = False  # one syllable may be a letter off (two in a 4-character term): only with clear cues
    alone: bool = False  # the span is distinctive by itself (播回滚 → 不回滚): no cue needed
    strong: tuple[str, ...] = ()  # cues that also allow the initial consonant to be off (停闭/铭闭 → 屏蔽)
    at_start: bool = False  # only at the start of the utterance
    after_number: bool = False  # also: the span directly follows a number ("一个中头" → 一个钟头)
    before_number: bool = False  # also: a number directly follows the span ("掉成零" → 调成零)
    never_from: tuple[str, ...] = ()  # real words that sound like it and stay ("消失" is never 小时)


_ALERT_WORDS = ("告警", "报警", "警报", "规则")
_ALERT_CUES = (
    *("告警", "报警", "警报", "提醒", "规则", "这条", "这个", "这类", "分钟", "小时", "一下", "掉"),
    *("几条", "哪些", "列表", "所有"),
)
# (订时: 定时 as heard, repaired after the clock)
_SCHEDULE_CUES = (
    *("播报", "提醒", "定时", "订时", "日志", "日报", "汇报", "念", "叫我", "闹钟"),
    *("每天", "每日", "天天", "每周", "工作日"),
)
_VOLUME_CUES = (
    "调到",
    "调成",
    "调大",
    "调小",
    "调高",
    "调低",
    "百分之",
    "%",
    "最大",
    "最小",
    "大一点",
    "小一点",
)
_DURATION_CUES = (*_ALERT_CUES, "后", "以后", "之后", "再", "过")
_UNITS = ("小时", "个小时", "分钟")
_SOUND_WORDS = ("音量", "声音", "大声", "小声", "静音")
_NOT_ONE = tuple(f"{c}{rest}" for c in "一已以亦" for rest in ("小时", "消失", "小事", "个小时"))
# 十 before 四: "时点" is shi-dian, 十点; with s/sh folded it would also read as 四点, and the first term wins.
# The hours of the 24-hour clock too: "十七点" heard as "时期点".
_NUMERALS = (
    *("一", "两", "二", "三", "十", "四", "五", "六", "七", "八", "九", "十一", "十二"),
    *(f"十{n}" for n in "三四五六七八九"),
    *("二十", "二十一", "二十二", "二十三"),
)

_SHI = "是事市式试世视适室"  # everyday shi characters that stand before a clock time
TERMS: tuple[Term, ...] = (
    # whole phrases first: with three syllables right, the fourth may be further off (世界日志 → 事件日志)
    *(Term(w, alone=True, near=True) for w in ("事件日志", "业务日志", "审计日志", "定时任务", "定时播报")),
    *(Term(w, alone=True, near=True) for w in ("屏蔽规则", "静默规则")),
    *(Term(w, alone=True, near=True) for w in ("前因后果", "来龙去脉")),  # 前一后果, 蓝龙去卖
    # a refusal heard as something else must not become a yes (播回滚 is no word: it was 不回滚)
    Term("不回滚", alone=True, near=True),
    Term("别回滚", alone=True),
    Term("莫回滚", alone=True),  # 墨回滚 (south-western "don't")
    Term("静默", _ALERT_CUES, near=True, strong=_ALERT_WORDS),
    Term("屏蔽", _ALERT_CUES, near=True, strong=_ALERT_WORDS),
    Term("删掉", _SCHEDULE_CUES, near=True, strong=("定时", "提醒", "闹钟", "规则")),
    Term("取消", ("定时", "播报", "提醒", "闹钟", "规则", "静默", "屏蔽"), near=True),
    Term("喂", followed_by=("小智", "，小智", ",小智"), at_start=True),  # 为小智 → 喂小智
    Term("在不在", alone=True),  # 再不在: no such phrase
    # 闭嘴吧 heard as 一嘴巴/低嘴巴: the 嘴 and the 吧/巴 after it survive
    Term("闭嘴", followed_by=("巴", "吧"), near=True, strong=("巴", "吧")),
    Term("静音", _ALERT_CUES, near=True, strong=_ALERT_WORDS),  # 告警先进医一下
    # ... and the robot's own sound turned off: "把你的声音调成见音"
    Term("静音", ("调成", "调到", "设成", "设为", "开成"), near=True),
    Term("删了", ("定时", "播报", "提醒", "闹钟", "规则"), near=True),  # 那个每日播报杀了 (sha/shan)
    # 昨儿 (zuo-er) heard as 左儿/左耳/左二 next to what one asks about a day
    *(
        Term(w, ("日志", "日报", "告警", "报警", "情况", "播", "有啥", "有什么", "有没有"))
        for w in ("昨儿个", "昨儿")
    ),
    Term("认领", ("告警", "这条", "我来"), near=True),
    # "你有哪些公们": what the robot can do, asked (men/neng: the initial off, so only with a question word)
    Term("功能", ("哪些", "什么", "啥"), near=True, strong=("哪些", "什么", "啥")),
    Term(
        "告警", ("查", "最近", "认领", "静默", "屏蔽", "处理", "多少", "哪些", "几条", "这条", "我接", "算我")
    ),
    Term("提醒", ("分钟", "小时", "稍后", "待会", "等会", "一会", "取消", "叫我")),
    # 叫我 heard as 教我 ("过一个半小时再教我"): after a wait it is a call, not a lesson
    Term("叫我", ("分钟", "小时", "钟头", "刻钟", "稍后", "待会", "等会", "一会", "过会")),
    # ... and 叫俺 (northern "me") heard as 教案/叫按 ("等一个钟头再叫按")
    Term("叫俺", ("分钟", "小时", "钟头", "刻钟", "稍后", "待会", "等会", "一会", "过会")),
    Term("定时", ("播报", "任务", "取消", "删", "列表", "设置", "添加", "每天", "去掉", "撤")),
    Term("播报", ("日志", "开始", "昨天", "今天", "前天", "定时", "每天", "取消", "一下", "自动", "设置")),
    Term("日志", ("业务", "事件", "审计", "播报", "分析")),
    Term("日报", _SCHEDULE_CUES),  # 日爆 (ri-bao) next to a schedule: "每天早上七点把日爆念一遍"
    Term("业务", followed_by=("日志",)),
    Term("事件", followed_by=("日志",)),
    Term("审计", followed_by=("日志",)),
    Term("关联", ("分析", "日志", "起来")),
    Term("回滚", ("确认", "不要", "不用", "别", "先", "要", "马上", "取消", "算了", "吧")),
    Term("声纹", ("注册", "录入", "登记", "添加", "绑定", "采集", "录制", "创建", "录", "我的")),
    Term("音量", _VOLUME_CUES, near=True, strong=_VOLUME_CUES),
    Term("音量", alone=True, before_number=True),  # a level said right after it: 营量五十 → 音量五十
    # ... or right before a verb of setting it: "营亮掉成七十"
    Term("音量", followed_by=("调成", "调到", "掉成", "掉到", "设成", "设到"), near=True),
    # (an hour after 十 is never read from 是/事/时…: "是八点的" says which one, it is no 十八点)
    *(
        Term(f"{n}点", _SCHEDULE_CUES, never_from=tuple(f"{c}{n[1:]}点" for c in _SHI if n.startswith("十")))
        for n in _NUMERALS
    ),
    *(Term(w, ("点",)) for w in ("早上", "上午", "中午", "下午", "晚上", "凌晨")),  # 下无两点 → 下午两点
    # a duration's unit right after its number: 一个中头 → 一个钟头, 俩小师 → 俩小时 (but 消失 stays 消失)
    Term("钟头", alone=True, after_number=True),
    Term("小时", alone=True, after_number=True, never_from=("消失", "小事")),
    # a volume level: 声音掉成零 → 调成零, 音量调到六时 → 六十 — only with a number and a word for the sound
    *(Term(w, _SOUND_WORDS, before_number=True) for w in ("调成", "调到")),
    *(Term(f"{n}十", _SOUND_WORDS) for n in "二三四五六七八九"),
    # durations: 两小时 → 量小失. Numerals whose homophones are everyday words (一/以/已, 十/是, 四/是,
    # 五/无) are left out: "告警已消失" must not become "告警一小时".
    *(
        Term(f"{n}{unit}", _DURATION_CUES, near=True)
        for n in ("两", "三", "六", "七", "八", "九")
        for unit in _UNITS
    ),
    # 一 heard as a character no one says before 小时 ("静默医小时"), but never the everyday 已/以 ("告警已消失",
    # "以小时为单位", "一消失就通知我")
    # (音小时 too: one letter off, as 一 is heard before 小时 in noise)
    *(Term(w, _DURATION_CUES, near=True, never_from=_NOT_ONE) for w in ("一小时", "一个小时")),
)

NUMBER_CHARS = frozenset("零〇一二两三四五六七八九十百千半廿0123456789")  # 廿: twenty (Shanghai, Wu)
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _fuzzy(syllable: str) -> str:
    """One toneless syllable with the fuzzy-pinyin pairs folded (zh→z, ch→c, sh→s, n→l, -ng→-n)."""
    for a, b in _INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a) :]
            break
    return syllable[:-1] if syllable.endswith("ng") else syllable


@lru_cache(maxsize=4096)
def readings(char: str, most: int = 9) -> frozenset[str]:
    """The ``most`` commonest readings of one character, fuzzy-folded (a command word keeps all of its
    readings; a heard character only its two commonest, so 醒's rare "jing" does not make 醒我 静默)."""
    got = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    return frozenset(_fuzzy(r) for r in got[0][:most]) if got else frozenset()


HEARD_READINGS = 2
EXACT, NEAR, FAR = 1, 2, 3  # how far a span sounds from a word (0: not alike)


def sounds_like(span: str, word: str, near: bool = False) -> bool:
    """``span`` can be read as ``word`` (same length, every syllable fuzzy-equal; ``near``: one syllable
    may be one letter off)."""
    return 0 < likeness(span, word) <= (NEAR if near else EXACT)


def likeness(span: str, word: str) -> int:
    """EXACT: every syllable fuzzy-equal; NEAR: one syllable a letter off with the same initial letter (two
    letters in a 4-character word); FAR: one syllable a letter off at its initial (停/屏); 0: not alike."""
    if len(span) != len(word) or span == word:
        return 0
    odd: tuple[frozenset[str], frozenset[str]] | None = None  # the one syllable that is not fuzzy-equal
    for a, b in zip(span, word, strict=True):
        if a != b and a in NUMBER_CHARS:
            return 0  # a number that was heard is never changed into another (两个小时 ≠ 六个小时)
        ra, rb = readings(a, HEARD_READINGS), readings(b)
        if not ra or not rb:
            return 0
        if ra & rb:
            continue
        if odd is not None:
            return 0  # two syllables off: not this word
        # a syllable that is off is judged by the heard character's commonest reading only: 前 is "qian"
        # (its rare "jian" made 当前没 sound like 当静默)
        odd = (readings(a, 1), rb)
    if odd is None:
        return EXACT
    most = 2 if len(word) >= 4 else 1
    offs = [o for x in odd[0] for y in odd[1] if (o := _syllable_off(x, y, most))]
    return min(offs) if offs else 0


def _syllable_off(a: str, b: str, most: int) -> int:
    """NEAR: 1..``most`` edits and the same initial letter (云/音); FAR: one edit at the initial (停/屏)."""
    d = edit_distance(a, b)
    if 0 < d <= most and a[:1] == b[:1]:
        return NEAR
    return FAR if d == 1 else 0


@lru_cache(maxsize=8)
def _longest_first(terms: tuple[Term, ...]) -> tuple[Term, ...]:
    return tuple(sorted(terms, key=lambda t: -len(t.word)))


# Everyday words whose characters sound like a command's: a span that would cut one of them in two is what
# was said, not a mishearing ("把刚才的发布回滚": 布回滚 is not 不回滚).
KEEP_WORDS = frozenset(
    {"发布", "公布", "宣布", "分布", "颁布", "散布", "部署", "部门", "全部", "局部", "步骤", "进步"}
    | {"一波", "这波", "那波"}  # "那一波报错" is a wave of errors, not 播报
    | {"我就", "你就", "他就", "她就", "那就", "这就"}  # 就 after these is "then" ("你播一下我就听")
    | {
        "戏服",
        "区服",
        "新服",
        "老服",
        "式服",
        "试服",
    }  # 游戏服/正式服 回滚: a game server, not 不回滚 (不 reads fou)
    # a command word already heard is not cut either ("告警已消失": 警已 is not 静音)
    | {"告警", "报警", "日志", "审计", "静默", "屏蔽", "静音", "定时", "播报", "回滚", "声纹"}
)


def _breaks_word(text: str, i: int, n: int) -> bool:
    """The span text[i:i+n] starts or ends inside one of ``KEEP_WORDS``."""
    return text[max(i - 1, 0) : i + 1] in KEEP_WORDS or text[i + n - 1 : i + n + 1] in KEEP_WORDS


def _number_before(text: str, i: int) -> bool:
    """A number (with its measure word: 一个, 两个, 俩) ends just before position ``i``."""
    before = text[:i].removesuffix("个")
    return bool(before) and (before[-1] in NUMBER_CHARS or before[-1] in "俩几")


def repair_homophones(text: str, terms: tuple[Term, ...] = TERMS) -> str:
    """Replace spans that sound like a command word when the rest of the utterance makes it plausible
    (two passes: a word repaired in the first can be the cue of another)."""
    for _ in range(2):
        text = _repair_pass(text, terms)
    return text


def _repair_pass(text: str, terms: tuple[Term, ...]) -> str:
    for term in _longest_first(terms):
        n = len(term.word)
        i = 0
        while i + n <= len(text):
            span = text[i : i + n]
            level = likeness(span, term.word) if all(_CJK.match(c) for c in span) else 0
            if (
                level
                and (level == EXACT or term.near)
                and (i == 0 or not term.at_start)
                and not _breaks_word(text, i, n)
                and span not in term.never_from
                and (not term.after_number or _number_before(text, i))
                and (not term.before_number or text[i + n : i + n + 1] in NUMBER_CHARS)
            ):
                rest = text[:i] + "|" + text[i + n :]
                after = text[i + n :]
                cued = any(c in rest for c in term.cues) or any(after.startswith(f) for f in term.followed_by)
                if any(c in rest for c in term.strong) if level == FAR else term.alone or cued:
                    text = text[:i] + term.word + text[i + n :]
                    i += n
                    continue
            i += 1
    return text


_LATIN_RUN = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|[\s.\-_·•]+(?=[A-Za-z0-9]))*")
MIN_NAME_SIMILARITY = 0.8
# How Mandarin speakers name Latin letters, as Whisper writes them in characters (皮爱 = "P I"). Only read
# right after a run of Latin letters, and kept only when the whole then matches a workload.
LETTER_NAMES: dict[str, str] = {
    **dict.fromkeys("皮批匹屁", "p"),
    **dict.fromkeys("爱艾", "i"),
    **dict.fromkeys("诶欸", "a"),
    **dict.fromkeys("比必币彼", "b"),
    **dict.fromkeys("西希", "c"),
    **dict.fromkeys("迪地低敌弟", "d"),
    **dict.fromkeys("伊衣依", "e"),
    **dict.fromkeys("吉杰", "g"),
    **dict.fromkeys("开凯", "k"),
    **dict.fromkeys("欧偶", "o"),
    **dict.fromkeys("提踢替", "t"),
    **dict.fromkeys("优尤", "u"),
}
_NAME_TAIL = re.compile(rf"[\s.]*([{''.join(LETTER_NAMES)}]{{1,3}})")


def repair_names(text: str, workloads: tuple[str, ...]) -> str:
    """ "P.A.Y.I.M.E.NT A.P.I" → "payment-api" when the collapsed letters are close to a known workload."""
    if not workloads:
        return text

    out, pos = [], 0
    for m in _LATIN_RUN.finditer(text):
        letters = re.sub(r"[^a-z0-9]", "", m.group(0).lower())
        if len(letters) < 4:
            continue
        tail = _NAME_TAIL.match(text, m.end())
        spelled = letters + "".join(LETTER_NAMES[c] for c in tail.group(1)) if tail else letters
        for candidate, end in ((letters, m.end()), (spelled, tail.end() if tail else m.end())):
            if name := _closest(candidate, workloads):
                out += [text[pos : m.start()], name]
                pos = end
                break
    return "".join([*out, text[pos:]])


def _closest(letters: str, workloads: tuple[str, ...]) -> str | None:
    best, score = None, 0.0
    for w in workloads:
        ratio = SequenceMatcher(None, letters, re.sub(r"[^a-z0-9]", "", w.lower())).ratio()
        if ratio > score:
            best, score = w, ratio
    return best if score >= MIN_NAME_SIMILARITY else None


# (Whisper may put a space between the digits and the word after them: "9.1 刻")
_DECIMAL_CLOCK = re.compile(
    r"(?<![\d.])(\d{1,2})\.(5|半|[13] ?[刻克客课颗可科]|[1-5] ?时|[0-5]\d(?: ?分)?)(?![\d.])"
)


# 上午十点 heard as 上五十点: 午 and 五 are both "wu", and the clock number follows
# (its 点 may be written as a full stop: "下53.的定时" is 下午三点的定时)
_NOON_AS_FIVE = re.compile(r"([上中下])[五5](?=(?:[一二两三四六七八九十]{1,3}|1?\d)(?:点|\.(?!\d)))")
# ... and an hour alone may be written so too, wherever a schedule is spoken of: "22.那个定时播报取消" is 22点
# (not a decimal, a list's "1." or a sentence's end after a bigger number: "调到30.")
_HOUR_STOP = re.compile(r"(?:(?<=午)|(?<![\d.第]))(1?\d|2[0-4])\.(?![\d.])(?=[\u4e00-\u9fff])")
# ... and 中午十二点 as 中52点: 午十二 (wu shi er) is 五十二, written 52. Before noon and at noon the hour that
# follows 午 is ten to twelve (nobody says 上午两点), so 上/中 + 5 + 0..2 is 午 + 10..12.
_NOON_TEN_AS_FIFTY = re.compile(r"([上中])5([0-2])(?=点|\.)")  # (上50.30分: 上午10.30分)
# ... and with 午 written too, in words: "中午五十二点" (no hour is fifty-something)
_NOON_TEN_AS_FIFTY_WORDS = re.compile(r"(?<=[上中]午)五十([一二]?)(?=点)")


# "七点把日报念一遍" written "7.8日报": 把 (ba) heard as 八 right after the hour, before what is to be read
# (nobody says 七点八 for 7:08, and 7:48 is 七点四十八)
_CLOCK_THEN_BA = re.compile(r"(?<![\d.])(\d{1,2})\.8(?=日报|日爆|日志|报告|那个|这个|今天|昨天|所有|全部)")
# 念 (nian) heard as 捏 (nie) before "once"/"a bit", after what is read
_READ_AS_PINCH = re.compile(r"(?<=日报|日爆|日志|报告)捏(?=一遍|一下|一次|给我)")


def repair_clock(text: str) -> str:
    """Whisper writes "八点半" as "8.5" or "8.半" and "九点一刻" as "9.1克" (in a schedule request that is 8:30 and
    9:15), and hears 上午十点 as 上五十点."""
    text = _READ_AS_PINCH.sub("念", _CLOCK_THEN_BA.sub(r"\1点把", text))
    if not any(c in text for c in _SCHEDULE_CUES):
        return text
    text = _NOON_TEN_AS_FIFTY_WORDS.sub(r"十\1", text)
    text = _NOON_AS_FIVE.sub(r"\1午", _NOON_TEN_AS_FIFTY.sub(r"\1午1\2", text))
    text = _HOUR_STOP.sub(r"\1点", text)
    return _DECIMAL_CLOCK.sub(_clock_from_decimal, text)


# 钟 (zhong, the southern hour: 半个钟, 两个钟头) written 中/终 after an amount; 中 after a number and 个 is
# no other word here (一个中午, 一个中国人, 一个中间件 keep theirs)
_HOUR_AS_MIDDLE = re.compile(
    r"(?<=[0-9一二两三四五六七八九十半几]个)[中终](?![午国间文年等心层型转级断期秋学])|(?<=刻)[中终](?![午国间])"
)
# 俩 (lia) heard as 那 (na) right before a unit of time: 那小时 is no phrase (那个小时 and 那小时候 are)
_TWO_AS_THAT = re.compile(r"(?<![一-龥])那(?=小时(?!候)|钟头|分钟)|(?<=[再过等])那(?=小时(?!候)|钟头|分钟)")


# 周 (zhou) heard as 中 (zhong) before a weekday: "中三部队，中四的告警" (初中三年级, 高中三年 keep theirs)
_WEEK_AS_MIDDLE = re.compile(r"(?<![初高上])中(?=[一二三四五六日天](?![年月个点号级班]))")
# ... and after 上 with the weekday as a digit: "上中6有几条报警" is 上周六 (上中 + a digit is no phrase)
_LAST_WEEK_AS_MIDDLE = re.compile(r"(?<=上)中(?=[1-7](?![0-9年月个点号级班.]))")
# 半夜 (ban-ye) heard as 半月 (ban-yue) right before a clock: "每天半月12点播一次日报" (half a month at twelve
# o'clock is nothing anyone says)
_MIDNIGHT_AS_HALF_MONTH = re.compile(r"半月(?=[0-9一二两三四五六七八九十]{1,3}[点.:])")
# 定时 (ding-shi) heard as 电视 (dian-shi, "TV") before what a schedule is: "把电视播报都关了"
_SCHEDULE_AS_TV = re.compile(r"电视(?=播报|任务|列表|提醒)|电时")  # (电时 is no word)
# ... and its final 呀 heard as 员, making an announcer of it: "我们设了几个电视播报员" (a 定时播报员 is no one)
_ANNOUNCER_AS_YA = re.compile(r"(?<=定时播报)员")
# 点 (dian) heard as 天 (tian) after a time of day and an hour: "每天下午三天帮我播一遍" is 下午三点
_HOUR_AS_DAY = re.compile(r"(?<=上午|下午|中午|晚上|早上|凌晨|傍晚)([0-9一二两三四五六七八九十]{1,3})天")
# 半 (ban) heard as 班 before an hour: "班小时以后再叫我"
_HALF_AS_SHIFT = re.compile(r"班(?=小时|个小时|个钟)")


def repair_time_words(text: str) -> str:
    """Days, amounts of time and schedules as Whisper writes them wrong: "半个中后" is 半个钟后, "那小时以后" is
    俩小时以后, "中四的告警" is 周四的. Run on the raw transcript before corrections are settled, so
    "15分钟，部队还是半个中" corrects one amount by another."""
    text = _WEEK_AS_MIDDLE.sub("周", _ANNOUNCER_AS_YA.sub("呀", _SCHEDULE_AS_TV.sub("定时", text)))
    text = _MIDNIGHT_AS_HALF_MONTH.sub("半夜", _LAST_WEEK_AS_MIDDLE.sub("周", text))
    text = _HALF_AS_SHIFT.sub("半", _HOUR_AS_DAY.sub(r"\1点", text))
    return _TWO_AS_THAT.sub("俩", _HOUR_AS_MIDDLE.sub("钟", text))


def _clock_from_decimal(m: re.Match[str]) -> str:
    """ "8.5" / "8.半" → 8点半, "9.1克" → 9点1刻, "8.45分" → 8点45分, "8.2时" → 8点20 (the 点 written as a
    decimal point)."""
    hour, rest = m.group(1), m.group(2).replace(" ", "")
    if int(hour) > 23:
        return m.group(0)
    if rest in ("5", "半"):
        return f"{hour}点半"
    if rest.endswith("时"):  # "8.2时": 八点二十, 十 heard as 时
        return f"{hour}点{rest[0]}0"
    if rest[0].isdigit() and rest[1:2].isdigit():  # "8.20", "8.45分"
        return f"{hour}点{rest[:2]}分"
    return f"{hour}点{rest[0]}刻"


# Under "是否需要针对某类日志进行更详细的分析？" a short answer names a log kind: 设计的 is 审计的, 世界 is 事件.
DRILL_ANSWER_TERMS: tuple[Term, ...] = tuple(
    Term(w, alone=True, near=True) for w in ("审计", "业务", "事件", "关联")
)
MAX_DRILL_ANSWER_CHARS = 8


# 啥 ("what", sha) heard as 杀/沙/傻/煞 after a verb that asks ("你还会杀" → 你还会啥, "有杀告警" → 有啥告警), where
# the sound-alike makes no sense; 杀 as a verb ("把pod杀了", "杀掉进程") is never after 会/有 and before the end
_WHAT = re.compile(
    r"(?<=[会有干是要做])[杀沙傻煞](?=$|[，,。？?！!吗呢呀啊]|告警|报警|事|问题|情况|异常|报错|功能|本事)"
    # ... and after 了/都 before what is asked about ("都屏蔽了杀告警", "看看都杀日志"): killing is done to a pod,
    # a process or a job, never to an alert or a log
    r"|(?<=[了都])[杀沙傻煞](?=告警|报警|日志|报错|异常|问题)"
)
# 音量 heard as 你量/引量/营量 before a setting ("你量掉到30", "引量百分之六十"): the first syllable's vowel
# survives, and none of these is a word that takes a level
# (also 一/1/年/原/预/贫 as heard for 音 before a level: "1 量75", "一量七十五", "预量掉到30%"; a number of times
# measured is no level: "你量三次")
_VOLUME_HEARD = re.compile(
    r"(?:[你引营印因阴银隐饮应英影一年原预贫]|1 ?)(?=量(?:[调掉开拆设改放](?:到|成|为|在)|百分之|[0-9]+(?![0-9次下个遍])"
    r"|[零一二两三四五六七八九十百]+(?![零一二两三四五六七八九十百次下个遍天回趟])))"
)
# 告警 heard as 高警 (gao-jing, the same sound): no word of its own, unlike 高警惕 / 高警戒
_HIGH_ALERT = re.compile(r"高警(?![惕戒觉])")


# 声纹 (sheng-wen) heard as 收文/收纹/收闻 (shou-wen) next to a verb of recording it: "给我注册一下收文",
# "收文重新录一遍". 收文 (a received document) is a word, so only with such a verb within a few characters.
_VOICEPRINT_HEARD = re.compile(r"收[文纹闻]")
_ENROLL_NEAR = re.compile(r"录|注册|登记|采集|认一下")
ENROLL_WINDOW = 6


def _voiceprint(m: re.Match[str]) -> str:
    text, start, end = m.string, m.start(), m.end()
    near = text[max(0, start - ENROLL_WINDOW) : start] + "|" + text[end : end + ENROLL_WINDOW]
    return "声纹" if _ENROLL_NEAR.search(near) else m.group(0)


# 接 (jie) heard as 见 (jian) when an alert is taken: "这个我见了" is 这个我接了 ("I see it" takes it too)
_TAKEN_HEARD = re.compile(r"(?<=我)见(?=了)(?=.{0,6}$)")
_TAKEN_CUE = re.compile(r"这[个条]|告警|报警")


# 俺 (an, northern "I") is written as the everyday 按/暗/岸/案 (and 安 before 们/想): at the start of a clause
# before what a speaker says of themself ("按来了", "按想听听", "安们的服务"), and 俺接 as 按揭 next to an
# alert ("这个告警按揭了"). The words that do start that way stay: 按照, 按时, 按钮, 按要求, 暗中, 安装…
_I_HEARD = re.compile(
    r"(?:(?<=^)|(?<=[，,。！？!?\s]))(?:[按暗岸案](?=们|来了|来啦|来咯|来喽|也想|就想|想|不想|接了|接啦|咋|今天|昨天|昨儿)"
    r"|安(?=们|想|不想|接了))"
)
_I_TOOK_HEARD = re.compile(r"(?<=[告报]警|这条|这个)[，,]?[按暗安]揭")
# "被关掉不想的告警": 不响 (does not ring) heard as 不想 (does not want) before an alert
_SILENT_HEARD = re.compile(r"不想(?=的?[告报]警)")


# 莫讲了 (don't go on, south-western) heard as 默奖了/摸奖了/摸脚了, next to another word of enough
_DONT_GO_ON_HEARD = re.compile(r"[默摸模][奖脚蒋桨](?=了|咯|啦)")
_ENOUGH_CUE = re.compile(r"好了|好啦|行了|够了|算了|别|停")
# 不了 (no thanks) heard as 不聊/不料 in an answer to a yes/no question ("不聊吧，产品那边说新功能得留着")
_NO_THANKS_HEARD = re.compile(r"(?:(?<=^)|(?<=[，,。\s]))不[聊料辽疗](?=[吧啦咯了，,。\s]|$)")


# 些啥 (xie-sha, "what all") heard as 先傻 after what one can do: "你都会先傻哥" is 你都会些啥咯
_SOME_WHAT_HEARD = re.compile(r"(?<=[会干有])先[傻沙](?!子?[逼瓜])")


# 掉 (diao, "away") heard as 调 (tiao, "turn") between a silencing verb and what it silences: "静默调他"
_AWAY_AS_TURN = re.compile(r"(?:(?<=静默|屏蔽|静音)|(?<=关))调(?=[他它她])")


def repair_pronouns(text: str) -> str:
    """俺 and 不响 as the recognizer writes them, undone (see ``_I_HEARD``); 些啥 heard as 先傻, 掉 as 调."""
    text = _AWAY_AS_TURN.sub("掉", _SOME_WHAT_HEARD.sub("些啥", text))
    text = _I_TOOK_HEARD.sub(lambda m: m.group(0)[:-2] + "俺接", text)
    return _SILENT_HEARD.sub("不响", _I_HEARD.sub("俺", text))


def repair(text: str, expect: Expect = Expect.NOTHING, workloads: tuple[str, ...] = ()) -> str:
    """The transcript with the recognizer's likely confusions of command words and workload names undone."""
    text = repair_pronouns(_VOLUME_HEARD.sub("音", _HIGH_ALERT.sub("告警", text)))
    if _ENOUGH_CUE.search(text):
        text = _DONT_GO_ON_HEARD.sub("莫讲", text)
    if expect in ANSWER_EXPECTS:
        text = _NO_THANKS_HEARD.sub("不了", text)
    text = _VOICEPRINT_HEARD.sub(_voiceprint, text)
    if _TAKEN_CUE.search(text):
        text = _TAKEN_HEARD.sub("接", text)
    text = _WHAT.sub("啥", repair_clock(repair_homophones(repair_names(text, workloads))))
    if expect is Expect.DRILL and len(_CJK.findall(text)) <= MAX_DRILL_ANSWER_CHARS:
        text = repair_homophones(text, DRILL_ANSWER_TERMS)
    return text
