"""Fast deterministic intent matcher for the known voice commands (pure functions, no I/O).

Whisper base makes homophone errors on Chinese (日志→日治/日质/日之, 审计→神技, 业务→也无, 播报→波泡) and
sometimes answers in Traditional script. So matching happens on *fuzzy toneless pinyin*: the text is
converted to Simplified, every character becomes its toneless syllable, and commonly confused initials and
finals are merged (zh/z, ch/c, sh/s, p/b, t/d, k/g, l/n, f/h, -ng/-n). Keywords go through the same mapping,
so "波泡日质" matches "播报日志". Numbers and dates are read from a copy of the text with Chinese numerals
converted to digits ("把音量调到五十" → 50, "十一月二十号" → 11-20).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from pypinyin import lazy_pinyin

from server.intent.models import Intent
from server.intent.yesno import FIRST_THEN, YesNo, yes_no  # the one place the yes/no words live

with warnings.catch_warnings():  # zhconv imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    import zhconv

# --- keyword tables (data, not code) ---
WAKE_WORDS = ("你好小智", "嗨小智", "哈喽小智", "小智小智", "小智同学", "小智")
GREETING_ONLY = (
    "你好",
    "您好",
    "嗨",
    "哈喽",
    "在吗",
    "在不在",
    "你在吗",
    "你在不在",
    "在么",
    "早上好",
    "早安",
    "早",
    "下午好",
    "晚上好",
)
FILLERS = "啊呀吗呢吧哦嗯喂了的"

STOP_WORDS = (
    "停止", "停下", "停一下", "停停", "别说了", "不要说了", "别念了", "不要念了", "闭嘴", "暂停", "住口", "打住",
    "够了", "安静",
)  # fmt: skip
VOLUME_WORDS = (
    "音量",
    "声音大",
    "声音小",
    "声音调",
    "声音高",
    "声音低",
    "大声",
    "小声",
    "静音",
    "大点声",
    "小点声",
)
VOLUME_UP = (
    "大声", "大点声", "调大", "大一点", "大一些", "大点", "大些", "调高", "高一点", "高点", "增大", "加大",
    "响一点", "响点",
)  # fmt: skip
VOLUME_DOWN = (
    "小声", "小点声", "调小", "小一点", "小一些", "小点", "小些", "调低", "低一点", "低点", "减小", "降低",
    "轻一点", "轻点",
)  # fmt: skip
TOO_LOUD = (
    "太响",
    "太大声",
    "太吵",
    "吵死",
)  # complaints, read before the up/down words ("太大声" holds "大声")
TOO_QUIET = ("太小声", "听不清", "听不见", "听不到")
ROLLBACK_WORDS = ("回滚", "回退", "撤回变更", "回管")  # 回管: how ASR often writes 回滚 (no such word)
# a refusal before the rollback word ("先别回滚", "甭回滚", "莫回滚" — 甭/莫 are northern/south-western "don't")
# — but not 别的/别人 ("没别的办法", other), 没办法 (no other way: a resigned yes) or 不得不 (must)
ROLLBACK_DENY = re.compile(
    r"(?<!不得)不(?!得不)|别(?!的|人)|没(?!办法|别的|得选)|甭|莫|勿|取消|算了|无需|无须|暂缓|先等"
    r"|唔|无(?!论|所谓|非|疑)"  # Cantonese 唔 (heard as 无): "唔好回滚" / "无好回滚"
)
# ... or after it ("回滚就算了", "回滚先缓一缓", "回滚的事先放一放")
ROLLBACK_DENY_AFTER = re.compile(
    r"算了|不要|不用|不必|别(?!的|人)|先不|暂缓|缓一缓|缓缓|等等|再说|免了|拉倒|放一放|先放|不急|以后再|回头再|再看看|再想想|再观察"
)
ROLLBACK_CONFIRM = (
    # an order: "直接回滚", "麻烦回滚一下", "把刚才的发布回滚", "赶紧回滚"
    "直接",
    "麻烦",
    "帮我",
    "给我",
    "赶紧",
    "赶快",
    "立刻",
    "把",
    "请",
    "确认",
    "确定",
    "同意",
    "执行",
    "好的",
    "可以",
    "是的",
    "开始",
    "马上",
    "立即",
    "需要",
    "要",
)
ENROLL_WORDS = ("声纹",)
ENROLL_VERBS = ("注册", "录入", "登记", "添加", "绑定", "采集", "录制", "创建", "录")
ALERT_WORDS = ("告警", "报警", "警报", "预警", "警告")
# Colloquial and regional words → the common word, so every rule and the classifier see one spelling
# ("咋样" → "怎么样", "啥" → "什么", "昨儿个" → "昨天", "瞅瞅" → "看看", "甭" → "不用"). Longest first.
SYNONYMS: tuple[tuple[str, str], ...] = (
    ("本日", "今天"),
    ("昨儿个", "昨天"),
    ("今儿个", "今天"),
    ("前儿个", "前天"),
    ("明儿个", "明天"),
    ("昨儿", "昨天"),
    ("今儿", "今天"),
    ("前儿", "前天"),
    ("明儿", "明天"),
    ("今早", "今天早上"),
    ("今晨", "今天早上"),
    ("咋样", "怎么样"),
    ("咋回事", "怎么回事"),
    ("咋", "怎么"),
    ("啥", "什么"),
    ("干嘛", "干什么"),
    ("瞅瞅", "看看"),
    ("瞅一眼", "看一眼"),
    ("瞅", "看"),
    ("木有", "没有"),
    ("晓得", "知道"),
    ("甭", "不用"),
    ("知道啦", "知道了"),
    ("好嘞", "好的"),
    ("得嘞", "好的"),
    ("一哈", "一下"),  # south-western 播一哈 = 播一下
    ("嘞", "的"),  # south-western 周三嘞日志 = 周三的日志 (after 得嘞 above)
    # Cantonese (粤语) speakers' Mandarin: 唔 = 不, 收声 = 闭嘴
    ("喺唔喺度", "在不在"),  # 喺 = 在, 度 = there: "小智小智，喺唔喺度啊"
    ("喺唔喺", "在不在"),
    ("喺度", "在"),
    ("点样", "怎么"),  # 点样用你 = 怎么用你
    ("朝早", "早上"),
    ("一个骨", "一刻"),  # 骨 = a quarter hour: 九点一个骨 = 九点一刻
    ("三个骨", "三刻"),
    ("唔使", "不用"),
    ("唔好", "不要"),
    ("唔要", "不要"),
    ("唔系", "不是"),
    ("收声", "闭嘴"),
    ("冇需要", "不需要"),
    ("有冇", "有没有"),
    ("紧嘅", "的"),  # 静默紧嘅告警: the ones being silenced
    ("嘅", "的"),
    ("乜嘢", "什么"),
    ("咩嘢", "什么"),
    ("识唔识", "会不会"),
    ("识做", "会做"),
    ("搞细", "调小"),  # 细 = small: 声音搞细啲 = 声音调小点
    ("细声啲", "小声点"),
    ("细啲", "小点"),
    ("大声啲", "大声点"),
    ("啲咩", "什么"),  # Cantonese 做啲咩 = 做什么
    ("做咩", "做什么"),
    ("咩", "什么"),
    ("嘎哈", "干什么"),  # north-eastern 嘎哈 = 干啥
    # ops slang: 压告警 = suppress alerts ("压着的告警有几条" asks for the silenced ones)
    ("压着的", "静默的"),
    ("压住的", "静默的"),
    ("给整没", "给删掉"),  # north-eastern 整 = do: "那个定时播报给整没了" = 删掉了
    ("么子", "什么"),  # Hunan (湘语) 么子 = 什么: "你会些么子", "搞么子"
    ("幺子", "什么"),  # (what zhconv makes of 么子 on the way to simplified script)
    ("介个", "这个"),  # Tianjin 介 = 这: "介个我管了"
    ("小智儿", "小智"),  # the name with the northern 儿: "小智儿，晚上好啊"
    ("您了", "您"),  # Tianjin polite 您: "您了好"
    ("在线不", "在不在"),  # "小智，在线不？" asks whether the robot is there
    ("在线吗", "在吗"),
    ("在线么", "在吗"),
    ("俩", "两个"),  # 俩钟头 = 两个钟头
    ("俺们", "我们"),  # northern 俺 = 我
    ("俺", "我"),
    ("冇", "没"),
    ("畀人", "被人"),  # Cantonese 畀 marks the passive: "有冇告警畀人屏蔽咗" = 有没有告警被人屏蔽了
    ("边啲", "哪些"),  # Cantonese: 有边啲告警 = 有哪些告警
    ("迟啲", "晚点"),  # 迟啲再提我 = 晚点再提醒我
    ("静咗音", "静音了"),
    ("咗", "了"),
    ("嚟", "来"),
    ("搞掂", "搞定"),
    ("佢", "它"),
    ("而家", "现在"),
    ("又系", "又是"),
    ("啲", "点"),  # 快啲, 做啲乜嘢
    # Shanghainese (沪语) speakers' Mandarin: 覅 = 不要, 侬 = 你, 廿 = 二十, 等歇 = 等会儿 (阿拉 and 伐: below)
    ("覅", "不要"),
    ("侬", "你"),
    ("廿", "二十"),
    ("等歇", "等会儿"),
    ("记牢", "记住"),
    ("几只", "几个"),
    ("好伐", "好吗"),
    ("今朝", "今天"),
    ("有呒没", "有没有"),  # 呒 (m): 没
    ("呒没", "没有"),
    ("辣海", "在"),  # 辣海/勒海: (be) at, there ("告警辣海静默" = 在静默)
    ("勒海", "在"),
    ("交拨", "交给"),  # 拨: give
    ("拨侬", "给你"),
    # 轻 for a quiet voice (侬声音轻一眼 = 声音小一点), 响 for a loud one
    ("轻一眼", "小一点"),
    ("响一眼", "大一点"),
    ("响一言", "大一点"),  # (一眼 heard as its homophone 一言)
    ("轻一言", "小一点"),
    ("轻一点", "小一点"),
    ("轻点", "小点"),
    ("响一点", "大一点"),
    # colloquial 滚回 for 回滚, only with where to ("滚回上个版本"); "给我滚回去" is no rollback
    *((f"滚回{to}", f"回滚到{to}") for to in ("上", "之前", "以前", "旧", "老")),
    ("滚回到", "回滚到"),
    # "把新版本滚回去": a version sent back is a rollback (滚 heard as 归/贵)
    *((f"版本{g}回去", "版本回滚") for g in "滚归贵"),
    ("版滚回去", "版回滚"),
)
# ASR writes 昨天 as 作天/做天 (same syllables, no such word); "工作天" is a real word and stays
_CLOCK_COLON = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?!\d)")
_MISHEARD_DAY = re.compile(r"(?<![工操])作天")
# 上周四 heard as 上中四 (zhong/zhou): 上中 before a weekday number is no word
_MISHEARD_LAST_WEEK = re.compile(r"上中(?=[一二三四五六日天])")
# Shanghainese 伐 ends a question as 吗 does ("在伐？", "好伐")
_SHANGHAI_QUESTION = re.compile(r"(?<![砍征讨采杀])伐(?=\s*(?:$|[？?！!。，,、]))")  # (not 砍伐, 征伐)
# ... 勿 is 不 before a verb or a complement ("勿要", "听勿清", "勿晓得"; the written 请勿/切勿 stay)
# (Hangzhou says 伐 for 不 before 要: "那个定时播报伐要了")
_SHANGHAI_NOT = re.compile(
    r"(?<![请切])勿(?=要|清|到|见|动|用|好|对|晓得|来|行|灵|播|念|讲|响|急|忙|想)|(?<![砍征讨采杀])伐(?=要)"
)
# ... and 阿拉 is 我们, but not in 阿拉伯 (Arabic), 阿拉斯加, 阿拉丁
_SHANGHAI_WE = re.compile(r"阿拉(?![伯斯丁])")
# 定时 is separable too: "有没有定了时的播报" (not 定好时间, 定时炸弹 stays 定时)
_SPLIT_SCHEDULE = re.compile(r"定(?:了|过|好)时(?![间候])")
# 报警 is a separable verb: "报了警", "报过几次警", "都报了些啥警" are 报警 with its parts apart (not 警察);
# so is the colloquial 告警 ("有没有告过警"). 报 may be heard as 爆 or 包, 啥 as 傻/杀.
_SPLIT_ALARM = re.compile(
    r"(?P<verb>[报爆包告])(?:了|过)(?:些|几个|几次|多少个?|哪些|什么|傻|杀|一次|次)*警(?![察官车])"
)
BROADCAST_WORDS = ("播报", "汇报", "念一下", "读一下", "念给我", "读给我", "日报", "总结一下", "摘要")
DRILL_VERBS = (
    "深入", "分析", "详细", "说说", "讲讲", "看看", "查查", "查看", "查一下", "看一下", "说一下",
    "讲一下", "展开", "介绍", "怎么样", "有没有", "有什么", "情况", "细节", "具体", "解释", "为什么",
    "找出", "排查", "对比", "比较",
)  # fmt: skip
KIND_WORDS: dict[str, tuple[str, ...]] = {
    "correlate": (
        "关联",
        "三类",
        "根源",
        "根因",
        "综合分析",
        "串起来",
        "联系起来",
        "结合起来",
        "放在一起",
        "放一起",
        "放一块",
        "三种",
        "三个一起",
        "三个日志",
        "合起来",
        "合在一起",
        "一起分析",
    ),
    # lay words too: "程序自己打的那些日志" are the application's own (business) logs
    "business": (
        "业务",
        "应用日志",
        "服务日志",
        "程序日志",
        "程序打的",
        "程序自己打",
        "代码打的",
        "程序输出",
    ),
    "event": ("事件", "k8s", "kubernetes", "集群事件", "容器事件"),
    "audit": ("审计", "操作记录"),
}
LOG_WORD = "日志"
_TOGETHER = re.compile(r"和|跟|与|还有|以及|加上|对一下|对比|一起|结合")  # two kinds named together
RELATIVE_DAYS = (
    ("大前天", -3),
    ("前天", -2),
    ("昨天", -1),
    ("昨日", -1),
    ("昨晚", -1),
    ("今天", 0),
    ("今日", 0),
    ("今晚", 0),  # "今晚告警多不多": tonight is today's log
    ("今早", 0),
)
SHORT_KIND_QUERY = 8  # "审计日志呢" alone is a drill-down; longer sentences need a verb

_KEEP = re.compile(r"[^0-9a-z\u4e00-\u9fff]")
_INITIALS = (
    ("zh", "z"),
    ("ch", "c"),
    ("sh", "s"),
    ("p", "b"),
    ("t", "d"),
    ("k", "g"),
    ("l", "n"),
    ("f", "h"),
)
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL_RUN = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_WEEKDAY_BEFORE_NUMBER = re.compile(r"((?:周|星期|礼拜)[一二三四五六日天])(?=[零〇一二两三四五六七八九十])")


# --- text normalisation ---
# English words Chinese engineers mix in ("rollback 一下", "cancel 那个 schedule", "today 的 log") → the Chinese
# word, matched as whole words while the spaces are still there ("blog" and "login" hold no log)
ENGLISH_WORDS: dict[str, str] = {
    "yesterday": "昨天",
    "today": "今天",
    "rollback": "回滚",
    "roll back": "回滚",
    "voiceprint": "声纹",
    "application": "应用",
    "schedule": "定时",
    "remind": "提醒",
    "cancel": "取消",
    "volume": "音量",
    "audit": "审计",
    "event": "事件",
    "events": "事件",
    "log": "日志",
    "logs": "日志",
    "root cause": "根因",
    "rootcause": "根因",
    "rca": "根因分析",
    "correlate": "关联分析",
    "snooze": "稍后再提醒",  # "snooze 一下，45分钟"
    "off": "关",  # "这个alert先off掉一个钟"
    "mute": "静音",
    "silence": "静默",  # "这个alert给我silence两个小时", "看下当前的silence"
    "silenced": "静默",
    "take": "接",  # "这个告警我 take 了"
    "function": "功能",  # "你有咩 function"
    "functions": "功能",
    "good morning": "早上好",
    "good afternoon": "下午好",
    "good evening": "晚上好",
    "emo": "心累",  # slang for feeling low
    "alert": "告警",
    "alerts": "告警",
    "cue": "提醒",  # office slang: "10分钟后再cue我" = remind me
    "min": "分钟",  # "10min后"
    "mins": "分钟",
    "minute": "分钟",
    "minutes": "分钟",
    "hour": "小时",
    "hours": "小时",
    "hr": "小时",
    "hrs": "小时",
}
_ENGLISH = re.compile(
    "(?<![a-z])(?:" + "|".join(sorted(map(re.escape, ENGLISH_WORDS), key=len, reverse=True)) + ")(?![a-z])"
)


_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")


def normalize(text: str) -> str:
    """Simplified script, half-width, lower case, only Han characters, ASCII letters and digits; English
    words of the trade and colloquial and regional words replaced by the common one (``ENGLISH_WORDS``,
    ``SYNONYMS``)."""
    s = _CLOCK_COLON.sub(r"\1点\2", unicodedata.normalize("NFKC", text))  # "9:15" → "9点15" before ":" goes
    s = _ENGLISH.sub(lambda m: ENGLISH_WORDS[m.group(0)], zhconv.convert(s, "zh-cn").lower())
    s = _SHANGHAI_NOT.sub("不", _SHANGHAI_WE.sub("我们", _SHANGHAI_QUESTION.sub("吗", s)))
    s = _KEEP.sub("", _PERCENT.sub(r"百分之\1", s))  # "30%" as the recognizer writes 百分之三十
    for word, common in SYNONYMS:
        if word in s:
            s = s.replace(word, common)
    s = _MISHEARD_LAST_WEEK.sub("上周", _MISHEARD_DAY.sub("昨天", s))
    s = _SPLIT_SCHEDULE.sub("定时", s)
    return _SPLIT_ALARM.sub(lambda m: "告警" if m.group("verb") == "告" else "报警", s)


def fuzzy_syllable(syllable: str) -> str:
    s = syllable.lower()
    for src, dst in _INITIALS:
        if s.startswith(src):
            s = dst + s[len(src) :]
            break
    if len(s) > 2 and s.endswith("ng"):
        s = s[:-1]
    return s


def _split_chars(chunk: str) -> Any:
    return list(chunk)


@lru_cache(maxsize=4096)
def fuzzy_key(text: str) -> tuple[str, ...]:
    """One fuzzy syllable per character of normalised ``text`` (non-Han characters stand for themselves)."""
    # non-Han runs come back one item per character (pypinyin accepts a list; its stubs say str)
    syllables = lazy_pinyin(text, errors=_split_chars)
    if len(syllables) != len(text):  # pypinyin always maps Han 1:1; guard against surprises anyway
        syllables = [lazy_pinyin(ch, errors=_split_chars)[0] for ch in text]
    return tuple(fuzzy_syllable(s) for s in syllables)


@dataclass(frozen=True)
class _Utterance:
    text: str  # normalised
    key: tuple[str, ...]  # fuzzy pinyin, aligned with text
    digits: str  # text with Chinese numerals converted to Arabic digits

    @classmethod
    def of(cls, text: str) -> _Utterance:
        return cls(text, fuzzy_key(text), numerals_to_digits(text))

    def find(self, word: str, start: int = 0) -> int:
        """Index of the first fuzzy occurrence of ``word`` at or after ``start``, or -1."""
        needle = fuzzy_key(normalize(word))
        n = len(needle)
        if n == 0:
            return -1
        for i in range(start, len(self.key) - n + 1):
            if self.key[i : i + n] == needle:
                return i
        return -1

    def has(self, *words: str) -> bool:
        return any(self.find(w) >= 0 for w in words)

    def positions(self, word: str) -> list[int]:
        found, i = [], self.find(word)
        while i >= 0:
            found.append(i)
            i = self.find(word, i + 1)
        return found


# --- numbers and dates ---
def cn_to_int(numeral: str) -> int | None:
    """'五十' → 50, '一万两千' → 12000, '十一' → 11, '一二三' → 123, '50' → 50; None if not a number."""
    if numeral.isdigit():
        return int(numeral)
    if not numeral or any(ch not in _CN_DIGITS and ch not in _CN_UNITS and ch != "万" for ch in numeral):
        return None
    if all(ch in _CN_DIGITS for ch in numeral):  # digit by digit: 一二三 / 二零二四
        return (
            int("".join(str(_CN_DIGITS[ch]) for ch in numeral)) if len(numeral) > 1 else _CN_DIGITS[numeral]
        )
    total, section, digit = 0, 0, None
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit = None
        else:  # 万
            section += digit or 0
            total += (section or 1) * 10000
            section, digit = 0, None
    return total + section + (digit or 0)


def numerals_to_digits(text: str) -> str:
    """Chinese numerals → digits; 百分之N → N%. A lone unit (百/千/万) is a word, not a number."""

    def repl(m: re.Match[str]) -> str:
        run = m.group(0)
        value = None if run in ("百", "千", "万") else cn_to_int(run)
        return run if value is None else str(value)

    # a weekday is not the first digit of the next number: "周五八点" is Friday 8:00, not 58 o'clock
    text = _WEEKDAY_BEFORE_NUMBER.sub(r"\1,", text.replace("百分之", "%"))
    return _CN_NUMERAL_RUN.sub(repl, text)


_FULL_DATE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})[日号]")
# "周五日志", "上周五日报", "礼拜五日报": a weekday and a log or report, not the 5th
_DAY_ONLY = re.compile(r"(?<![\d月周期拜])(\d{1,2})(?:日(?![志报])|号)")


def parse_day(u: _Utterance | str, today: date) -> date | None:
    """Relative days (今天/昨天/前天/大前天) and dates (11月20号, 2024年11月20日, 20号)."""
    if isinstance(u, str):
        u = _Utterance.of(normalize(u))
    for word, offset in RELATIVE_DAYS:
        if word in u.text:
            return today + timedelta(days=offset)
    if m := _FULL_DATE.search(u.digits):
        year = int(m.group(1)) if m.group(1) else None
        return _infer_year(year, int(m.group(2)), int(m.group(3)), today)
    if m := _DAY_ONLY.search(u.digits):
        return _infer_year(None, today.month, int(m.group(1)), today)
    return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _infer_year(year: int | None, month: int, day: int, today: date) -> date | None:
    """Without a year, a date in the future means last year ("12月31号" said on 1 January)."""
    if year is not None:
        return _safe_date(year, month, day)
    candidate = _safe_date(today.year, month, day)
    if candidate and candidate > today:
        return _safe_date(today.year - 1, month, day) if month != today.month else None
    return candidate


# "大一点" becomes "大1点" in the digits copy: a number followed by 点/些/下 is not a level
# a level said as a number ("调到65", "调整至百分之三十" → "调整至%30", "音量30%" as the recognizer writes it);
# 至 is the written 到
_VOLUME_NUMBER = re.compile(
    r"(?:音量|声音|调到|调至|调成|设为|设成|设置为|设置成|改成|改为|到|至|%)\D{0,3}?(\d{1,3})(?![\d点些下])"
    r"|(?<!\d)(\d{1,3})%"
)


def volume_level(u: _Utterance) -> int | None:
    """The level a volume request names as a number (0–100), or None."""
    if m := _VOLUME_NUMBER.search(u.digits):
        return max(0, min(100, int(m.group(1) or m.group(2))))
    return None


def parse_volume(u: _Utterance) -> dict[str, int] | None:
    if (level := volume_level(u)) is not None:
        return {"volume": level}
    if any(w in u.text for w in TOO_LOUD):
        # "这告警吵死了，压掉它": the alert is what is too loud, not the robot's voice
        if u.has(*ALERT_WORDS) and not u.has("音量", "声音", "你"):
            return None
        return {"delta": -10}
    if any(w in u.text for w in TOO_QUIET):
        return {"delta": 10}
    if u.has("静音"):  # "这条告警先静音" mutes the alert (a silence), not the speaker
        return None if u.has(*ALERT_WORDS) else {"volume": 0}
    if u.has("最低", "最小"):
        return {"volume": 0}
    if u.has("最大"):
        return {"volume": 100}
    # a direction word as written outranks a sound-alike ("声音小一点，我在打电话": 打电 sounds like 大点)
    written = [w for w in (*VOLUME_UP, *VOLUME_DOWN) if w in u.text]
    if written:
        return {"delta": 10} if min(written, key=u.text.index) in VOLUME_UP else {"delta": -10}
    if u.has(*VOLUME_UP):
        return {"delta": 10}
    if u.has(*VOLUME_DOWN):
        return {"delta": -10}
    return None


# --- the matcher ---
_OPENERS = re.compile(
    r"^(?:嗯+|喂+|哎+|诶+|嘿+|嗨+|哈喽|hi|hello|你好呀?|您好|在吗|在不在|早上好|早安|早啊|下午好|晚上好)+"
)


def strip_wake_word(text: str) -> str:
    """Remove a leading wake word ("你好小智", "小智", also after an opener: "喂，小智", "你好呀小智") from
    normalised text, fuzzily."""
    for start in (0, m.end() if (m := _OPENERS.match(text)) else 0):
        u = _Utterance.of(text[start:])
        for wake in WAKE_WORDS:
            needle = fuzzy_key(wake)
            if u.key[: len(needle)] == needle:
                return text[start + len(needle) :]
    return text


def match_intent(text: str, today: date | None = None, pending: str | None = None) -> Intent | None:
    """The intent of one utterance, or None when it is not a known command (→ LLM router or chat).

    ``today`` resolves relative days (pass the owner's local date); ``pending="rollback"`` means the robot
    just asked "是否回滚?", so a bare "确认"/"不用" answers it.
    """
    today = today or date.today()
    norm = normalize(text)
    if not norm:
        return None
    rest = strip_wake_word(norm)
    if not rest.strip(FILLERS) or rest.strip(FILLERS) in GREETING_ONLY:
        return Intent("greeting", {}, text=norm)
    u = _Utterance.of(rest)

    def intent(name: str, **args: object) -> Intent:
        return Intent(name, {k: v for k, v in args.items() if v is not None}, text=norm)

    if pending == "rollback" and (answer := _yes_no(rest)):
        return intent(answer)
    if u.has(*STOP_WORDS) and not u.has(*ROLLBACK_WORDS):
        return intent("stop")
    if u.has(*VOLUME_WORDS, "调大", "调小") and (vol := parse_volume(u)):
        return intent("volume", **vol)
    if u.has(*ROLLBACK_WORDS) and (answer := _rollback_answer(u)):
        return intent(answer)
    if _is_enroll(u):
        return intent("enroll_voiceprint")
    day = parse_day(u, today)
    day_iso = day.isoformat() if day else None
    kind = _log_kind(u)
    if u.has(*ALERT_WORDS):
        return intent("alerts", day=day_iso)
    if u.has(*BROADCAST_WORDS):
        return intent("broadcast", day=day_iso, kind=kind)
    if kind and (u.has(*DRILL_VERBS) or len(u.text) <= SHORT_KIND_QUERY):
        return intent("drill_down", kind=kind, day=day_iso)
    return None


def _yes_no(text: str) -> str | None:
    answer = yes_no(text)
    if answer is None:
        return None
    return "rollback_confirm" if answer is YesNo.YES else "rollback_deny"


_QUESTION = re.compile(r"(?:吗|么|嘛)$|是否|要不要|能不能|会不会|可不可以|可以不|行不行")


# a request made and then a polite tag asked after it ("麻烦你帮忙把挂号那个服务回滚一下，可以吗"): the request
# stands, the tag only softens it. (Not "能不能帮我回滚": that asks whether it can be done.)
_POLITE_TAG = re.compile(
    r"^(?:麻烦|劳驾|请)?.{0,3}(?:麻烦|帮我|帮忙|请你?).{2,}?(?:一下|掉)(?:可以|好|行)(?:吗|么|嘛|不)$"
)


def is_question(text: str) -> bool:
    """A question ("你会回滚吗", "要不要回滚") asks; it never approves anything."""
    text = text.rstrip("了啊呀呢吧")
    return bool(_QUESTION.search(text)) and not (
        _POLITE_TAG.search(text) and not re.search(r"能不能|会不会|要不要|是否|可不可以", text)
    )


_A_NOT_A = re.compile(r"(.)不\1")  # 能不能, 可不可以, 行不行: asking, not refusing


# 要不 proposes ("要不就回滚吧": how about rolling back); its 不 refuses nothing ("没必要不回滚" keeps its 不)
_PROPOSAL = re.compile(r"要不(?=就|咱|我们|还是|然|干脆|直接)")
# ... unless what it proposes is to leave it: "要不还是不要了吧", "要不还是算了"
_PROPOSED_REFUSAL = re.compile(r"要不(?:咱|我们)?还是(?:先)?(?:不|别|算了|甭|莫|免了)")
# a worry about the rollback just before it: "我怕回滚了挂号那边出问题", "担心回滚会丢数据"
_WORRY = re.compile(r"(?<!不)怕|担心|担忧|万一")


# the release judged no good before the rollback ("这版本不行，回滚吧"): a reason to roll back, not a refusal
_RELEASE_JUDGED_BAD = re.compile(
    r"(?:版本|这版|新版|这一版|发布|上线|代码|镜像|改动|变更)(?:太|真|实在|确实|根本|完全|明显)?不(?:行|好|稳|对劲|靠谱)了?"
)


def _rollback_answer(u: _Utterance) -> str | None:
    where = min(p for w in ROLLBACK_WORDS if (p := u.find(w)) >= 0)
    proposed = _PROPOSAL.search(u.text[:where]) is not None
    before = _PROPOSAL.sub("", _A_NOT_A.sub(r"\1", u.text[:where]))
    judged_bad = _RELEASE_JUDGED_BAD.search(before) is not None
    before = _RELEASE_JUDGED_BAD.sub("", before)
    if any(q in u.text for q in ("吗", "要不要", "是否", "为什么", "什么", "怎么")):
        return None  # a question about rolling back, not an answer
    if FIRST_THEN.search(u.text):
        return "rollback_confirm"
    if (
        ROLLBACK_DENY.search(before[-4:])
        or _WORRY.search(before[-3:])
        or _PROPOSED_REFUSAL.search(u.text[:where])
    ):
        return "rollback_deny"
    after = u.text[where:]
    if ROLLBACK_DENY_AFTER.search(after[2:8]):
        return "rollback_deny"
    if (
        any(w in before for w in ROLLBACK_CONFIRM)
        or proposed
        or judged_bad
        or len(u.text.strip(FILLERS)) <= 3
    ):
        return "rollback_confirm"
    return None


# "把我声音录进去", "录一下我的声音": the speaker's own voice recorded is the voiceprint, said without the word
_OWN_VOICE_RECORDED = re.compile(r"(?:我|我的|我自己的?)声音录|录(?:一下|下|入)?(?:我|我的|我自己的?)声音")


def _is_enroll(u: _Utterance) -> bool:
    if u.has(*ENROLL_WORDS) or _OWN_VOICE_RECORDED.search(u.text):
        return True
    # "注册声…" survives the usual ASR damage to 纹 (注册声纹 → 住策声轮)
    voice = fuzzy_key("声")
    for verb in ENROLL_VERBS:
        for pos in u.positions(verb):
            end = pos + len(verb)
            if len(verb) > 1 and voice[0] in u.key[end : end + 2]:
                return True
    return False


def _log_kind(u: _Utterance) -> str | None:
    """The log kind named in the utterance; a kind directly followed by 日志 outweighs a bare one."""
    if u.has(*KIND_WORDS["correlate"]):
        return "correlate"
    log_key = fuzzy_key(LOG_WORD)
    strong: list[tuple[int, str]] = []
    weak: list[tuple[int, str]] = []
    for kind, words in KIND_WORDS.items():
        if kind == "correlate":
            continue
        for word in words:
            for pos in u.positions(word):
                end = pos + len(normalize(word))
                followed = u.key[end : end + 2] == log_key or word.endswith(LOG_WORD)
                (strong if followed else weak).append((pos, kind))
    strong_kinds = {k for _, k in strong}
    named = strong_kinds | {k for _, k in weak}
    if len(strong_kinds) >= 2 or len(named) >= 3 or (len(named) == 2 and _TOGETHER.search(u.text)):
        return "correlate"  # two kinds of log ("业务和审计"), or all three named: read together
    if strong_kinds:
        return strong_kinds.pop()
    if weak:
        return min(weak)[1]
    return None
