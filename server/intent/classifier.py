"""A small intent classifier over the paraphrase catalogue (data/catalogue.tsv), no LLM, no network.

Features are character n-grams of the utterance, n-grams of its fuzzy toneless pinyin, so an ASR
homophone ("神技日志" for "审计日志", "告井" for "告警") lands on the same features as the word it stands
for, and *concepts*: words that mean the same thing to this robot ("静默/屏蔽/静音/压制" → MUTE, "定时/闹钟/
每天/工作日" → SCHED, "取消/删掉/撤销/停掉" → CANCEL), with the pairs of concepts an utterance holds, so a
paraphrase built from synonyms the catalogue never used still lands near its intent. Days, numbers and
workload names are replaced by placeholders first, so "前天的业务日志" and "11月20号的业务日志" look alike.
Logistic regression gives calibrated scores, which the caller uses to ask back when the two best intents are
close. The training data is the paraphrase catalogue and the utterances other engineers
wrote for the phrase bank's tuning sets (data/heard.tsv, ~5,200 rows); the classifier for transcripts is also
trained on Whisper's transcripts of those utterances said by the synthetic voices (data/heard_asr.tsv, ~16,000
rows), so it has seen how the recognizer mishears this vocabulary. Training (saga, tol 1e-3) takes 5 s, or
25–35 s with the transcripts, on this 2-core machine, so the server keeps trained models on disk (``trained``)
and loads them in under a second.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import pickle
import re
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from server.intent.matcher import fuzzy_key

log = logging.getLogger(__name__)

CATALOGUE = "catalogue.tsv"
HEARD = "heard.tsv"  # the phrase bank's tuning sets, as training data
HEARD_ASR = "heard_asr.tsv"  # what the recognizer made of those sets when synthetic voices said them
_DAY = re.compile(
    r"(大前天|前天|昨天|昨日|昨晚|今天|今日|明天|(?:上上|上个?|这个?|本)?(?:周|星期|礼拜)[一二三四五六日天])"
)
_NUMBER = re.compile(r"[0-9零〇一二两三四五六七八九十百千]+(?=[月日号点分个小钟天%])")


# Domain vocabulary: concept → the words that say it (normalised text, after ``masked``). Longest words win.
# fmt: off
CONCEPTS: dict[str, tuple[str, ...]] = {
    "ALERT": ("告警", "报警", "警报", "预警", "警告", "报红", "监控", "次警", "回警", "报过警", "报了警", "alert"),
    # an alert still open: "没处理的告警", "还没恢复的"
    "OPEN": ("没处理", "未处理", "待处理", "没解决", "未解决", "没恢复", "未恢复", "还没好", "没人管"),
    "MUTE": ("静默", "屏蔽", "静音", "消音", "mute", "闷了", "闷掉", "闷一下", "压制", "压一压", "压数", "先压", "压到", "压住", "免打扰", "关掉通知", "关了通知", "不通知", "别通知", "别报", "不要报", "别再报", "别发", "别推",
             "别再推", "别再响", "不要再响", "别再通知"),
    # a silence that already exists: "被屏蔽的告警", "静音了的" — something to list, not to create
    "MUTED": ("有静默", "有屏蔽", "有没有静默", "有没有屏蔽", "关掉提醒", "关了提醒", "不提醒", "不提醒的", "设成不提醒", "别吵的", "别报的", "不报的", "不响的","被mute", "mute了的", "mute掉的", "被静音", "被静默", "被屏蔽", "被压制", "被压", "被我压", "被我屏蔽", "被我静音", "被我静默", "静音了的",
              "静默了的", "屏蔽了的", "静默中", "屏蔽中", "在静默", "在屏蔽", "静默着", "屏蔽着", "压掉的", "屏蔽掉的", "静音掉的"),
    "SCHED": ("定时", "闹钟", "计划", "播报计划", "每天", "每周", "每晚", "每个工作日", "工作日", "天天", "日程", "自动", "时间表",
              "播报时间", "几点播", "定好的", "平时", "平常", "通常"),
    "FUTURE": ("以后", "今后", "往后", "从明天"),
    "TIME": ("数点", "早上", "上午", "中午", "下午", "晚上"),
    "CREATE": ("添加", "新建", "创建", "加一条", "加个", "加一个", "设置", "设个", "设一个", "定个", "定一个",
               "建一个", "建个", "订一个", "订个"),
    "CANCEL": ("取消", "删除", "删掉", "删了", "撤销", "撤掉", "撤了", "撤", "关掉", "关了", "关闭", "停掉", "去掉",
               "下掉", "拿掉", "干掉", "撤下", "不要了", "不用了"),
    "NEG": ("不要", "不用", "别", "甭", "莫", "不", "没必要"),
    "LIST": ("哪些", "好多条", "好多个", "什么时候", "什么样", "几点", "些什么", "哪几个", "哪几条", "还有几条", "在生效", "几个", "几条", "列表", "清单", "有什么", "都有", "列出", "列一下", "列个", "多少"),
    # "每天的汇总" is the daily report itself, not a schedule
    "SPEAK": ("每天那个总结", "每天的那个总结", "每天讲的", "每天念的", "每天那份", "每天的汇总", "每天的总结", "每天的报告", "每天的日报", "从头读", "从头念", "播报", "播", "念", "读", "汇报", "报告", "日报", "简报", "早报", "总结"),
    "REMIND": ("提醒", "叫我", "喊我", "催我", "告诉我", "通知我", "跟我说"),
    "LATER": ("稍后", "待会", "等会", "一会儿", "一会", "晚点", "晚一点", "回头", "过会", "等下", "延后", "推迟",
              "以后再", "后再", "再说"),
    # "收到的告警" names an alert that came in; it takes no alert on (ACK)
    "RECEIVED": ("收到的", "收到了一条", "收到一条", "收到了一个", "收到一个"),
    "ACK": ("ack", "认了", "算我的", "归我", "收到", "知道了", "明白", "了解", "认领", "跟进", "跟一下", "我跟", "我这边", "我来", "我去", "交给我", "我负责", "我处理", "接手", "本人负责", "知悉"),
    "VOICEPRINT": ("听出是我", "认出是我", "听得出是我", "认人", "认声音", "识别声音", "声音识别", "声纹", "嗓音", "我的声音", "认识我", "认出我", "记住我", "认识一下我", "认得我", "认得出我", "听得出我",
                   "听出我", "辨认我", "说话人", "录个音", "录一段", "记一下我声音", "记下我声音", "记住我声音", "记一下我的声音", "记下我的声音"),
    "VOLUME": ("音量", "声音", "大声", "小声", "响", "轻一点", "轻点"),
    "STOP": ("停下", "停一下", "停", "闭嘴", "闭麦", "安静", "打住", "够了", "住口", "别说", "别念", "别讲", "别播", "别读", "别吵", "可以了", "stop"),
    "HELP": ("help", "使用方法", "用法说明", "支持哪些", "支持什么", "你都支持", "怎么整", "怎么弄", "怎么玩", "功能", "本事", "本领", "怎么用", "怎么使用", "能做什么", "能干什么", "会什么", "会干什么", "会些什么", "会啥", "会干啥", "会些啥", "能干啥", "能干嘛", "能干吗", "会干嘛", "可以干嘛", "都能干", "能帮我们干", "能帮我干", "命令",
             "指令", "帮助", "求助", "教我", "说明", "提示", "指点", "该问", "问你什么", "从哪开始", "用法", "玩法"),
    "HOWTO": ("怎么让你", "怎么设置", "如何", "怎么跟你", "怎么问", "怎么说"),
    "DEFINE": ("什么叫", "什么是", "什么意思", "是什么东西", "是什么吗", "是干什么的", "区别", "英文", "英语", "这个词"),
    "WHO": ("谁", "人工", "手动", "有人"),
    "CHANGE": ("改", "变更", "修改", "删", "扩容", "缩容", "发布", "上线", "操作", "回滚过", "重启了服务"),
    "CAUSE": ("原因", "为什么", "根因", "根源", "导致", "引起", "怎么回事", "关联", "串起来", "对起来", "对一下",
              "来龙去脉", "前因后果", "始末", "怎么引起", "关系", "有关", "相关", "联系", "串一下", "串一串", "串着",
              "理一理", "捋一捋", "梳理"),
    # the audit log: who did what to the cluster
    "AUDIT": ("审计", "操作记录", "操作日志", "变更记录", "改动记录"),
    "K8S": ("pod", "容器", "节点", "集群", "镜像", "oom", "驱逐", "重启", "k8s", "事件", "探针", "调度"),
    "BIZ": ("业务", "接口", "请求", "应用", "报错", "错误", "异常", "超时", "失败", "500", "502", "503", "504", "404",
            "五百", "五零零", "五零二", "五零三", "五零四", "四零四", "程序日志", "程序打的", "程序自己打", "代码打的", "出错", "报了错", "报的错", "哪些错", "什么错"),
    "LOG": ("日志",),
    "OK": ("都ok", "还ok", "ok吗", "ok不", "ok吧", "正常", "没事", "还好", "好着", "都好", "一切", "安好", "稳", "健康", "出事", "出问题", "状况", "情况", "故障", "问题",
           "活着", "挂了", "挂掉", "宕机"),
    "ROLLBACK": ("回滚", "回退", "退回", "旧版本", "上一个版本", "上一版", "之前的版本"),
    "YES": ("好的", "确认", "确定", "执行", "同意", "可以", "马上", "赶紧"),
}
# fmt: on
# Words of two or more characters are also found by fuzzy pinyin (an ASR homophone such as "手到" still says
# 收到) unless two concepts sound alike ("叫我"/"教我": then only as written); single characters only as
# written ("读" is not "都").
_EXACT = {w: c for c, words in CONCEPTS.items() for w in words}
_WRITTEN = re.compile("|".join(re.escape(w) for w in sorted(_EXACT, key=len, reverse=True)))
_SOUNDS: dict[tuple[str, ...], set[str]] = {}
for _word, _concept in _EXACT.items():
    if len(_word) > 1:
        _SOUNDS.setdefault(fuzzy_key(_word), set()).add(_concept)
_BY_KEY = {key: next(iter(cs)) for key, cs in _SOUNDS.items() if len(cs) == 1}
_LONGEST = max(len(w) for w in _EXACT)


C = 20.0  # inverse regularisation of the logistic regression
MODEL_FILE = "intent-classifier-{digest}.pickle"
KEEP_MODELS = 3  # the newest models kept (servers of other versions may share the cache); older ones go


@dataclass(frozen=True)
class Scored:
    label: str
    score: float


def masked(text: str) -> str:
    """Days → 日, numbers before a unit → 数 (normalised text in, same length roughly)."""
    return _NUMBER.sub("数", _DAY.sub("日", text))


def _pinyin_tokens(text: str) -> list[str]:
    syl = list(fuzzy_key(text))
    return (
        syl
        + [a + "_" + b for a, b in itertools.pairwise(syl)]
        + [a + "_" + b + "_" + c for a, b, c in zip(syl, syl[1:], syl[2:], strict=False)]
    )


def concepts(text: str) -> list[str]:
    """The concepts of ``text`` in order: words as written first (longest first), then, in what is left,
    words that sound the same."""
    found: dict[int, str] = {}
    taken = [False] * len(text)
    for m in _WRITTEN.finditer(text):
        found[m.start()] = _EXACT[m.group(0)]
        taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    key = fuzzy_key(text)
    i = 0
    while i < len(key):
        for n in range(min(_LONGEST, len(key) - i), 1, -1):
            if not any(taken[i : i + n]) and (concept := _BY_KEY.get(key[i : i + n])) is not None:
                found[i] = concept
                i += n
                break
        else:
            i += 1
    return [found[i] for i in sorted(found)]


def _concept_tokens(text: str) -> list[str]:
    """Concepts in order, each neighbouring pair, and each unordered pair ("别…播" and "播…别" alike)."""
    seq = concepts(text)
    return (
        ["c:" + c for c in seq]
        + ["c2:" + a + "_" + b for a, b in itertools.pairwise(seq)]
        + ["cc:" + a + "_" + b for a, b in itertools.combinations(sorted(set(seq)), 2)]
    )


def load_catalogue(name: str = CATALOGUE) -> list[tuple[str, str]]:
    """``(label, text)`` rows of a data file: the paraphrase catalogue by default. Columns after the second
    (where a transcript came from) are not read."""
    raw = resources.files("server.intent").joinpath("data", name).read_text(encoding="utf-8")
    rows = []
    for line in raw.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text = line.split("\t")[:2]
        rows.append((label.strip(), text.strip()))
    return rows


def load_training(heard: bool = False) -> list[tuple[str, str]]:
    """The catalogue and the utterances other engineers wrote (data/heard.tsv); with ``heard``, also what the
    recognizer made of those when they were said (data/heard_asr.tsv): the classifier for transcripts. Typed
    text keeps the classifier without them: one that has learnt to read "我见了" as the 我接了 Whisper lost
    would read a typed "我见了他一面" as taking an alert. Both files: scripts/intent_corpus.py."""
    written = load_catalogue() + load_catalogue(HEARD)
    return written + load_catalogue(HEARD_ASR) if heard else written


class IntentClassifier:
    def __init__(self, examples: list[tuple[str, str]], c: float = C) -> None:
        from server.intent.matcher import normalize

        texts = [masked(normalize(t)) for _, t in examples]
        labels = [label for label, _ in examples]
        features = FeatureUnion(
            [
                ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)),
                (
                    "pinyin",
                    TfidfVectorizer(
                        analyzer=_pinyin_tokens, sublinear_tf=True, lowercase=False, token_pattern=None
                    ),
                ),
                (
                    "concepts",
                    TfidfVectorizer(
                        analyzer=_concept_tokens, sublinear_tf=True, lowercase=False, token_pattern=None
                    ),
                ),
            ]
        )
        self.model = Pipeline(
            [
                ("features", features),
                ("lr", LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=2000, random_state=0)),
            ]
        )
        self.model.fit(texts, labels)
        self.labels: list[str] = list(self.model.classes_)

    def rank(self, text: str) -> list[Scored]:
        """All labels, best first; ``text`` is normalised, wake word and fillers removed."""
        probs = np.asarray(self.model.predict_proba([masked(text)])[0])
        order = np.argsort(-probs)
        return [Scored(self.labels[i], float(probs[i])) for i in order]


def model_digest(examples: list[tuple[str, str]], c: float = C) -> str:
    """What a trained model depends on: the examples, the features' code (every module of this package, since
    normalisation and fuzzy pinyin live beside it), and the library versions that fit and pickle it."""
    h = hashlib.sha256(f"{c}|{sklearn.__version__}|{np.__version__}|{pickle.HIGHEST_PROTOCOL}".encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):
        h.update(module.read_bytes())
    for label, text in examples:
        h.update(f"{label}\t{text}\n".encode())
    return h.hexdigest()[:20]


def trained(examples: list[tuple[str, str]], cache_dir: Path | None = None) -> IntentClassifier:
    """The classifier for ``examples``: loaded from ``cache_dir`` when a model of exactly these examples and
    this code was saved there (training takes up to 35 s on a 2-core machine, loading < 1 s), else trained and
    saved (atomically; only the newest ``KEEP_MODELS`` are kept). A cache that cannot be read or written only
    costs the training: the reason is logged and the trained model is used."""
    if cache_dir is None:
        return IntentClassifier(examples)
    path = cache_dir / MODEL_FILE.format(digest=model_digest(examples))
    if path.exists():
        try:
            with path.open("rb") as f:
                model = pickle.load(f)  # our own file, named by the digest of what it was trained on
            if isinstance(model, IntentClassifier):
                return model
            log.warning("intent model cache %s holds no classifier: training again", path)
        except Exception as e:  # a truncated or foreign file: train instead
            log.warning("intent model cache %s unreadable (%s): training again", path, e)
    model = IntentClassifier(examples)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".intent-classifier-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        kept = sorted(cache_dir.glob(MODEL_FILE.format(digest="*")), key=lambda p: p.stat().st_mtime)
        for old in kept[:-KEEP_MODELS]:
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as e:
        log.warning("intent model not cached in %s (%s): the next start trains it again", cache_dir, e)
    return model


_shared: dict[bool, IntentClassifier] = {}
_lock = threading.Lock()


def shared_classifier(heard: bool = False, cache_dir: Path | None = None) -> IntentClassifier:
    """The process's classifier for typed text, or with ``heard`` for transcripts (``load_training``), built on
    first use (``cache_dir``: where trained models are kept, see ``trained``; the server passes it when it
    warms the intent layer)."""
    with _lock:
        if heard not in _shared:
            _shared[heard] = trained(load_training(heard), cache_dir)
        return _shared[heard]
