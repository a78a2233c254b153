"""Understanding one utterance without an LLM: rules for the unambiguous, a classifier for the rest.

Order: mid-sentence corrections and asides settled (server/intent/self_correction.py, ``drop_asides``) and
the recognizer's likely confusions repaired (asr_repair.py); the wake word with only calls and hellos →
greeting; an answer to what the robot just asked (``Expect``) → the follow-up; thanks, words said to a
colleague, stories and questions about words → chat; a few high-precision rules (volume with a level,
"回滚" with its yes/no, voice enrolment); then the classifier (server/intent/classifier.py, trained on the
paraphrase catalogue and on what other people wrote), whose label is completed with slots (days, log kind,
workload, minutes, time). When the two best intents score close, the result asks back ("你是想听昨天的日志
播报吗？") instead of guessing; when nothing scores well, it is not known (→ LLM router if configured, else chat).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial

from pypinyin import Style, pinyin

from server.intent.asr_repair import repair, repair_clock, repair_time_words
from server.intent.classifier import Scored, concepts, shared_classifier
from server.intent.matcher import (
    DRILL_VERBS,
    ENROLL_VERBS,
    GREETING_ONLY,
    ROLLBACK_DENY,
    ROLLBACK_DENY_AFTER,
    ROLLBACK_WORDS,
    STOP_WORDS,
    VOLUME_DOWN,
    VOLUME_UP,
    VOLUME_WORDS,
    _is_enroll,
    _rollback_answer,
    _Utterance,
    is_question,
    normalize,
    strip_wake_word,
    volume_level,
)
from server.intent.models import Expect, Intent
from server.intent.self_correction import drop_filler_clauses, resolve_corrections
from server.intent.slots import (
    find_workload,
    log_kind,
    parse_clock,
    parse_day_slot,
    parse_minutes,
    volume_args,
)
from server.intent.yesno import FILLERS, FIRST_THEN, MAX_ANSWER_CHARS, NO_PREFIXES, YesNo, yes_no

MIN_SCORE = 0.2  # below this the classifier's best label is a guess: not a known command
CHAT_SURE = 0.5  # a chat reading below this is a "don't know" (the LLM router may try)
LONG_UTTERANCE = 30  # a polite command runs to ~26 characters; a longer monologue needs a sure reading
LONG_MIN_SCORE = 0.85  # concept features make a many-topic monologue look sure of itself
CLOSE_MARGIN = 0.12  # best two within this → ask back: in catalogue 5-fold CV the best guess is wrong as often as right below it
_LEADING_FILLERS = re.compile(
    r"^(?:嗯+|呃+|额+|唔+|哎+|诶+|喂+|嘿+|嗨+|哈喽|你好[呀啊哇]?|您好|那个|这个|就是|然后|早上好|早安|早啊|下午好|晚上好)+"
)
_INTERJECTION = re.compile(r"^(?:嗯+|呃+|唔+|哎+|诶+|唉+|嘿+)+")  # (not 这个/那个: "这个我来" takes an alert)
_POLITE = re.compile(
    r"^(?:请问|请你|请|麻烦你?|帮我|劳驾|(?:你?能不能|可不可以|能否)(?=告诉我|帮我)|我想知道|想知道|我想问一下|想问一下|问一下"
    r"|告诉我)"  # "能不能回退" stays: a question about a rollback approves none
)
VOLUME_LOUDER = ("太小", "听不清", "听不见", "听不到")
VOLUME_QUIETER = ("太大", "太吵", "吵死", "好吵")
KIND_CN = {
    "business": "业务日志",
    "event": "事件日志",
    "audit": "审计日志",
    "correlate": "三类日志的关联分析",
}
NEEDS_DAY = ("broadcast", "drill_down", "alerts")
# Slots only some intents take: an utterance that carries one is not about another intent.
SLOT_OWNERS: dict[str, frozenset[str]] = {
    "time": frozenset({"schedule_create", "schedule_cancel"}),
    "minutes": frozenset({"snooze", "silence_create"}),
    "volume": frozenset({"volume"}),
    "delta": frozenset({"volume"}),
}
# an answer to "是否回滚?" that opens with a refusal — but "不用问了/别等了" hurries a yes
# "要得，回滚嘛" (嘛 written 吗), Cantonese "系啊，回滚先" (系 = 是, 先 last = "first"): a yes, then the rollback
# said back — agreeing, not asking
_YES_THEN_ROLLBACK = re.compile(
    r"^(?:要得|要的|好的?|行|可以|对|是的?|系|嗯+|确认|同意)(?:啊|呀|啦|嘛|喇)?(?:那就|就)?(?:回滚|回退)(?:先|吗|嘛|吧|啊|呗)?$"
)
# ("payment-api 别动它", but "别动别的，就回滚它" keeps the others)
_MUST_NOT_TOUCH = re.compile(r"动不得|不能动|碰不得|不能碰|别动(?!别的|其他|其它)")
# ... unless it gives in after that ("本来是动不得的，但是没办法，还是回滚吧")
_GIVEN_IN_AFTER = re.compile(rf"(?:{_MUST_NOT_TOUCH.pattern}).*(?:还是|只能|不得不)")
_FIRST_REFUSAL = re.compile(
    r"^(?:不了|不用|不要|算了|先别|别|甭|不必|不回|不滚)(?!问|等(?!等(?!了))|犹豫|想了|多说|废话|墨迹|磨叽)"
)
# giving in under "是否回滚?": "那就…吧", "只能…了", "不得不", "没办法/没别的办法"
_RESIGNED_YES = re.compile(r"那就|只能|只好|不得不|没办法|没别的办法|别无选择")
GO_BACK = (
    "滚回去",
    "退回去",
    "撤回去",
    "恢复回去",
    "回到之前",
    "回到上一版",
    "退到上一版",
    "回吧",
    "回去吧",
    "退吧",
    "回呗",
    "退呗",
    "滚呗",
)
# "待会儿再说" / "过十分钟再问我" under a question: ask again later (a snooze), not a refusal
_STOP_TALKING = re.compile(r"(?:别|不要|莫|甭|不用)(?:再)?(?:说|念|讲|播|叨叨?)了|闭嘴|住口")
_TAKE_IT_ON = re.compile(r"(?:我|咱|俺)来(?:处理|搞|弄|跟|负责|接)|交给我|我接了|我负责|归我")
_ASK_LATER = re.compile(r"稍后|待会|等会|一会儿?|晚点|晚一点|回头|过会|过一会|[0-9数十百]+分钟[以之]?后|再问")
YES_NO_QUESTIONS = (Expect.ROLLBACK, Expect.CONFIRM, Expect.DRILL)
_DAY_WORD = (
    r"(?:大前天|前天|昨天|昨日|昨晚|今天|今日|(?:上上|上个?|这个?|本)?(?:周|星期|礼拜)[一二三四五六日天]"
    r"|[0-9零一二两三四五六七八九十]+月[0-9零一二两三四五六七八九十]+[日号]|[0-9零一二两三四五六七八九十]+[日号])"
)
# "不是昨天的，…" / "不对，…": what follows corrects the day of the intent just asked back
_CORRECTION = re.compile(rf"^(?:不是|不对|错了|搞错了|不)(?:{_DAY_WORD}的?)?")
# A story about someone else or about what the speaker did is no command, even when it holds command
# words: "我朋友在做财务审计", "我们家猫把闹钟碰掉了", "隔壁音量好大", "我昨天把游戏存档回滚了".
_THIRD_PARTY = re.compile(
    r"^(?:我们?|你|我(?:给|帮|替|和|跟|陪)我?家?)?(?:的)?(?:朋友|女朋友|男朋友|同事|老大|经理|主管|组长|同学|家里?|们家|老婆|老公|媳妇|"
    r"孩子|儿子|女儿|闺女|姑娘|爸爸?|妈妈?|老爸|老妈|爸妈|爷爷|奶奶|外婆|姥姥|"
    r"弟弟?|哥哥?|姐姐?|妹妹?|表[哥姐弟妹]|亲戚|室友|对象|邻居|领导|老板|(?:大学|高中|中学|小学)?老师|猫|狗)"
    r"|^老[王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋杜叶程魏苏吕丁]"  # 老王: a colleague
    r"|^(?:我们?)?(?:上一?家|以前的?|之前的?|前一?家?)公司|^老东家"  # a former employer
    r"|^(?:我们|我家)?(?:隔壁|楼上|楼下|对面)"
    r"|^(?:我们)?(?:组里?|团队|部门)?(?:那个|的)?(?:新人|新同事|实习生)"
    r"|^(?:审计|财务)(?:部门|署|局|师|员|组|公司|的人)"  # the auditors, not the audit log
    r"|^我的?(?:手机|电脑|笔记本|平板|耳机)"  # the speaker's own devices
    r"|^(?:这个?|那个?|我们)?(?:会议室|办公室|外面|外边|楼道|工地|马路|街上|地铁|车上|教室)"  # the surroundings
)
# what a word means, how two compare, how it is said in English, an opinion asked: knowledge, not a command
_ABOUT_WORDS = re.compile(
    r"^(?:什么是|什么叫|啥是|何为)|(?:是什么意思|是啥意思|什么意思|有什么区别|有啥区别|的区别|区别是什么|有什么分别|有啥分别|英文怎么说|英语怎么说|怎么翻译|难学|好学|怎么学|学起来|入门|谁发明|发明的|起源|历史"
    r"|为(?:什么|啥)叫|(?:知道|晓得|懂|了解)(?:什么|啥)是|(?:到底|究竟)有(?:什么|啥)用|是干(?:嘛|啥|什么)(?:用)?的|(?:这|那)(?:两|几|一)?个字|怎么写|缩写|全称|全拼|简称|原理|行业里|业内|业界|一般要保留|保留多久|一般怎么|怎么解决比较好"
    r"|你觉得.{0,20}(?:是不是该|该不该|应不应该|值不值得|好不好)"
    r"|(?:知道|晓得|懂|了解)[^，,]{0,12}是(?:什么|啥)子?(?:东西|意思)?[吗么嘛]?$)"
)
_THEY_TOLD = re.compile(r"(?:又|总|老|总是|一直|也)?(?:叫我|让我|要我|跟我说|说|讲|问我)")
# life, not ops: weather, games, films, news, jokes, real fire alarms, sleep and health, food, parcels, parking,
# attendance and pay
_OFF_DOMAIN = re.compile(
    r"天气|气温|多少度|下雨|下雪|游戏|存档|电影|电视剧|追剧|小说|新闻|播报员|播音员|主持人|笑死|太逗|哈哈|表情包|"
    r"报警器|火警|消防|刷屏|没睡好|觉都没睡|感冒|发烧|有点哑|生病|发音|外卖|好吃|球赛|快递|包裹|停车|食堂|午饭|晚饭|早饭|吃饭|考勤|打卡|报销|请假|工资|奖金|年终奖|好习惯|坏习惯|坚持下来|心慌|心累|职业病|没意思|摆烂|快疯了|要疯了|崩溃了|吵醒|睡不着|破防|裂开了?$"
)
_USED_TO = re.compile(r"^我们?(?:以前|之前|原来|过去)在")
_DID_IT = re.compile(
    r"^我们?(?:昨天|前天|刚才|刚刚|刚|上周|之前|上次|那天)(?:晚上|早上|上午|下午)?把.{1,12}?(?:了|过)"
    r"|(?:我|他|她|他们|我们|同事|有人).{0,10}(?:回滚|回退)(?:了|过)"
    r"|被.{1,4}(?:骂|说|批评|批|投诉|吐槽|笑话)了"  # "…被邻居骂了": a story
    r"|^我(?:年轻|小|上学|读书|刚工作)的?时候|那会儿|当年"  # memories
    r"|梦到|梦见|做梦|做了个梦"  # dreams
    # a habit: "一播广告我就静音" (not 一阵/一次…, and not 我就想/要…: "just want", a wish said)
    r"|一(?![下点起共直定般样些边会阵次个天切块])[^，,。？?]{1,8}?[我他她]们?就(?![想要是看问听])"
    r"|^.{0,6}那天(?!.*(?:什么|啥|哪|几[个条次]|吗|多少|有没有)).{2,}了"  # "停电那天机房空调也跟着挂了": that day's story
)
# Words that address the robot: with one of them the story carries a request ("我同事说挂了，帮我看看告警").
_REQUEST = re.compile(
    r"帮我|帮忙|你帮|给我|帮他|给他|帮她|给她|请你|^请(?![假客柬问])|你给|你把|你看|你能|你会|你可以|看看|看一下|看一眼|查一下|查查|播报(?!员)|念一下|读一下|讲一下|说一下"
    r"|讲讲|说说|告诉我|提醒我|(?:再|晚点|稍后|待会儿?|等会儿?)提醒|叫我|重新录|录一下|录一遍|录个|(?:念|读|播)(?:一?下|一遍)?(?:日报|日志|报告)"
)
# "我都给她定了闹钟": what the speaker did for someone, not the robot asked to do it for them
_SPEAKER_DID = re.compile(r"我(?:都|已经|早就?|也|刚)?(?:给|帮|替)(?:他|她)")
_ADDRESS = re.compile(r"你|您|帮我|给我|帮他|给他|帮她|给她|小智|请|麻烦")  # words that turn to the robot
_OPS_OBJECT = re.compile(
    r"服务|系统|线上|集群|节点|pod|告警|报警|日志|接口|api|service|center|静默|屏蔽|审计|变更|配置"
)
_YES_NO_ASKED = re.compile(r"[吗么]$|没有?$|是不是|有没有|怎么样|正常|(.)不\1")  # (.)不\1: 在不在, 对不对
# Unasked, a rollback is approved only by an order ("马上回滚", "恢复到之前的版本吧", "回滚一下，我批准了"):
# nothing before the rollback word in its clause reports or recalls one ("他们说回滚很危险", "上次回滚…"), and
# nothing after it tells of one done or judged ("回滚以后好多了", "回滚了一次", "回滚很危险").
_ROLLBACK_WORD = re.compile(r"回滚|滚回|回退|退回|恢复|撤回变更|回管|会滚|旧版本|上一个?版本?|之前的版本")
_REPORTED = re.compile(r"说|听说|据说|建议|以为|已经|上次|上回|昨天|前天|上周|上个月|之前回|他们|别人|是不是")
# what no release is: "真想把人生回滚一下" wishes, it orders nothing
# (only life and time: a game company rolls back its game servers, "把游戏服回滚到上个版本")
_NOT_A_RELEASE = re.compile(r"人生|青春|时光|感情|生活|记忆|岁月")
# right after the rollback word, a noun use: its record, reason, plan, "if we roll back" — no order, no refusal
_NOUN_USE = re.compile(
    r"的|记录|历史|原因|情况|日志|方案|流程|步骤|功能|按钮|这件事|那件事|之后|以后|后|演练|演习|预案|脚本|测试|计划|机制"
)
_TOLD_AFTER = re.compile(
    r"了(?![吧啊呀嘛哦呗白]*$)|过|以后|之后|完|很|太|挺|真|危险|花了|这个词|记不住|成功|失败"
)
# Short "enough" phrases: "好了好了，可以了", "行了行了别讲了", "先别播了", "stop".
_ENOUGH = re.compile(
    r"好了|好啦|行了|行啦|可以了|够了|够啦|得了|得得得?|停下?|stop|闭嘴|安静|我?知道了"
    r"|你?先?(?:别|不要|不用|莫|甭)再?(?:往下|继续)?(?:讲|播|博|波|念|说|读|放(?![弃心过假在到进])|吵|唠|叨叨?|啰嗦|磨叽)(?:下去)?了?"
    r"|先?(?:到这儿?|到此为止|就到这儿?)(?:吧|为止)?"
)
_ENOUGH_STRONG = re.compile(r"可以了|够了|够啦|得了|停|stop|闭嘴|安静|别|不要|不用|莫|甭|到这|到此")
_BARE_VOLUME = re.compile(
    r"(?:你的?)?(?:说话|讲话|声音)?(?:再|稍微|再稍微|稍稍)?(?:调)?([大小响轻高低])一?(?:点|些)儿?声?"
)
_LOUDNESS = re.compile(r"([大小响轻高低])一?(?:点|些)儿?|听不清|听不见|听不到")
# Calls and hellos that ask for nothing: said to the robot, they only wake it.
_HELLO = re.compile(
    r"^(?:你好|您好|哈喽|哈啰|哈罗|哈咯|嗨|嘿|hello|hi|hey|喂|哥们儿?|老铁|兄弟|亲|劳驾|请问|(?:那个)?打扰(?:一下|你|您)?了?|(?:你|您)?[在再](?:吗|么|嘛|不[在再]|没[在再]|没得|莫得|没有?)(?:你|您)?|[吱吭应出][一个]声|(?:你|您)?(?:能)?听得?(?:到|见|清)(?:我(?:说话)?)?(?:不|吗|么|嘛|没有?)|醒醒|星星|信心|信信|醒一醒|醒一下|醒了吗?|你?醒着?(?:没有?|吗|么|呢)|你?醒了没有?|起床了?"
    r"|早上好|早安|早啊|早晨|早|下午好|晚上好|同学)+"
)
_NOW = re.compile(r"(?<!到)(?:现在|目前|当前|眼下|此刻|这会儿)(?!为[止指之只])")  # not "今天到现在"
_NOW_TODAY = re.compile(r"(?:今天|今日)(?:有|要|还有|先)")
# social openers that ask for nothing ("又见面了", "我来了", "好久不见")
_SOCIAL = re.compile(
    r"^(?:我是(?:新来的)?(?:小|老)?[\u4e00-\u9fff]{1,2}(?=先|来|跟|和|$)"
    r"|我是(?:今天|今晚|这周|本周|这个?星期|这个?礼拜)的?(?:新来)?的?(?:值班|值夜班|新人|新同事|实习生)的?|先?(?:跟|和)?(?:你|您)?打(?:个)?招呼|又见面了?|早晨|我?上班了?|好久不见|好久没(?:跟|和)?(?:你|您)?打(?:个)?招呼了?|打(?:个)?招呼|(?:我|俺|额)又?来了?|(?:我|俺|额)回来了?|(?:哥们儿?|兄弟|本人|老子|打工人)?又?来了?|又?是我(?:[老小阿][\u4e00-\u9fff](?=$))?|别睡了?|起床了?)+"
)
_HELLO_STRIP = partial(_HELLO.sub, "")
_SOCIAL_STRIP = partial(_SOCIAL.sub, "")
_INTERJECTION_STRIP = partial(_INTERJECTION.sub, "")
# "别问了" / "莫等了" / "不用再犹豫了" / "别摆烂了" next to a rollback: hurry, not a refusal
_URGE = re.compile(
    # ("先别等等" is "no, wait": 等等 said twice is a wait, not "don't wait")
    r"(?:别|甭|莫|不用|不要|不必)(?:再)?(?:问|等(?!等(?!了))|犹豫|磨叽|墨迹|[摸磨墨][击机鸡叽]|啰嗦|废话|摆烂|磨蹭|拖(?:拉|延)?|纠结|慌)了?|还等(?:什么|啥)呢?|等(?:什么|啥)呢"
)
# "我手机静音了没看到": a clause about the speaker's own phone or computer is no command to the robot
_OWN_DEVICE = re.compile(r"^(?:我|我的)(?:手机|电话|电脑|耳机|笔记本)")
_SELF_MUTE = re.compile(r"(?:调成|设成|设为|调到|开启?|打开)静音|静音模式|(?:你|自己)[^，,]{0,4}静音")
# a name called first: 小王, 老李, 阿强, 王哥 — then a comma
_VOCATIVE = re.compile(
    r"^\s*(?:[嗯呃哎诶喂]+\s*[，,]?\s*)?((?:小|老|阿)[\u4e00-\u9fff]|[\u4e00-\u9fff][哥姐])\s*[，,、!！]"
)
# ... as the recognizer writes it: a name is heard in any characters of the same sound ("老李" → "劳理"), so
# a two-character call that sounds like 老/小/阿 + a name, then "你"/"您"
_HEARD_VOCATIVE = re.compile(r"^\s*(?:[嗯呃哎诶喂]+\s*[，,]?\s*)?([\u4e00-\u9fff]{2})\s*[，,、]\s*(?=你|您)")
_CALL_SOUNDS = frozenset({"lao", "xiao", "a"})
_ANYONE = frozenset({"老铁", "老兄"})  # slang calls for anyone, the robot too ("老铁，帮我看下告警")
# everyday words of the same shape as a name ("小声，点儿" is 小声点儿; "小心，别删错了" warns)
_NOT_NAMES = frozenset({"小声", "小点", "小心", "小些", "老是", "老早", "老实"})
# the room asked, not the robot (it is one, and has no opinion to give): "你们说告警阈值是不是设得太低了"
_TO_THE_ROOM = re.compile(
    r"^\s*(?:[嗯呃哎诶喂]+\s*[，,]?\s*)?(?:你们|大家|各位)(?:说说?|觉得|看呢|认为|猜|想想|评评理)"
)
# a decision left to someone else is no order and no refusal: "回不回滚等产品经理拍板吧，我说了不算"
_DEFERRED = re.compile(
    r"(?:等|听|看|让|由|问问?(?!题))[^，,。]{1,8}(?<!我)(?:拍板|定夺|决定|说了算)|说了不算|做不了主|不归我管|不由我定"
)
_NAMED = re.compile(r"((?:小|老|阿)[\u4e00-\u9fff]|[\u4e00-\u9fff][哥姐])(?=你|您)")
# thanks with nothing asked: small talk ("谢谢小智", "辛苦了")
_THANKS = re.compile(r"^(?:谢谢|多谢|感谢|谢了|辛苦了?|thanks?|thankyou)(?:你|您|小智|啦|啊|呀|哈|了)*$")
# 噻/撒 (south-western), 嘞 and 咯 end a call too; 爱, 塞 and 压 are how the recognizer writes a trailing 啊, 噻
# and 呀
_CALL_PARTICLES = "哇哈哟嘛呐啦噻撒嘞咯哦呀爱塞压咧哩"
_SILENCED_ASKED = re.compile(
    r"(?:有没有|哪些|哪几)[^，,]{0,6}被人?(?:静音|静默|屏蔽)|被人?(?:静音|静默|屏蔽)了?(?:吗|没有)"
)
_BARE_SILENCE = re.compile(r"(?:先|给我|直接)?(?:静默|屏蔽)(?:掉|了|一下)?(?:它|吧|啊|呀|了)*")
_MUTED_LIST = re.compile(r"被(?:静音|静默|屏蔽)|静音(?:了)?的|静音列表|静音规则|静音[过国]")
_CLAUSE = re.compile(r"[，,。！!？?；;、\s]+")
Make = Callable[..., Intent]  # (name, source="matcher", **slots) → Intent


@dataclass(frozen=True)
class Understanding:
    intent: Intent  # the best reading (chat when nothing fits)
    score: float = 1.0
    known: bool = True  # False: no command fits (the LLM router may try)
    confirm: bool = False  # two readings scored close: ask ``question`` before acting on ``intent``
    runner_up: Intent | None = None

    @property
    def question(self) -> str:
        return confirmation_question(self.intent)


def _day_words(day: str | None, today: date) -> str:
    if day is None:
        return ""
    d = date.fromisoformat(day)
    rel = {0: "今天", 1: "昨天", 2: "前天"}.get((today - d).days)
    return rel or f"{d.month}月{d.day}日"


def confirmation_question(intent: Intent, today: date | None = None) -> str:
    today = today or date.today()
    day = _day_words(intent.day, today)
    match intent.name:
        case "broadcast":
            return f"你是想听{day or '昨天'}的日志播报吗？"
        case "drill_down":
            return f"你是想了解{day}{KIND_CN.get(intent.kind or 'correlate', '日志')}吗？"
        case "alerts":
            return f"你是想查询{day}的告警吗？" if day else "你是想查询告警吗？"
        case "rollback_confirm":
            return "你是要回滚吗？"
        case "rollback_deny":
            return "你是说先不回滚吗？"
        case "acknowledge":
            return "你是要认领这条告警吗？"
        case "snooze":
            return "你是想稍后再提醒吗？"
        case "silence_create":
            return "你是想静默这个告警吗？"
        case "silence_list":
            return "你是想查看静默规则吗？"
        case "schedule_create":
            return "你是想设置定时播报吗？"
        case "schedule_list":
            return "你是想查看定时任务吗？"
        case "schedule_cancel":
            return "你是想取消定时播报吗？"
        case "enroll_voiceprint":
            return "你是想注册声纹吗？"
        case "volume":
            return "你是想调节音量吗？"
        case "stop":
            return "你是想让我停下吗？"
        case _:
            return "你是想问我能做什么吗？"


def core_text(norm: str) -> str:
    """Normalised text without the wake word, leading fillers and polite openers."""
    rest = strip_wake_word(norm)
    for _ in range(3):
        rest = _POLITE.sub("", _LEADING_FILLERS.sub("", rest))
    return rest


# The longest command anyone wrote in the phrase banks is under 100 characters; reading 300 takes ~0.25 s, and
# a 16 KB text frame (~5,000 characters) would hold every session's event loop for seconds.
MAX_UNDERSTOOD_CHARS = 300


def understand(
    text: str,
    today: date,
    expect: Expect = Expect.NOTHING,
    workloads: Iterable[str] = (),
    candidate: Intent | None = None,
    *,
    heard: bool = False,
) -> Understanding:
    """Read one utterance. ``expect``: what the robot just asked; ``candidate``: the intent a confirmation
    question was about (``Expect.CONFIRM``); ``workloads``: names known from the owner's reports; ``heard``:
    the text is the recognizer's transcript, read by the classifier that learnt how it mishears
    (``classifier.load_training``), not one somebody typed."""
    workloads = tuple(workloads)
    if len(text) > MAX_UNDERSTOOD_CHARS:
        # a typed monologue, or a client flooding one text frame: no command, and not read on the event loop
        return Understanding(Intent("chat", {}, text=text[:MAX_UNDERSTOOD_CHARS]), score=0.0, known=False)
    if (to_robot := _turned_to_the_robot(text)) is not None:
        text = to_robot  # "老张你先等会儿——小智，每天下午五点播一次日报"
    whole = _understand(text, today, expect, workloads, candidate, heard)
    if (instead := _request_after_answer(text, whole, today, expect, workloads, heard)) is not None:
        return instead
    if (order := _passed_on_order(text, whole, today, expect, workloads, candidate, heard)) is not None:
        return order
    if (after := _after_a_wait(text, whole, today, expect, workloads, heard)) is not None:
        return after
    if (last := _answer_said_last(text, whole, today, expect, workloads, heard)) is not None:
        return last
    if (called := _called_after_a_preamble(text, whole, today, expect, workloads, heard)) is not None:
        return called
    clear = _clear_clause(text, whole, today, expect, workloads, candidate, heard)
    if clear is not None:
        return clear
    if expect is Expect.NOTHING and _only_called(text, whole):
        return Understanding(Intent("greeting", {}, text=whole.intent.text))
    return whole


# The robot called by name and then one syllable that is no command ("小智，走啊": 早啊 as heard): what can be
# answered is the call ("我在"), not small talk about a word that was probably not said.
MAX_CALL_TAIL = 1


def _only_called(text: str, whole: Understanding) -> bool:
    if whole.intent.name != "chat" or whole.intent.source != "classifier":
        return False
    norm = normalize(text)
    woke = strip_wake_word(norm)
    if woke == norm:
        return False
    tail = woke.strip(FILLERS + _CALL_PARTICLES)
    return 0 < len(tail) <= MAX_CALL_TAIL and bool(re.fullmatch(r"[\u4e00-\u9fff]+", tail))


_LATER_WAKE = re.compile(r"(?:你好)?小[智志知]")


_ASIDE_BREAK = re.compile(r"[，,。！!？?；;、\s—–…]+")
# an interjection before a name called out, as written or as heard (艾/爱/安 for 哎)
_CALLED_OUT = re.compile(r"^(?:[嗯呃唔哎诶唉嘿喂]+|[艾爱安](?=[老小阿]))")


def _turned_to_the_robot(text: str) -> str | None:
    """Words to a colleague first, then the robot called by name: what follows the call is for the robot.
    The robot may have been called before them too ("小智——哎老王你先让我讲——小智！")."""
    # what follows each pause, with the pauses after it gone ("小智，艾老王，你先让我讲小智": 哎 heard as 艾)
    between = [
        _CALLED_OUT.sub("", _ASIDE_BREAK.sub("", text[m.end() :])) for m in _ASIDE_BREAK.finditer(text)
    ]
    if not (
        speaks_to_someone_else(text)
        or _to_colleague(text)
        or any(c and (_to_colleague(c) or speaks_to_someone_else(c)) for c in between)
    ):
        return None
    for m in _LATER_WAKE.finditer(text):
        # (not when the robot is what the colleague is told about: "老李你跟小智说一声", "你把这个给小智看看")
        if m.start() > 0 and not text[: m.start()].rstrip().endswith(
            ("叫", "跟", "问", "让", "给", "和", "对", "找")
        ):
            return text[m.start() :]
    return None


def _called_after_a_preamble(
    text: str, whole: Understanding, today: date, expect: Expect, workloads: tuple[str, ...], heard: bool
) -> Understanding | None:
    """ "新人求带，小智咋用啊，有说明书没": something said first, then the robot called by name after a pause and
    asked; what follows the call is the request (when the whole reads as chat)."""
    if whole.intent.name != "chat" or expect is not Expect.NOTHING:
        return None
    for m in _ASIDE_BREAK.finditer(text):
        rest = text[m.end() :]
        if m.start() > 0 and _LATER_WAKE.match(rest):
            asked = _understand(rest, today, expect, workloads, None, heard)
            if _reads_clearly(asked, _PASSED_ON_INTENTS_OUT):
                return with_context_slots(asked, _Utterance.of(core_text(normalize(text))), today, workloads)
            return None
    return None


# "先不用，你声音调小一点", "暂时不用啦，现在还有告警吗": under a question whose answer costs nothing (a
# drill-down, an asked-back guess) a yes or no and then a request of its own is that request. Under "是否回滚?"
# the answer stands: it is what the case waits for, and a request after it can be asked again.
_DECLINABLE = (Expect.DRILL, Expect.CONFIRM)
_REFUSAL_OPENER = re.compile(r"^(?:先|暂时|还是|暂且)?(?:不用|不需要|不必|不了|算了|免了)[了啦吧啊哈呀哦]*")
MIN_REQUEST_CHARS = 3  # "不用调了": what follows the refusal is part of it, not a request
_NOT_A_REQUEST_AFTER_AN_ANSWER = frozenset({"chat", "greeting", "stop", "rollback_confirm", "rollback_deny"})


def _request_after_answer(
    text: str, whole: Understanding, today: date, expect: Expect, workloads: tuple[str, ...], heard: bool
) -> Understanding | None:
    refused = whole.intent.source == "followup" and whole.intent.name == "stop"
    # (the answer blurs the request: "好，可以把三种日志合在一起分析一下吗？我想知道…" reads as chat)
    weak = whole.intent.source == "classifier" and (whole.score < WEAK_WHOLE or not whole.known)
    if expect not in _DECLINABLE or not (refused or weak):
        return None
    clauses = [c for c in _CLAUSE.split(text) if c.strip()]
    start = 0
    while start < len(clauses) and yes_no(core_text(normalize(clauses[start]))) is not None:
        start += 1
    if 0 < start < len(clauses):
        # the request: what follows the answer, or its first clause alone when more clauses only say why
        # ("好，可以把三种日志合在一起分析一下吗？我想知道到底是不是有人改了配置")
        requests = ["，".join(clauses[start:]), clauses[start]]
    elif len(clauses) == 1 and (m := _REFUSAL_OPENER.match(core := core_text(normalize(text)))):
        requests = [core[m.end() :]]  # said without a pause: "先不用你声音调小一点"
    else:
        return None
    for rest in requests:
        if len(core_text(normalize(rest))) < MIN_REQUEST_CHARS:
            continue
        asked = _understand(rest, today, Expect.NOTHING, workloads, None, heard)
        if _is_a_request(asked):
            return asked
    return None


# "不回滚的话损失更大": a condition weighed, no answer
_IF = re.compile(r"的话|如果|要是|假如|万一|否则|不然")


# Under "是否回滚？" people often give their reasons first and the answer last: "这个嘛，我觉得现在流量这么高，贸然
# 回滚风险也不小，还是先不要了吧". When the whole reads as no answer, a last clause that alone answers is the answer —
# a refusal always (leaving things as they are costs nothing), an approval only when it names the rollback
# ("…那就回滚吧"), never a bare "好的" after a story.
def _answer_said_last(
    text: str, whole: Understanding, today: date, expect: Expect, workloads: tuple[str, ...], heard: bool
) -> Understanding | None:
    if expect is not Expect.ROLLBACK or whole.intent.source == "followup":
        return None
    clauses = [c for c in _CLAUSE.split(text) if core_text(normalize(c))]
    if len(clauses) < 2:
        return None
    last = _understand(clauses[-1], today, expect, workloads, None, heard)
    if last.intent.source == "followup" and not last.confirm:
        if last.intent.name == "rollback_deny":
            return last
        if last.intent.name == "rollback_confirm" and _ROLLBACK_WORD.search(clauses[-1]):
            return last
    # a refusal in the middle, with the reasons around it and no approval anywhere ("等等，先别回，用户刚涌进来，
    # 我再看一眼"): the refusal is the answer
    answers = [
        last,
        *(_understand(c, today, expect, workloads, None, heard) for c in clauses[:-1] if not _IF.search(c)),
    ]
    approved = any(r.intent.name == "rollback_confirm" for r in (whole, *answers))
    if not approved and any(
        r.intent.name == "rollback_deny" and r.intent.source == "followup" for r in answers
    ):
        return next(r for r in answers if r.intent.name == "rollback_deny" and r.intent.source == "followup")
    return None


def _reads_clearly(asked: Understanding, excluded: frozenset[str]) -> bool:
    """A part of an utterance read alone is a clear command: known, not asked back, not one of ``excluded``, and
    not a weak guess of the classifier."""
    return (
        asked.known
        and not asked.confirm
        and asked.intent.name not in excluded
        and (asked.intent.source != "classifier" or asked.score >= WEAK_WHOLE)
    )


def _is_a_request(asked: Understanding) -> bool:
    intent = asked.intent
    # ("先不用，等会儿再说" only refuses: a snooze with no time is no request)
    return _reads_clearly(asked, _NOT_A_REQUEST_AFTER_AN_ANSWER) and not (
        intent.name == "snooze" and "minutes" not in intent.args
    )


# An order passed on: someone at work with the say over the system told it ("老大说了，回滚", "老大让我来录个声纹",
# "老大说这个告警不用管，先屏蔽四个小时"), or something happened and an order follows in the imperative ("老大来电话
# 了，先停下"). What was told is then the speaker's own order. What a boss only judged ("经理说回滚很危险") or asked of
# the speaker's life ("老板让我多休息") is no command, and stays a story.
_SUPERIOR = re.compile(
    r"^(?:我们?|咱们?)?的?(?:老大|大佬|经理|主管|组长|领导|老板|总监|头儿|leader|boss|上面|上级|值班长|负责人|架构师)"
)
_TOLD_ORDER = re.compile(
    r"(?:刚才?|刚刚|已经|也|都)?(?:说了|说过了|说|发话了?|交代了?|吩咐了?|讲了|让我们?|叫我们?|要我们?|批了|批准了|同意了|点头了?|拍板了?|签字了?|松口了?|放话了?)"
    r"(?:的)?(?:一声)?"
)
# a clause that gives an order in the imperative, after one that tells what happened
_IMPERATIVE = re.compile(r"^(?:小[智志知])?(?:先|赶紧|赶快|快点?|马上|立刻|立即|那就|那你|你先|你赶紧|你快)")
_PASSED_ON_INTENTS_OUT = frozenset({"chat", "greeting"})
# a rollback planned for later ("老板说下周要回滚", "老大说今晚要回滚") is news of a plan, no approval now
_LATER = re.compile(
    r"下周|下个?星期|下个?礼拜|下个?月|明天|明早|明晚|后天|过几天|改天|下次|下回|以后|回头|今晚|晚上|周末"
)


def _passed_on_order(
    text: str,
    whole: Understanding,
    today: date,
    expect: Expect,
    workloads: tuple[str, ...],
    candidate: Intent | None,
    heard: bool,
) -> Understanding | None:
    if whole.intent.name != "chat" or whole.known:
        return None
    core = core_text(normalize(text))
    tells: list[str] = []
    if (boss := _SUPERIOR.match(core)) and (told := _TOLD_ORDER.match(core, boss.end())):
        tells.append(core[told.end() :])
    clauses = [c for c in _CLAUSE.split(text) if c.strip()]
    if len(clauses) >= 2 and _IMPERATIVE.match(last := core_text(normalize(clauses[-1]))):
        tells.append(last)
    for rest in tells:
        if len(rest) < 2 or _REPORTED.match(rest):
            continue
        asked = _understand(rest, today, expect, workloads, candidate, heard)
        if _reads_clearly(asked, _PASSED_ON_INTENTS_OUT) and not (
            asked.intent.name.startswith("rollback") and _LATER.search(rest)
        ):
            return with_context_slots(asked, _Utterance.of(core), today, workloads)
    return None


# "等下，再大点儿声，刚才没听清": a wait said first only holds the robot while the speaker finds the words; the
# request after it is what is asked. (A wait alone, or with a time, is a snooze; under a question it answers.)
_WAIT_OPENER = re.compile(r"^(?:等下|等一下|等等|等会儿?|慢着|稍等)[，,。！!…\s—]+")


def _after_a_wait(
    text: str, whole: Understanding, today: date, expect: Expect, workloads: tuple[str, ...], heard: bool
) -> Understanding | None:
    if expect is not Expect.NOTHING or whole.intent.name != "snooze" or "minutes" in whole.intent.args:
        return None
    if (m := _WAIT_OPENER.match(text.strip())) is None:
        return None
    asked = _understand(text.strip()[m.end() :], today, expect, workloads, None, heard)
    if _is_a_request(asked) and asked.intent.name != "snooze":
        return asked
    return None


# The classifier's reading of a whole utterance this weak, while one clause alone is a clear request and every
# other clause is as weak, means the others are noise: "那就三个一起分析一下，看电音" (看根因 misheard), "要，看看
# 事件日志，严谋训织". A rule decides the clear clause; the classifier alone never does.
WEAK_WHOLE = 0.5
MAX_CLAUSES = 4
NOISE_CHARS = 4  # a clause this short read as chat is noise too ("看电音": a film or music out of nowhere)


def _clear_clause(
    text: str,
    whole: Understanding,
    today: date,
    expect: Expect,
    workloads: tuple[str, ...],
    candidate: Intent | None,
    heard: bool,
) -> Understanding | None:
    if whole.intent.source != "classifier" or whole.score >= WEAK_WHOLE:
        return None
    clauses = [c for c in _CLAUSE.split(text) if c.strip()]
    if not 2 <= len(clauses) <= MAX_CLAUSES:
        return None
    readings = [_understand(c, today, expect, workloads, candidate, heard) for c in clauses]
    clear = [
        r
        for r in readings
        if r.known
        and not r.confirm
        and r.intent.source in ("matcher", "followup")
        and r.intent.name not in ("chat", "greeting")
    ]
    noise = [
        r
        for c, r in zip(clauses, readings, strict=True)
        if r.intent.source == "classifier"
        and (
            r.score < WEAK_WHOLE or (r.intent.name == "chat" and len(core_text(normalize(c))) <= NOISE_CHARS)
        )
    ]
    if len(clear) != 1 or len(clear) + len(noise) != len(readings):
        return None
    whole_u = _Utterance.of(core_text(normalize(text)))
    return with_context_slots(clear[0], whole_u, today, workloads)


def _understand(
    text: str,
    today: date,
    expect: Expect,
    workloads: tuple[str, ...],
    candidate: Intent | None,
    heard: bool,
) -> Understanding:
    # "昨天，不对，今天的…", "帮我查一下，就是那个，告警" (server/intent/self_correction.py)
    # (a clock written as a decimal, "7.40", is a clock before a correction can replace it)
    text = drop_asides(drop_filler_clauses(resolve_corrections(repair_clock(repair_time_words(text)))))
    if expect is Expect.ROLLBACK or _ROLLBACK_WORD.search(text):  # (before normalising: "啥" is still 啥)
        text = _URGE.sub("赶紧", text)  # "甭问了，直接回滚": not asking again is no refusal
    text = repair(text, expect, workloads)  # what the recognizer misheard (server/intent/asr_repair.py)
    norm = normalize(text)
    woke = strip_wake_word(norm)
    core = core_text(norm)
    if expect in YES_NO_QUESTIONS and woke and not woke.strip(FILLERS) and woke[0] in "嗯好":
        core = woke  # "嗯嗯" under "是否回滚?" agrees; it is no greeting
    elif norm and is_greeting(woke):
        return Understanding(Intent("greeting", {}, text=norm))
    if not core:
        return Understanding(Intent("chat", {}, text=norm), score=0.0, known=False)
    if core.isdigit():
        # only a number ("12345678990", the digits of an enrolment phrase): nothing asked, whatever it resembles
        return Understanding(Intent("chat", {}, text=norm), score=0.0, known=False)
    u = _Utterance.of(core)

    def make(name: str, source: str = "matcher", **args: object) -> Intent:
        clean = {k: v for k, v in args.items() if v is not None}
        return Intent(name, clean, source=source, text=norm)  # type: ignore[arg-type]

    if (follow := follow_up(core, u, expect, candidate, today, norm)) is not None:
        return Understanding(follow)
    if _THANKS.match(normalize(text)):
        return Understanding(make("chat", "matcher"))  # "谢谢小智": small talk, nothing asked
    if speaks_to_someone_else(text):
        return Understanding(make("chat", "matcher"), score=0.0, known=False)
    if is_narrative(core) or (expect is not Expect.ROLLBACK and _DEFERRED.search(core)):
        return Understanding(make("chat", "matcher"), score=0.0, known=False)
    if ruled := _rules(u, make):
        if ruled.name == "rollback_confirm" and expect is not Expect.ROLLBACK and not is_rollback_order(text):
            return Understanding(make("chat", "matcher"), score=0.0, known=False)  # a story about one
        if (
            ruled.name == "rollback_deny"
            and expect is not Expect.ROLLBACK
            and (names_rollback_as_a_thing(text) or not is_rollback_order(text))
        ):
            # "把回滚的原因讲一下"; "上回回滚折腾到半夜，这次可千万别了" (a rollback told of, not refused)
            return Understanding(make("chat", "matcher"), score=0.0, known=False)
        return Understanding(ruled)

    masked_core = mask_workloads(core, workloads)
    ranked = shared_classifier(heard).rank(masked_core)
    if ranked[0].label == "chat" and (kind := log_kind(u)) and u.has(*DRILL_VERBS):
        # a log kind named and something asked of it ("程序自己打的那些日志，详细讲讲"): that kind in detail
        ranked = [Scored(f"drill_{kind}", ranked[0].score), *ranked[1:]]
    best = _complete(ranked[0], u, today, workloads, make)
    long_statement = len(masked_core) > LONG_UTTERANCE and ranked[0].score < LONG_MIN_SCORE
    # "yes"/"leave it" to a rollback nobody proposed is no rollback answer unless it names one (回滚, 旧版本…)
    unasked_rollback = (
        best.name in ("rollback_confirm", "rollback_deny")
        and expect is not Expect.ROLLBACK
        and (
            "ROLLBACK" not in concepts(core) or names_rollback_as_a_thing(text) or not is_rollback_order(text)
        )
    ) or (best.name == "rollback_confirm" and expect is not Expect.ROLLBACK and not is_rollback_order(text))
    # a long statement with the request in it: the clauses from a later one that asks ("我刚开完会，你帮我看一下…
    # 有告警吗"), or the first when it opens with a polite request and the rest say why; a day or workload named
    # elsewhere still counts ("上周四谁改了payment-api的配置，你把那天的审计日志讲一下")
    for part in (request_tail(text), request_head(text)) if long_statement else ():
        if part and part != core and len(mask_workloads(part, workloads)) <= LONG_UTTERANCE:
            asked = understand(part, today, Expect.NOTHING, workloads, heard=heard)
            if asked.intent.name != "chat":
                return with_context_slots(asked, u, today, workloads)
    if ranked[0].score < MIN_SCORE or long_statement or unasked_rollback:
        return Understanding(make("chat", "classifier"), score=ranked[0].score, known=False)
    second = _complete(ranked[1], u, today, workloads, make) if len(ranked) > 1 else None
    close = (
        second is not None
        and ranked[0].score - ranked[1].score < CLOSE_MARGIN
        and (second.name, second.kind) != (best.name, best.kind)
        and "chat" not in (best.name, second.name)
    )
    close = close and not decided_by_slot(best, second)
    if close and best.name.endswith("_list") and second is not None and not second.name.endswith("_list"):
        close = "LIST" not in concepts(core)  # "…我都设了哪些时间": a list word decides for the list
    close = close or (best.name == "rollback_confirm" and is_question(core))  # "你会回滚吗" approves nothing
    if best.name == "chat" and (
        ranked[0].score < CHAT_SURE
        or (second is not None and ranked[0].score - ranked[1].score < CLOSE_MARGIN)
        or (_REQUEST.search(core) is not None and _OPS_OBJECT.search(core) is not None)
    ):
        # chat only just ahead of a command, or the robot asked to look at something it watches
        # ("顺便瞅一眼线上那摊子事"): not sure it is chat either (→ LLM router if configured)
        return Understanding(best, score=ranked[0].score, known=False, runner_up=second)
    return Understanding(best, score=ranked[0].score, confirm=close, runner_up=second)


# A later clause that hushes the room so the robot can hear ("哎你们小声点", "大家安静一下"), or tells the room
# what the speaker is doing with the robot ("我喊它呢"): said to people, not to the robot.
_ROOM_ASIDE = re.compile(
    r"^[…—.·]*(?:[嗯呃哎诶喂]+)?(?:你们|大家|各位)(?:先|都|稍微|能不能|可以)?(?:小声|安静|别说话|别吵|别出声|轻点|等|停|闭嘴|让)"
    r"|^我(?:在|正在|正)?(?:喊|叫|问|跟|和|找|同)它"
)


# a later clause that only urges the robot to answer what was just asked ("你会些啥子嘛，说来听一哈", "整出来听听")
# (its 一哈 is often heard as a word: "说来听遗憾")
_URGING = re.compile(r"^(?:你|那你)?(?:说|讲|整|弄)(?:来|出来|给我)?听.{0,3}$|^(?:说说|讲讲)看[吧嘛呗呀]*$")


def drop_asides(text: str) -> str:
    """Asides dropped: later clauses about the speaker's own devices ("昨晚有告警没？我手机静音了没看到"),
    said to a colleague by name ("这个我接了，老王你回去睡吧") or to the room ("小智！哎你们小声点，我喊它呢").
    An utterance that opens with one is about the device or for the colleague (``is_narrative``,
    ``speaks_to_someone_else``)."""
    clauses = [c for c in _CLAUSE.split(text) if c]
    kept = clauses[:1] + [
        c
        for c in clauses[1:]
        if not _OWN_DEVICE.match(c.strip())
        and not _to_colleague(c)
        and not _ROOM_ASIDE.match(c.strip())
        and not _URGING.match(c.strip())
    ]
    return "，".join(kept) if len(kept) < len(clauses) else text


def decided_by_slot(best: Intent, second: Intent | None) -> bool:
    """A close call is no call when the best reading carries a slot only it can take: a clock time is
    for a schedule ("定个八点半的日志播报"), not for a broadcast."""
    if second is None:
        return False
    return any(second.name not in SLOT_OWNERS.get(slot, {second.name}) for slot in best.args)


def with_context_slots(
    understood: Understanding, whole: _Utterance, today: date, workloads: tuple[str, ...]
) -> Understanding:
    """The request read from its tail, with the day and workload the whole utterance named when the tail
    names none."""
    intent = understood.intent
    extra: dict[str, object] = {}
    if intent.name in NEEDS_DAY and intent.day is None and (day := parse_day_slot(whole, today)):
        extra["day"] = day
    if (
        intent.name == "drill_down"
        and "workload" not in intent.args
        and (w := find_workload(whole.text, workloads))
    ):
        extra["workload"] = w
    return replace(understood, intent=replace(intent, args=intent.args | extra)) if extra else understood


def _to_colleague(clause: str) -> bool:
    """A clause that calls a colleague by name before asking them ("老王你回去睡吧")."""
    return _names_someone(_NAMED.match(clause.strip()))


def speaks_to_someone_else(text: str) -> bool:
    """The utterance calls a colleague by name first ("小王，你把手机声音关小点"): said near the robot, not to it."""
    if _names_someone(_VOCATIVE.match(text)) or _TO_THE_ROOM.match(text):
        return True
    heard = _HEARD_VOCATIVE.match(text)
    return heard is not None and _sounds_like_a_call(heard.group(1)[0]) and _names_someone(heard)


def _sounds_like_a_call(char: str) -> bool:
    """The character can be read lao, xiao or a (exactly: 闹 "nao" is no 老, as 闹钟 is no name)."""
    return bool(set(pinyin(char, style=Style.NORMAL, heteronym=True)[0][:2]) & _CALL_SOUNDS)


def _names_someone(m: re.Match[str] | None) -> bool:
    """The name matched is a person's, not the robot's wake word (小志/小知 are the robot)."""
    if m is None:
        return False
    name = normalize(m.group(1))
    return strip_wake_word(name) == name and name not in _ANYONE and name not in _NOT_NAMES


def is_greeting(woke: str) -> bool:
    """Nothing but calls and hellos after the wake word: "你好哇", "小智小智" (the wake word said again),
    "醒醒", "在不在呀", "早啊". A request after them ("小智你好，播报一下") is not a greeting."""
    rest, before, said_hello = woke, None, False
    while rest != before:
        before = rest
        for strip in (
            strip_wake_word,
            _HELLO_STRIP,
            _SOCIAL_STRIP,
            _INTERJECTION_STRIP,  # "你好，小智，那个……哎，你好你好" (那个… went as a filler clause)
        ):
            stripped = strip(rest)
            said_hello = said_hello or (strip in (_HELLO_STRIP, _SOCIAL_STRIP) and stripped != rest)
            rest = stripped
        if rest == before:  # particles go only when no call is left to find ("在吗" needs its 吗)
            rest = rest.strip(FILLERS + _CALL_PARTICLES)
    if not rest or rest in GREETING_ONLY:
        return True
    # a hello and then one syllable that asks for nothing: a final particle or a "bro" as heard ("你好哥" for
    # 你好咯, "晚上好窝" for 晚上好喔, "上班里" for 上班咧)
    return said_hello and len(rest) == 1 and rest not in _COMMAND_SYLLABLES


_COMMAND_SYLLABLES = frozenset("停播念听要行好对是嗯不别讲说查看录调关开静")


def is_narrative(core: str) -> bool:
    """A statement about a third party or about what the speaker did, with no request to the robot, or a
    question about words ("什么是pod", "回滚和重新部署有什么区别", "日志这个词英文怎么说"). A question about
    something the robot watches ("我们家的服务昨天挂了吗") is a request."""
    if _ABOUT_WORDS.search(core):
        return True
    if (m := _THIRD_PARTY.search(core)) and (told := _THEY_TOLD.match(core, m.end())):
        # "我妈叫我多穿衣服": the third party asks, not the speaker — unless the robot is asked after it, or
        # what was asked is an ops request passed on ("经理让我查一下昨天审计日志里谁改了配置")
        rest = core[told.end() :]
        asked_me = any(v in told.group() for v in ("叫我", "让我", "要我"))
        passed_on = (
            asked_me
            and bool(_REQUEST.search(rest) or rest.startswith(("问问", "问一下", "查")))
            and bool(_OPS_OBJECT.search(rest))
        )
        return not (_ADDRESS.search(core, told.end()) or passed_on)
    if (
        _THIRD_PARTY.search(core)
        and not _ADDRESS.search(_SPEAKER_DID.sub("", core))
        and not _YES_NO_ASKED.search(core)
    ):
        return True  # "我女儿学校每天中午都播报新闻": about them, and nobody asks the robot
    if _USED_TO.match(core) and not _ADDRESS.search(core):
        return True  # "我以前在上家公司，每天早上九点都会听一遍日志播报": where one used to be, told
    if _REQUEST.search(core) or (_OPS_OBJECT.search(core) and _YES_NO_ASKED.search(core)):
        return False
    return bool(_THIRD_PARTY.search(core) or _DID_IT.search(core) or _off_domain(core))


def _off_domain(core: str) -> bool:
    """Life outside the robot's work; an alert that floods the screen ("这告警一直刷屏") is its work."""
    alert = "ALERT" in concepts(core)
    return any(not (alert and m.group() == "刷屏") for m in _OFF_DOMAIN.finditer(core))


def is_rollback_order(text: str) -> bool:
    """An unasked rollback approval must be an order, not a story or a report about one: some clause of
    ``text`` names the rollback with nothing before it that reports one and nothing after it that tells of
    one done or judged."""
    for clause in _CLAUSE.split(text):
        core = core_text(normalize(clause))
        if (m := _ROLLBACK_WORD.search(core)) is None:
            continue
        after = core[m.end() :]
        if _NOT_A_RELEASE.search(core[: m.start()]):
            continue
        if not _REPORTED.search(core[: m.start()]) and FIRST_THEN.search(core):
            return True  # "先回滚了再说": its 了 tells of nothing done
        if (
            not _REPORTED.search(core[: m.start()])
            and not _TOLD_AFTER.search(after)
            and not _NOUN_USE.match(after)
        ):
            return True
    return False


def names_rollback_as_a_thing(text: str) -> bool:
    """The rollback is talked about as a thing ("回滚的记录", "回滚原因", "回滚的话"), not ordered or refused."""
    for clause in _CLAUSE.split(text):
        core = core_text(normalize(clause))
        if (m := _ROLLBACK_WORD.search(core)) is not None and _NOUN_USE.match(core[m.end() :]):
            return True
    return False


def is_enough(text: str) -> bool:
    """Only "enough" words ("好了好了可以了", "行了行了别讲了我知道了", "先别播了", "stop"): stop speaking.
    A lone "好了"/"知道了" is not (it may acknowledge); a repeated one or a strong word is."""
    pieces = _ENOUGH.findall(text)
    if not pieces or "".join(pieces) != text:
        return False
    return bool(_ENOUGH_STRONG.search(text)) or len(pieces) != len(set(pieces))


def corrected_day(core: str, today: date) -> str | None:
    """The day a correction names ("不是，我要听前天的", "不是昨天，是上周五的"), or None."""
    if not (m := _CORRECTION.match(core)):
        return None
    return parse_day_slot(_Utterance.of(core[m.end() :]), today)


def request_tail(text: str) -> str | None:
    """The clauses from the first one that asks the robot for something ("我刚开完会回来，你帮我看一下…"),
    normalised; None when no later clause asks."""
    clauses = [normalize(c) for c in _CLAUSE.split(text)]
    clauses = [c for c in clauses if c]
    for i, clause in enumerate(clauses[1:], start=1):
        if _REQUEST.search(clause):
            return "".join(clauses[i:])
    return None


# A formal request says what it wants first and why after ("请就今日的业务日志进行详细分析，重点说明报错的分布",
# "请列出当前所有静默的告警规则，包括到期时间，以便评估…"): the first clause is the request.
_POLITE_HEAD = re.compile(r"^(?:请你?|麻烦你?|劳驾|烦请|烦劳|恳请|帮我|帮忙)(?![问假客柬])")


def request_head(text: str) -> str | None:
    """The first clause when it opens with a polite request and more clauses follow, normalised; else None."""
    clauses = [c for c in (normalize(c) for c in _CLAUSE.split(text)) if c]
    if len(clauses) < 2:
        return None
    first = strip_wake_word(clauses[0])
    return first if _POLITE_HEAD.match(first) else None


def mask_workloads(text: str, workloads: tuple[str, ...]) -> str:
    """A known workload name reads as "服务" for the classifier: the name itself says nothing of the intent."""
    for w in sorted(workloads, key=len, reverse=True):
        key = normalize(w)
        if key and key in text:
            text = text.replace(key, "服务")
    return text


def follow_up(
    core: str,
    u: _Utterance,
    expect: Expect,
    candidate: Intent | None,
    today: date,
    norm: str,
) -> Intent | None:
    """An answer to the robot's last question, or None when the utterance is not one."""
    if expect is Expect.NOTHING:
        return None
    answer = yes_no(core)
    if expect is Expect.ROLLBACK and _ASK_LATER.search(core) and not core.startswith(NO_PREFIXES):
        return Intent("snooze", {"minutes": parse_minutes(u)} if parse_minutes(u) else {}, "followup", norm)
    if expect is Expect.ROLLBACK and not u.has(*ROLLBACK_WORDS):
        # what answers another question than the one asked: "别说了别说了" stops the robot talking, and
        # "得嘞，这个告警我来处理" takes the alert on (neither approves nor refuses the rollback)
        if _STOP_TALKING.search(core):
            return Intent("stop", {}, source="followup", text=norm)
        if _TAKE_IT_ON.search(core):
            return Intent("acknowledge", {}, source="followup", text=norm)
    if expect is Expect.ROLLBACK:
        if _YES_THEN_ROLLBACK.match(core):
            return Intent("rollback_confirm", {}, source="followup", text=norm)
        if u.has(*ROLLBACK_WORDS) and (ruled := _rollback_answer(u)):
            return Intent(ruled, {}, source="followup", text=norm)
        if _MUST_NOT_TOUCH.search(core) and not _GIVEN_IN_AFTER.search(core):
            # "数据库那边还在迁移，现在动不得": a long answer that ends in "it must not be touched now" refuses
            return Intent("rollback_deny", {}, source="followup", text=norm)
        if _FIRST_REFUSAL.match(core):
            # "不了不了，刚找到原因了，我手动修": a long answer that opens with a refusal refuses
            return Intent("rollback_deny", {}, source="followup", text=norm)
        if answer is not YesNo.NO and len(core) <= 4 and core.rstrip(FILLERS).endswith(("回", "退")):
            return Intent("rollback_confirm", {}, source="followup", text=norm)  # "行，回", "那就退"
        if (
            u.has(*ROLLBACK_WORDS)
            and _RESIGNED_YES.search(core)
            and not ROLLBACK_DENY_AFTER.search(core)
            and not any(q in core for q in ("吗", "要不要", "是否", "为什么", "什么", "怎么", "呢"))
        ):
            # "那就回滚吧，没别的办法了", "不得不回滚了": asked, a resigned rollback is a yes
            return Intent("rollback_confirm", {}, source="followup", text=norm)
        if answer is not YesNo.NO and any(w in core for w in GO_BACK) and not ROLLBACK_DENY.search(core):
            # "嗯嗯，滚回去吧": only as an answer to "是否回滚?" (unasked, "滚回去" is no rollback)
            return Intent("rollback_confirm", {}, source="followup", text=norm)
        if answer is not None:
            name = "rollback_confirm" if answer is YesNo.YES else "rollback_deny"
            return Intent(name, {}, source="followup", text=norm)
    if expect is Expect.CONFIRM and (fixed := corrected_day(core, today)) is not None:
        # "不是昨天，是上周五的": the asked-back intent with the day the owner meant (a broadcast by default)
        base = candidate if candidate is not None and candidate.name in NEEDS_DAY else None
        name, args = (base.name, dict(base.args)) if base else ("broadcast", {})
        return Intent(name, args | {"day": fixed}, source="followup", text=norm)
    if expect is Expect.CONFIRM and candidate is not None and answer is not None:
        if answer is YesNo.YES:
            return replace(candidate, source="followup")
        return Intent("stop", {}, source="followup", text=norm)
    if (
        expect is Expect.DRILL
        and answer is not YesNo.NO
        and (named := log_kind(u)) is not None
        and len(core) <= MAX_ANSWER_CHARS
    ):
        day = parse_day_slot(u, today)  # "要，看看审计": the kind named answers the drill question
        return Intent("drill_down", {"kind": named} | ({"day": day} if day else {}), "followup", norm)
    if expect is Expect.DRILL and answer is not None:
        if answer is YesNo.YES:
            day = parse_day_slot(u, today)
            return Intent(
                "drill_down", {"kind": "correlate"} | ({"day": day} if day else {}), "followup", norm
            )
        return Intent("stop", {}, source="followup", text=norm)
    return None


def _rules(u: _Utterance, make: Make) -> Intent | None:
    if _SILENCED_ASKED.search(u.text):
        return make("silence_list")  # "有没有告警被人屏蔽了": which were silenced, asked
    if _mutes_an_alert(u):
        return make("silence_create", minutes=parse_minutes(u))
    if (u.has(*VOLUME_WORDS) or _says_turn(u, "调大", "调小")) and (vol := _volume(u)):
        return make("volume", **vol)
    if m := _BARE_VOLUME.fullmatch(u.text):  # "再大一点" with nothing else: the speaker's volume
        return make("volume", delta=10 if m.group(1) in "大响高" else -10)
    if is_enough(u.text):
        return make("stop")
    if u.has(*ROLLBACK_WORDS) and (answer := _rollback_answer(u)):
        return make(answer)
    if "声纹" in u.text and (loud := _LOUDNESS.search(u.text)) and not u.has(*ENROLL_VERBS):
        # "声儿再大点儿" heard as "声纹再大点": a voiceprint is never louder or softer
        return make("volume", delta=-10 if loud.group(1) and loud.group(1) in "小轻低" else 10)
    if _is_enroll(u):
        return make("enroll_voiceprint")
    if len(u.text) <= 3 and u.has(*STOP_WORDS):
        return make("stop")
    if _BARE_SILENCE.fullmatch(u.text):
        return make("silence_create")  # "静默。": the verb alone is an order, not a question about a list
    return None


# "把它静音一小时", "mute咗佢" (静音了它): what is muted for a while, or called "it", is the alert; the robot is
# "你", and its voice has no duration
_MUTE_IT = re.compile(r"把[它他她]静音|静音(?:了|掉)?[它他她]")


def _mutes_an_alert(u: _Utterance) -> bool:
    if "静音" not in u.text or _SELF_MUTE.search(u.text) or u.has("音量", "声音", "大声", "小声"):
        return False
    return bool(_MUTE_IT.search(u.text)) or parse_minutes(u) is not None


def _says_turn(u: _Utterance, *words: str) -> bool:
    """One of ``words`` (调大, 调小…) is said — fuzzily, as heard ("声音掉大点" is 调大), but never as 掉 and a
    pronoun (diao ta, "off with it"): "屏蔽掉它" sounds like 屏蔽调大 and turns nothing up."""
    return any(u.text[i : i + 2] not in _OFF_WITH_IT for w in words for i in u.positions(w))


_OFF_WITH_IT = frozenset({"掉它", "掉他", "掉她"})


_SET_UP = ("调大", "调高", "开大", "加大", "增大", "调响")  # a direction set with a verb...
_SET_DOWN = ("调小", "调低", "开小", "减小", "降低", "调轻")


# the room is what is loud: "声音响一眼，外头风太大听勿清" asks for more voice, not less
_ROOM_LOUD = re.compile(
    r"(?:风|雨|雷|噪音|噪声|机器|机房|空调|风扇|装修|施工|马路|外头|外面|隔壁|楼下|楼上)声?"
    r"(?:也|实在|真|有点|都|还)?太(?:大|响|吵)"
)


def _volume(u: _Utterance) -> dict[str, int] | None:
    if _SELF_MUTE.search(u.text) and "ALERT" not in concepts(u.text):
        return {"volume": 0}  # "把你自己调成静音"
    if "ALERT" in concepts(u.text) and not u.has("音量", "声音", "声"):
        return None  # "这告警吵死了，压掉它，半小时内别再报": the alert is loud, not the robot's voice
    if u.has("静音") and (_MUTED_LIST.search(u.text) or {"LIST", "ALERT"} & set(concepts(u.text))):
        return None  # "静音列表", "有哪些静音", "把这个告警静音": the alert silences, not the speaker
    if any(u.text[i + 2 : i + 3] in ("过", "国") for i in u.positions("静音")):
        return None  # "我之前静音过什么" (heard 进英国): what was silenced, asked
    if (level := volume_level(u)) is not None:
        return {"volume": level}  # a level said outranks a hedge about it: "调到65就行，别整太大"
    if u.has("最大", "最响", "最高"):
        return {"volume": 100}  # "开到最大，我这边听不清": the level said wins over the complaint
    if u.has("最小", "最低", "最轻") and u.has("调到", "调成", "开到", "设成", "设为", "调至"):
        return {"volume": 0}  # "声音太吵了，调到最小"
    if (up := _says_turn(u, *_SET_UP)) != _says_turn(u, *_SET_DOWN):
        # ... wins over a complaint about the room: "调大一点，这边风扇太响听不清"
        return {"delta": 10 if up else -10}
    too_loud = ("太大", "太响", "超大声", "好大声", "超吵", "好吵")  # (超/好: Taiwanese and southern "very")
    if u.has(*too_loud) and any(w in _ROOM_LOUD.sub("", u.text) for w in too_loud):
        return {"delta": -10}  # "声音太大了" (before the 大声 inside "太大声"), not "外头风太大"
    if u.has("太小", "太轻"):
        return {"delta": 10}
    if u.has(*VOLUME_UP) != u.has(*VOLUME_DOWN):  # a direction said wins over a complaint about the room
        return {"delta": 10 if u.has(*VOLUME_UP) else -10}  # ("整大点，机房太吵了")
    if (said := volume_args(u)) is not None:
        return said
    if any(w in u.text for w in VOLUME_LOUDER):
        return {"delta": 10}
    if any(w in u.text for w in VOLUME_QUIETER):
        return {"delta": -10}
    return None


def _complete(scored: Scored, u: _Utterance, today: date, workloads: Iterable[str], make: Make) -> Intent:
    """The classifier's label plus the slots the utterance carries."""
    label = scored.label
    name, kind = ("drill_down", label.removeprefix("drill_")) if label.startswith("drill_") else (label, None)
    explicit = log_kind(u)
    if explicit is not None and name in ("drill_down", "broadcast"):
        name, kind = "drill_down", explicit
    args: dict[str, object] = {}
    said = concepts(u.text)
    if name == "silence_list" and parse_minutes(u) and "LIST" not in said:
        name = "silence_create"  # "静默它三十分钟": a duration is for a new silence; a list has none
    if name == "alerts" and "MUTED" in said:
        name = "silence_list"  # "有没有告警是被mute掉的": the muted alerts are the silences
    if name == "silence_create" and "REMIND" in said and not {"MUTE", "NEG"} & set(said):
        name = "snooze"  # "过四十分钟再提醒我看这个告警": remind again is a snooze; a silence never reminds
    if name == "drill_down":
        args["kind"] = kind
    return make(name, "classifier", **args, **slot_args(name, u, today, workloads))


_UP_CHARS, _DOWN_CHARS = frozenset("大响高"), frozenset("小轻低")


def _direction_only(u: _Utterance) -> dict[str, int] | None:
    """A volume request read from what is left of it ("大点声" heard as "大"): one direction said, that way."""
    up, down = bool(_UP_CHARS & set(u.text)), bool(_DOWN_CHARS & set(u.text))
    return None if up == down else {"delta": 10 if up else -10}


def slot_args(name: str, u: _Utterance, today: date, workloads: Iterable[str]) -> dict[str, object]:
    """The slots intent ``name`` takes that the utterance carries (None where it says none); the log kind
    is the caller's."""
    args: dict[str, object] = {}
    if name in NEEDS_DAY:
        args["day"] = parse_day_slot(u, today)
        if name == "alerts" and _NOW.search(u.text):
            args["day"] = None  # "昨晚折腾到两点，现在还有没有没恢复的告警": the open alerts, now
        if name == "broadcast" and _NOW_TODAY.search(u.text):
            args["day"] = None  # "今天有啥要汇报的": today is when to report, the report is the latest
    if name == "drill_down":
        args["workload"] = find_workload(u.text, workloads)
    elif name == "volume":
        args.update(_volume(u) or _direction_only(u) or {})
    elif name in ("snooze", "silence_create"):
        args["minutes"] = parse_minutes(u)
        if name == "snooze" and args["minutes"] is None and "明天" in u.text:
            args["minutes"] = 1440  # "明天再提醒我": a day from now
    elif name in ("schedule_create", "schedule_cancel"):
        args["time"] = parse_clock(u)
    return args


def yesterday(today: date) -> str:
    return (today - timedelta(days=1)).isoformat()
