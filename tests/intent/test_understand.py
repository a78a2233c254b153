"""The intent layer on the phrase bank (fixed dev/test split) and on every slot, follow-up and the ask-back."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from server.intent import understand as understand_mod
from server.intent.asr_repair import repair, repair_clock
from server.intent.classifier import Scored, load_catalogue
from server.intent.matcher import normalize
from server.intent.models import INTENT_NAMES, Expect, Intent
from server.intent.understand import confirmation_question, understand
from server.intent.yesno import YesNo, yes_no

BANK = Path(__file__).parent / "phrasebank" / "phrasebank.tsv"
TODAY = date(2026, 11, 27)  # a Friday: the bank's reference day
WORKLOADS = ("payment-api", "order-service", "user-center")


def rows(split: str) -> list[dict[str, str]]:
    with BANK.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == split]


def expected_slots(row: dict[str, str]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in row["slots"].split(";") if kv)


def read(row: dict[str, str]) -> tuple[str, dict[str, str], bool]:
    u = understand(row["text"], TODAY, Expect(row["context"]), WORKLOADS)
    return u.intent.name, {k: str(v) for k, v in u.intent.args.items()}, u.confirm


def accuracy(split: str) -> tuple[float, list[str]]:
    wrong = []
    for r in rows(split):
        name, slots, confirm = read(r)
        if (name, slots, confirm) != (r["intent"], expected_slots(r), False):
            wrong.append(f"{r['text']} → {name} {slots}{' (asked back)' if confirm else ''}")
    return 1 - len(wrong) / len(rows(split)), wrong


def test_phrase_bank_is_big_and_split_before_tuning() -> None:
    all_rows = rows("dev") + rows("test")
    assert len(all_rows) >= 300
    intents = Counter(r["intent"] for r in all_rows)
    assert len(intents) >= 12
    assert set(intents) <= INTENT_NAMES
    # every intent is in both halves, so the test half measures each of them
    assert {r["intent"] for r in rows("test")} == {r["intent"] for r in rows("dev")} == set(intents)


def test_dev_half() -> None:
    acc, wrong = accuracy("dev")
    assert acc >= 0.97, wrong


def test_dev2_split_is_big_covers_every_intent_and_repeats_nothing() -> None:
    """dev2 (written before the round-3 tuning) is a second dev half: every intent, no row of another split,
    and no paraphrase of the classifier's catalogue, so it measures reading what the catalogue never said."""
    dev2 = rows("dev2")
    assert len(dev2) >= 150
    assert {r["intent"] for r in dev2} == {r["intent"] for r in rows("dev")}
    seen = {_plain(r["text"]) for split in ("dev", "test", "fresh") for r in rows(split)}
    assert not [r["text"] for r in dev2 if _plain(r["text"]) in seen]
    catalogue = {_plain(text) for _, text in load_catalogue()}
    assert not [r["text"] for r in dev2 if _plain(r["text"]) in catalogue]


def _plain(text: str) -> str:
    """Punctuation, spaces and case do not make a row new (synonyms do: "知道啦" is not "知道了")."""
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]", "", unicodedata.normalize("NFKC", text).lower())


def test_dev2_half() -> None:
    acc, wrong = accuracy("dev2")
    assert acc >= 0.97, wrong  # the same bar as dev


def test_test_half_and_fresh_set() -> None:
    # measured (bench/RESULTS.md): test 94.4 %, fresh 96.1 %; these floors catch regressions on any machine
    for split in ("test", "fresh"):
        acc, wrong = accuracy(split)
        assert acc >= 0.92, (split, wrong)


def test_a_refusal_is_never_heard_as_an_approval() -> None:
    """The costly confusion: "先不要回滚" run as a rollback. Never, in any split."""
    for split in ("dev", "dev2", "test", "fresh"):
        for r in rows(split):
            name, _, confirm = read(r)
            if r["intent"] == "rollback_deny":
                assert name != "rollback_confirm" or confirm, r["text"]
            if r["intent"] != "rollback_confirm" and name == "rollback_confirm":
                assert confirm, r["text"]


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("今天的日志播一下", "2026-11-27"),
        ("播报昨天的日志", "2026-11-26"),
        ("前天的日志", "2026-11-25"),
        ("大前天的业务日志", "2026-11-24"),
        ("上周五的日志播报一下", "2026-11-20"),
        ("这周一的审计日志", "2026-11-23"),
        ("周三的事件日志", "2026-11-25"),
        ("11月20日的审计日志", "2026-11-20"),
        ("十一月二十号的业务日志", "2026-11-20"),
        ("2025年12月31日的日志播报", "2025-12-31"),
        ("20号的日志播报一下", "2026-11-20"),
    ],
)
def test_day_slot(text: str, day: str) -> None:
    assert understand(text, TODAY).intent.day == day


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("业务日志详细说说", "business"),
        ("也务日志讲一下", "business"),  # ASR homophone
        ("事件日志呢", "event"),
        ("k8s事件有什么异常", "event"),
        ("审计日志里谁改了配置", "audit"),
        ("神技日志说说", "audit"),
        ("谁动了集群", "audit"),  # no kind word: the intent's own kind
        ("关联分析三类日志", "correlate"),
        ("根因是什么", "correlate"),
        ("把昨天的业务日志播报一下", "business"),  # a broadcast of one kind is that kind's drill-down
    ],
)
def test_kind_slot(text: str, kind: str) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.kind) == ("drill_down", kind)


def test_workload_slot_only_for_known_workloads() -> None:
    said = "payment api昨天有什么报错"
    assert understand(said, TODAY, workloads=WORKLOADS).intent.args["workload"] == "payment-api"
    assert "workload" not in understand(said, TODAY, workloads=("order-service",)).intent.args


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("音量调到五十", "volume", {"volume": 50}),
        ("声音太小了", "volume", {"delta": 10}),
        ("太吵了，小声一点", "volume", {"delta": -10}),
        ("静音", "volume", {"volume": 0}),
        ("十分钟后再提醒我", "snooze", {"minutes": 10}),
        ("半小时后再说", "snooze", {"minutes": 30}),
        ("这个告警静默一小时", "silence_create", {"minutes": 60}),
        ("每天早上九点播报日志", "schedule_create", {"time": "09:00"}),
        ("每天下午两点汇报告警", "schedule_create", {"time": "14:00"}),
        ("设置每天八点半自动播报", "schedule_create", {"time": "08:30"}),
    ],
)
def test_number_slots(text: str, name: str, args: dict[str, object]) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("好的", YesNo.YES),
        ("行吧", YesNo.YES),
        ("嗯", YesNo.YES),
        ("可以", YesNo.YES),
        ("没问题执行吧", YesNo.YES),
        ("算了", YesNo.NO),
        ("先别", YesNo.NO),
        ("算了好吧", YesNo.NO),  # a refusal wins over agreement in the same answer
        ("不用了", YesNo.NO),
        ("我再想想", YesNo.NO),
        ("等一下再说", YesNo.NO),
        ("弄吧", YesNo.YES),  # a verb of doing whose 吧 is also a filler
        ("就这么做", YesNo.YES),
        ("冇得必要", YesNo.NO),  # Cantonese/south-western "no need"
        ("今天天气很好我们去公园散步吧", None),  # not a short answer
    ],
)
def test_yes_no_with_hedges(text: str, answer: YesNo | None) -> None:
    assert yes_no(text) == answer


def test_answers_are_read_against_the_question() -> None:
    """The same "好的" confirms a rollback, opens the correlation after a broadcast, or runs the asked-back
    intent; without a question it is not a rollback."""
    assert understand("好的", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"
    assert understand("算了，先不要回滚", TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"
    assert understand("行吧", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"
    drill = understand("好的", TODAY, Expect.DRILL).intent
    assert (drill.name, drill.kind) == ("drill_down", "correlate")
    asked = Intent("broadcast", {"day": "2026-11-26"})
    assert understand("是的", TODAY, Expect.CONFIRM, candidate=asked).intent.args == {"day": "2026-11-26"}
    assert understand("不是", TODAY, Expect.CONFIRM, candidate=asked).intent.name == "stop"
    assert understand("好的", TODAY).intent.name != "rollback_confirm"
    # a new command while a question is open is read as that command
    assert understand("审计日志呢", TODAY, Expect.ROLLBACK).intent.name == "drill_down"


def test_close_scores_ask_back_instead_of_guessing(monkeypatch: pytest.MonkeyPatch) -> None:
    class Torn:
        def rank(self, text: str) -> list[Scored]:
            return [Scored("broadcast", 0.41), Scored("alerts", 0.38), Scored("chat", 0.21)]

    monkeypatch.setattr(understand_mod, "shared_classifier", lambda heard=False: Torn())
    u = understand("昨天那个情况说一下", TODAY)
    assert u.confirm and u.intent.name == "broadcast" and u.runner_up is not None
    assert u.runner_up.name == "alerts"
    assert confirmation_question(u.intent, TODAY) == "你是想听昨天的日志播报吗？"

    class Sure:
        def rank(self, text: str) -> list[Scored]:
            return [Scored("broadcast", 0.8), Scored("alerts", 0.1)]

    monkeypatch.setattr(understand_mod, "shared_classifier", lambda heard=False: Sure())
    assert not understand("昨天那个情况说一下", TODAY).confirm


def test_unknown_is_not_forced_into_a_command() -> None:
    u = understand(
        "今天系统运行正常，共处理一万两千条业务日志，其中审计日志发现三条异常，请及时处理。", TODAY
    )
    assert not u.known and u.intent.name == "chat"


def test_wake_word_alone_is_a_greeting_and_is_stripped_from_commands() -> None:
    assert understand("你好小智", TODAY).intent.name == "greeting"
    assert understand("小智在吗", TODAY).intent.name == "greeting"
    assert understand("你好小智，开始播报日志", TODAY).intent.name == "broadcast"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("昨儿个的业务日志", "drill_down", {"kind": "business", "day": "2026-11-26"}),  # regional day word
        ("今儿的审计日志", "drill_down", {"kind": "audit", "day": "2026-11-27"}),
        ("每周五下午三点播报日志", "schedule_create", {"time": "15:00"}),  # 五 and 三 stay apart
        ("周一到周五八点半播报", "schedule_create", {"time": "08:30"}),
        ("每天九点一刻播报日志", "schedule_create", {"time": "09:15"}),
        ("这个告警静音一小时", "silence_create", {"minutes": 60}),  # mutes the alert, not the speaker
        ("音量调到最低", "volume", {"volume": 0}),
        ("太大声了", "volume", {"delta": -10}),  # a complaint, although it holds 大声
    ],
)
def test_colloquial_slots(text: str, name: str, args: dict[str, object]) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


@pytest.mark.parametrize("text", ["回滚先放一放", "回滚就不必了", "甭回退", "莫回滚了"])
def test_regional_and_trailing_refusals_of_a_rollback(text: str) -> None:
    assert understand(text, TODAY).intent.name == "rollback_deny"


@pytest.mark.parametrize("text", ["喂小智", "嘿，小智", "小智，早上好"])
def test_greeting_around_the_wake_word(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


def test_concepts_read_synonyms_and_homophones_but_not_sound_alike_concepts() -> None:
    from server.intent.classifier import concepts

    assert concepts("手到") == ["ACK"]  # ASR homophone of 收到
    assert concepts("过会儿叫我") == ["LATER", "REMIND"]  # 叫我 sounds like 教我 (help): only as written
    assert concepts("恢复到之前的版本") == ["ROLLBACK"]  # the written word wins over 到之 ≈ 导致
    assert concepts("把告警压制一下") == ["ALERT", "MUTE"]


@pytest.mark.parametrize("text", ["你会回滚吗", "能不能回退到上个版本", "可以回滚吗"])
def test_a_question_about_rolling_back_never_approves_it(text: str) -> None:
    u = understand(text, TODAY)
    assert u.intent.name != "rollback_confirm" or u.confirm, u


def test_a_rollback_answer_needs_a_rollback_question_or_the_word() -> None:
    # nobody proposed a rollback and the words name none: not a rollback answer (LLM router or chat)
    for text in ("能不能顺便瞅一眼线上那摊子事", "先不动"):
        u = understand(text, TODAY)
        assert not u.known and u.intent.name == "chat", text
    # the word (or a homophone of it), or the question just asked, makes it one
    assert understand("恢复到之前的版本吧", TODAY).intent.name == "rollback_confirm"
    assert understand("确认会滚", TODAY).intent.name == "rollback_confirm"
    assert understand("先不动", TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"


# --- round 3 generalisation: one test per rule family, on sentences written for the rule ---


@pytest.mark.parametrize(
    "text",
    ["好了好了", "够了够了，别念了", "可以了，别说了", "先别讲了", "停停", "stop", "先到这儿吧", "别吵了"],
)
def test_enough_phrases_stop_the_speech(text: str) -> None:
    assert understand(text, TODAY).intent.name == "stop"


@pytest.mark.parametrize("text", ["好了", "知道了"])  # a lone "行了" reads as stop: the harmless reading
def test_a_lone_ok_is_not_a_stop(text: str) -> None:
    assert understand(text, TODAY).intent.name != "stop"


def test_a_timed_broadcast_stopped_for_the_future_is_a_schedule_cancel() -> None:
    assert understand("以后周五早上别播了", TODAY).intent.name == "schedule_cancel"
    assert understand("把九点那个定时撤掉", TODAY).intent.name == "schedule_cancel"
    assert understand("定好的播报时间是几点", TODAY).intent.name == "schedule_list"


@pytest.mark.parametrize("text", ["静音的规则都有哪些", "哪些告警被静音了", "被静默的告警列一下"])
def test_mute_next_to_a_list_or_alert_word_is_a_silence_not_the_volume(text: str) -> None:
    assert understand(text, TODAY).intent.name == "silence_list"


def test_mute_alone_is_still_the_speakers_volume() -> None:
    assert understand("静音", TODAY).intent.args == {"volume": 0}
    assert understand("把声音静音", TODAY).intent.args == {"volume": 0}


@pytest.mark.parametrize(
    "text",
    [
        "我同事在写审计报告，天天加班",
        "我们家狗把定时器咬坏了",
        "楼上在装修，声音好大",
        "我上周把游戏版本回滚了，结果更卡了",
        "你说为什么猫总爱半夜跑酷",
    ],
)
def test_a_story_about_life_or_someone_else_is_chat(text: str) -> None:
    u = understand(text, TODAY)
    assert u.intent.name == "chat", u


def test_an_unprompted_statement_of_a_past_rollback_never_approves_one() -> None:
    for text in ("我昨天把服务回滚了", "同事刚才回滚过了"):
        assert understand(text, TODAY).intent.name != "rollback_confirm", text


def test_a_story_that_asks_the_robot_is_a_request() -> None:
    assert understand("我同事说服务挂了，帮我看看告警", TODAY).intent.name == "alerts"
    assert understand("我们家的服务昨天有告警吗", TODAY).intent.name == "alerts"


def test_a_day_correction_under_an_ask_back_keeps_the_intent_with_the_new_day() -> None:
    asked = Intent("drill_down", {"kind": "audit", "day": "2026-11-26"})
    u = understand("不是昨天，是前天的", TODAY, Expect.CONFIRM, candidate=asked).intent
    assert (u.name, u.args) == ("drill_down", {"kind": "audit", "day": "2026-11-25"})
    fixed = understand("不对，我要上周三的", TODAY, Expect.CONFIRM).intent  # no candidate: a broadcast
    assert (fixed.name, fixed.args) == ("broadcast", {"day": "2026-11-18"})
    assert understand("不是", TODAY, Expect.CONFIRM, candidate=asked).intent.name == "stop"


def test_hmm_answers_a_yes_no_question_but_greets_otherwise() -> None:
    assert understand("嗯嗯", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"
    assert understand("嗯", TODAY, Expect.DRILL).intent.kind == "correlate"
    assert understand("嗯嗯", TODAY).intent.name == "greeting"
    assert understand("嗯，退回去吧", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"
    assert understand("别退回去", TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"
    assert understand("你滚回去吧", TODAY).intent.name != "rollback_confirm"  # nobody asked


def test_a_kind_named_under_the_drill_question_is_that_kind() -> None:
    assert understand("好，说说业务的", TODAY, Expect.DRILL).intent.kind == "business"
    assert understand("要，看下事件", TODAY, Expect.DRILL).intent.kind == "event"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("两刻钟后再叫我", "snooze", {"minutes": 30}),
        ("二十分中后提醒我", "snooze", {"minutes": 20}),  # 分中: ASR for 分钟
        ("这条告警先压两天", "silence_create", {"minutes": 2880}),
        ("作天的告警", "alerts", {"day": "2026-11-26"}),  # 作天: ASR for 昨天
        ("再小一点", "volume", {"delta": -10}),
        ("说话响一些", "volume", {"delta": 10}),
    ],
)
def test_round3_slots(text: str, name: str, args: dict[str, object]) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


def test_three_kinds_of_log_read_together_are_the_correlation() -> None:
    u = understand("把业务错误、k8s事件和审计操作结合起来看看", TODAY).intent
    assert (u.name, u.kind) == ("drill_down", "correlate")


def test_a_request_after_a_long_preamble_is_read() -> None:
    text = "我今天一早就在路上堵了快一个小时，刚到工位坐下，你帮我看一下昨天有没有告警"
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.day) == ("alerts", "2026-11-26")


def test_help_asked_as_not_knowing_what_to_ask() -> None:
    assert understand("我也不知道该问你些什么", TODAY).intent.name == "help"


def test_a_misheard_rollback_refusal() -> None:
    assert understand("不要回管", TODAY).intent.name == "rollback_deny"


def test_an_alert_received_is_asked_about_not_taken_on() -> None:
    assert understand("我早上收到的那个告警是怎么回事", TODAY).intent.name != "acknowledge"
    assert understand("收到，我来处理", TODAY).intent.name == "acknowledge"


def test_a_third_party_asking_what_the_robot_can_do_is_a_request() -> None:
    assert understand("我朋友想知道你能做什么", TODAY).intent.name == "help"


def test_two_kinds_named_together_are_the_correlation_one_kind_is_not() -> None:
    assert understand("事件跟审计两类日志对照着看看", TODAY).intent.kind == "correlate"
    assert understand("看看审计日志", TODAY).intent.kind == "audit"


def test_a_family_member_learning_ops_words_is_chat() -> None:
    assert understand("我表姐在学告警系统怎么搭", TODAY).intent.name == "chat"


def test_holding_an_alert_down_until_later_is_a_silence() -> None:
    assert understand("这条报警先压住", TODAY).intent.name == "silence_create"


@pytest.mark.parametrize(
    "text", ["上回回滚折腾了一晚上", "他们都说回滚风险大", "听说今晚要回滚", "版本回退之后就稳了"]
)
def test_an_unasked_story_or_report_of_a_rollback_never_approves_one(text: str) -> None:
    assert understand(text, TODAY).intent.name != "rollback_confirm", text


@pytest.mark.parametrize("text", ["马上回滚", "回滚到上一个版本吧", "执行回滚，快点", "回退一下"])
def test_an_unasked_rollback_order_is_still_an_approval(text: str) -> None:
    assert understand(text, TODAY).intent.name == "rollback_confirm", text


@pytest.mark.parametrize(
    "text", ["小智，你好呀", "小智小智小智", "小智醒一醒", "小智在吗", "早啊小智", "嘿嘿小智，在不在呀"]
)
def test_calls_and_hellos_after_the_wake_word_are_a_greeting(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


def test_a_hello_before_a_request_is_not_the_request() -> None:
    assert understand("小智你好，播一下日志", TODAY).intent.name == "broadcast"


@pytest.mark.parametrize(
    ("text", "minutes"), [("晚点再说吧", None), ("过二十分钟再问我", 20), ("回头再说", None)]
)
def test_ask_me_later_under_the_rollback_question_is_a_snooze(text: str, minutes: int | None) -> None:
    intent = understand(text, TODAY, Expect.ROLLBACK).intent
    assert intent.name == "snooze"
    assert intent.args.get("minutes") == minutes
    assert understand("算了，晚点再说", TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"


@pytest.mark.parametrize("text", ["赶紧的", "马上", "快点吧", "行，回去吧"])
def test_urgency_and_go_back_agree_to_the_rollback(text: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"


def test_a_clock_time_decides_a_close_call_for_the_schedule() -> None:
    u = understand("定个九点一刻的日志播报", TODAY)
    assert (u.intent.name, u.intent.args, u.confirm) == ("schedule_create", {"time": "09:15"}, False)


@pytest.mark.parametrize(("text", "time"), [("每天8:45播日志", "08:45"), ("每天下午5：30自动播报", "17:30")])
def test_a_clock_written_with_a_colon(text: str, time: str) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == ("schedule_create", {"time": time})


@pytest.mark.parametrize(
    "text",
    ["我的包裹到了没", "外面太吵了", "会议室又被占了", "这个月工资还没发", "停车位都满了", "食堂的菜太咸了"],
)
def test_life_and_the_surroundings_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


def test_a_silence_with_a_duration_is_a_new_silence() -> None:
    intent = understand("屏蔽它四十分钟", TODAY).intent
    assert (intent.name, intent.args) == ("silence_create", {"minutes": 40})


def test_muting_an_alert_is_a_silence_not_the_speakers_volume() -> None:
    assert understand("这条alert先静音", TODAY).intent.name == "silence_create"


def test_today_as_the_time_of_asking_is_the_latest_report() -> None:
    assert understand("今天有什么要播报的吗", TODAY).intent.args.get("day") is None
    assert understand("今天的日志播一下", TODAY).intent.args.get("day") == "2026-11-27"


@pytest.mark.parametrize("text", ["我是新来的，认识一下我", "帮我加一个说话人", "我想让你听得出我的声音"])
def test_being_recognised_is_voice_enrolment(text: str) -> None:
    assert understand(text, TODAY).intent.name == "enroll_voiceprint"


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("审计那边说说", "drill_down", "audit"),
        ("把来龙去脉串一下", "drill_down", "correlate"),
        ("求助", "help", None),
    ],
)
def test_kind_cause_and_help_words(text: str, name: str, kind: str | None) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.kind) == (name, kind)


@pytest.mark.parametrize("text", ["小智你好啊，又见面了", "小智，我又来了", "嗨小智，好久不见"])
def test_social_openers_after_the_wake_word_are_a_greeting(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


@pytest.mark.parametrize(
    ("text", "name"),
    [("这条告警先mute一小时", "silence_create"), ("被mute的告警有哪些", "silence_list"), ("help", "help")],
)
def test_english_words_ops_people_use(text: str, name: str) -> None:
    assert understand(text, TODAY).intent.name == name


@pytest.mark.parametrize(
    "text",
    [
        "什么是configmap",
        "审计和监控有啥区别",
        "告警这个词英语怎么说",
        "你觉得go难学吗",
        "我老婆让我早点回家",
        "我刚才声音开太大被同事说了",
        "审计部门下午要来开会",
        "电视台的播报员好厉害",
    ],
)
def test_words_questions_and_stories_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("能不能告诉我昨天order-service的pod为啥一直重启", "drill_down", "event"),
        ("我想知道现在有没有告警", "alerts", None),
    ],
)
def test_indirect_requests_are_requests(text: str, name: str, kind: str | None) -> None:
    intent = understand(text, TODAY, workloads=WORKLOADS).intent
    assert (intent.name, intent.kind) == (name, kind)


@pytest.mark.parametrize(
    "text",
    [
        "别问了，直接回滚",
        "马上把刚才的发布回滚，不用等了",
        "麻烦把 order-service 回滚一下",
        "能不能帮我把这次发布回滚一下",
    ],
)
def test_an_urgent_or_polite_rollback_order_is_an_approval_request(text: str) -> None:
    assert understand(text, TODAY, workloads=WORKLOADS).intent.name == "rollback_confirm"


def test_a_release_is_not_misheard_as_a_refusal() -> None:
    from server.intent.asr_repair import repair_homophones

    assert repair_homophones("把刚才的发布回滚") == "把刚才的发布回滚"
    assert repair_homophones("播回滚") == "不回滚"  # a lone sound-alike still is the refusal


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("半小时后再提醒我处理这个告警", "snooze", {"minutes": 30}),
        ("被mute掉的告警有几条", "silence_list", {}),
        ("把你的声音调成静音", "volume", {"volume": 0}),
        ("你甭念了，我知道了", "stop", {}),
        ("服务都ok吗", "alerts", {}),
        ("这个我认了", "acknowledge", {}),
    ],
)
def test_round4_families(text: str, name: str, args: dict[str, object]) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


def test_a_clause_about_the_speakers_own_phone_is_not_read() -> None:
    intent = understand("前天有没有告警，我电脑静音了没听到", TODAY).intent
    assert (intent.name, intent.args) == ("alerts", {"day": "2026-11-25"})


@pytest.mark.parametrize(
    "text", ["明天天气怎么样", "我们经理说月底要审计", "你晓得pod是啥子吗", "监控最早是谁发明的"]
)
def test_weather_bosses_and_knowledge_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("唔使喇，唔好回滚", "rollback_deny"),  # Cantonese: 唔 = 不
        ("收声啦", "stop"),
        ("哈啰小智", "greeting"),
        ("请问小智在吗", "greeting"),
        ("小智您好，好久没跟您打招呼了", "greeting"),
    ],
)
def test_cantonese_and_formal_speakers(text: str, name: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK if "回滚" in text else Expect.NOTHING).intent.name == name


@pytest.mark.parametrize(
    "text",
    [
        "我儿子学校每天早上都播报新闻",
        "楼下的烟雾报警器又响了",
        "我们组那个实习生把日志删了，笑死",
        "我年轻的时候日志都是打印出来看的",
        "你觉得我们是不是该换个监控系统",
        "告警这两个字怎么写",
    ],
)
def test_stories_memories_and_opinions_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("昨晚忙到半夜，现在还有没恢复的告警吗", "alerts", {}),
        ("每天傍晚五点半给我播日志", "schedule_create", {"time": "17:30"}),
        ("那个每天的总结，从头念一遍", "broadcast", {}),
        ("我让你别报的那些告警还有几条在生效", "silence_list", {}),
        ("以后能认出是我在说话吗，帮我录一下", "enroll_voiceprint", {}),
        ("你都支持哪些操作", "help", {}),
        ("看看我的播报计划", "schedule_list", {}),
    ],
)
def test_round4_lay_words(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.args, u.confirm) == (name, args, False)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("回呗", "rollback_confirm"),
        ("还等啥呢，整", "rollback_confirm"),
        ("冇需要", "rollback_deny"),
        ("滚什么滚，不回", "rollback_deny"),
    ],
)
def test_regional_answers_to_the_rollback_question(text: str, name: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name == name


@pytest.mark.parametrize("text", ["小智，早晨", "嗨小智，上班了"])
def test_morning_greetings(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


def test_a_request_after_context_keeps_the_day_and_workload_said_before_it() -> None:
    text = "我们老大想知道前天是谁动了user-center的配置，你把那天的审计日志讲一下"
    intent = understand(text, TODAY, workloads=WORKLOADS).intent
    assert (intent.name, intent.args) == (
        "drill_down",
        {"kind": "audit", "day": "2026-11-25", "workload": "user-center"},
    )


def test_of_two_clocks_the_one_for_the_broadcast() -> None:
    intent = understand("我每天九点开会，你八点四十把日志播一遍，每天都这样", TODAY).intent
    assert (intent.name, intent.args) == ("schedule_create", {"time": "08:40"})


def test_the_level_said_wins_over_the_complaint() -> None:
    assert understand("开到最大，我听不清", TODAY).intent.args == {"volume": 100}


@pytest.mark.parametrize("text", ["小李，你把空调关小点", "老张，会议改到三点了", "王哥，帮我看看这个告警"])
def test_a_colleague_called_by_name_is_not_spoken_to(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("哈喽小智，我是新来的小陈，跟你打个招呼", "greeting", None),
        ("程序自己打的那些日志，详细讲讲", "drill_down", "business"),
        ("三种日志放一块儿看看", "drill_down", "correlate"),
        ("你都能做啲咩", "help", None),
        ("你能嘎哈", "help", None),
        ("那条磁盘告警给它消音", "silence_create", None),
        ("哪些告警是关掉提醒的", "silence_list", None),
        ("你每天什么时候自己播日志", "schedule_list", None),
    ],
)
def test_round4_first_week_words(text: str, name: str, kind: str | None) -> None:
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.kind, u.confirm) == (name, kind, False)


@pytest.mark.parametrize(
    "text",
    [
        "我电脑更新完特别卡，想回退都回不去",
        "我媳妇说我做梦都在念日志",
        "我嗓子有点哑，感冒了",
        "告警群昨晚刷屏，我都没睡好",
    ],
)
def test_own_devices_family_and_health_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("谢谢你小智", "chat", {}),
        ("小智，昨天嘞日志播一哈", "broadcast", {"day": "2026-11-26"}),
        ("今天到现在有几个告警", "alerts", {"day": "2026-11-27"}),
        ("声音调大点，外面施工太吵了", "volume", {"delta": 10}),
        ("这也太吵了", "volume", {"delta": -10}),
        ("得得得，别叨叨了", "stop", {}),
        ("这个告警我来处理，老李你先去吃饭", "acknowledge", {}),
        ("实习生来了，给她录一下声纹", "enroll_voiceprint", {}),
    ],
)
def test_round4_handover_words(text: str, name: str, args: dict[str, object]) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


@pytest.mark.parametrize(
    "text", ["帮我看看回滚的记录", "把回滚的原因讲一下", "请把回滚记录念一下", "给我讲讲回滚的情况"]
)
def test_the_rollback_talked_about_as_a_thing_is_neither_approved_nor_refused(text: str) -> None:
    u = understand(text, TODAY)
    assert u.intent.name not in ("rollback_confirm", "rollback_deny"), u
    assert understand(text, TODAY, Expect.NOTHING).known is False  # the LLM router may answer it


@pytest.mark.parametrize("text", ["马上回滚", "把刚刚的发布回滚", "回滚一下我的服务"])
def test_an_order_to_roll_back_still_asks_for_approval(text: str) -> None:
    assert understand(text, TODAY).intent.name == "rollback_confirm"


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("每天9点1克自动播一下日志", "09:15"),  # 一刻 heard as 1克
        ("每天九点一刻播报", "09:15"),
        ("以后每天下午三点一下日报", "15:00"),  # 三点念一下: the 一 of 一下 is no minute
        ("每天早上九点五分播报", "09:05"),
        ("下午三点四十提醒我听日志", "15:40"),
    ],
)
def test_clock_minutes_are_a_quarter_a_number_or_nothing(text: str, time: str) -> None:
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.args.get("time")) == ("schedule_create", time)


@pytest.mark.parametrize("text", ["那就回滚吧，没别的办法了", "不得不回滚了", "没办法，回滚吧"])
def test_a_resigned_yes_under_the_rollback_question_approves(text: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"


@pytest.mark.parametrize("text", ["那就别回滚了", "那就先不回滚", "只能回滚了吗"])
def test_a_refusal_or_question_with_resigned_words_is_no_approval(text: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name != "rollback_confirm"


def test_other_and_others_are_not_a_dont() -> None:
    # 别的/别人 is "other", not 别 "don't"
    assert understand("回滚吧，没别的办法了", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"


def test_alerts_whose_notifications_were_turned_off_are_the_silences() -> None:
    assert understand("咱现在关掉通知的告警有几条", TODAY).intent.name == "silence_list"


@pytest.mark.parametrize("text", ["小智，你醒着没", "小智你醒了没", "你醒着吗"])
def test_asking_whether_the_robot_is_awake_is_a_greeting(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


def test_an_alert_taken_on_with_its_word_misheard() -> None:
    assert understand("这个高警我接了", TODAY).intent.name == "acknowledge"  # gao-jing


@pytest.mark.parametrize(
    "text",
    [
        "我昨晚梦到线上全挂了，直接吓醒",  # a dream
        "停电那天机房空调也跟着挂了，热得要命",  # that day's story
        "上家公司压根没告警系统，出事全靠用户打电话",  # a former employer
        "老王昨晚被告警吵醒了三回，笑死",  # a colleague's story
        "我给闺女定了个闹钟，每天七点叫她起床",  # done for the family
        "我大学老师老说写工作日志是个好习惯，我一直没坚持下来",  # a habit
    ],
)
def test_stories_of_dreams_days_past_jobs_colleagues_and_habits_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("经理让我查一下昨天审计日志里谁改了配置", "drill_down"),  # a request passed on is a request
        ("我同事让我问问昨天的告警", "alerts"),
        ("老王昨晚静默的那些还在不在", "silence_list"),  # asked about a colleague's silences
        ("周三那天出了什么告警", "alerts"),  # "那天" in a question is no story
    ],
)
def test_a_request_passed_on_or_asked_about_someone_is_still_a_request(text: str, name: str) -> None:
    assert understand(text, TODAY).intent.name == name


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("老大说了，回滚", "rollback_confirm", {}),  # an order passed on by someone with the say
        ("小智，老大让我来录个声纹", "enroll_voiceprint", {}),
        ("老大说这个告警不用管，先屏蔽四个小时", "silence_create", {"minutes": 240}),
        ("经理说不用回滚", "rollback_deny", {}),
        ("老大来电话了，先停下", "stop", {}),  # something happened, and an order follows
        ("我妈来电话了，先停下", "stop", {}),
    ],
)
def test_an_order_passed_on_or_following_news_is_that_order(
    text: str, name: str, args: dict[str, object]
) -> None:
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    "text",
    [
        "经理说回滚很危险",  # judged, not ordered
        "老板让我多休息",  # the speaker's life
        "老板说下周要回滚",  # a plan for later, no approval now
        "老大说今晚要回滚",
        "我们老板说下周要搞回滚演练，好烦",  # a rollback drill is a thing
        "老大说了算",
        "朋友说，回滚一下就好了",  # a friend's advice has no say over the system
    ],
)
def test_what_a_boss_judged_planned_or_said_of_life_stays_a_story(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


def test_the_boss_approving_answers_the_rollback_question() -> None:
    assert understand("老板已经点头了，弄吧", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"
    assert understand("老板已经点头了，弄吧", TODAY).intent.name == "chat"  # nothing was asked


@pytest.mark.parametrize(
    "text",
    ["哎小智，醒一哈。", "你好呀小智，我是今天新来值班的，嗯……你好。", "小智，你好呀，那个打扰了"],
)
def test_waking_introducing_oneself_and_excusing_oneself_are_greetings(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


def test_a_polite_tag_after_a_rollback_request_does_not_make_it_a_question() -> None:
    u = understand("麻烦你帮忙把挂号那个服务回滚一下，可以吗？", TODAY)
    assert (u.intent.name, u.confirm) == ("rollback_confirm", False)
    assert understand("你会回滚吗", TODAY).intent.name != "rollback_confirm"


@pytest.mark.parametrize(
    "text", ["这个……要不还是不要了吧？我怕回滚了挂号那边出问题。", "要不还是算了吧", "我担心回滚会丢数据"]
)
def test_proposing_to_leave_it_or_fearing_the_rollback_refuses_it(text: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"


def test_a_proposal_to_roll_back_still_approves() -> None:
    assert understand("要不还是回滚吧", TODAY, Expect.ROLLBACK).intent.name == "rollback_confirm"


def test_an_urging_clause_adds_nothing_to_what_was_asked() -> None:
    assert understand("你会些啥子嘛，说来听一哈。", TODAY).intent.name == "help"


def test_how_many_said_as_hao_duo_lists_the_silences() -> None:
    u = understand("我们现在屏蔽了好多条告警？", TODAY)
    assert (u.intent.name, u.confirm) == ("silence_list", False)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("阿拉今朝额日志报告读一遍好伐", "broadcast", {"day": "2026-11-27"}),  # Wu 今朝 = today
        ("小智，今晚高警多不多", "alerts", {"day": "2026-11-27"}),  # tonight is today's log
        ("有呒没告警辣海静默？", "silence_list", {}),  # Wu 有呒没 = 有没有, 辣海 = 在
        ("好额，交拨我", "acknowledge", {}),  # Wu 拨 = 给
        ("声音响一眼，外头风太大听勿清", "volume", {"delta": 10}),  # the wind is loud, not the voice
        ("赶紧把新版本滚回去，乘客那边都下不了单了", "rollback_confirm", {}),
        ("刚上线那版有问题，直接回滚，我拍板", "rollback_confirm", {}),  # the speaker decides: no deferral
        ("11月20号，不是11月22号的日志汇总播一下", "broadcast", {"day": "2026-11-22"}),
        ("我新来的，叫小陈，你记一下我声音", "enroll_voiceprint", {}),
    ],
)
def test_round9_r23b_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_wu_dont_refuses_a_rollback_but_a_written_please_do_not_stays() -> None:
    assert understand("勿要，先放辣海看看再讲", TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"
    assert understand("请勿打扰", TODAY).intent.name != "rollback_deny"


@pytest.mark.parametrize(
    "text", ["小智——哎老王你先让我讲——小智！", "小智，艾老王，你先让我讲小智", "嗨小智，又是我，老张。"]
)
def test_a_colleague_hushed_between_two_calls_or_a_name_said_is_still_a_greeting(text: str) -> None:
    assert understand(text, TODAY).intent.name == "greeting"


def test_not_a_correction_without_a_value_before_it() -> None:
    assert understand("昨天的日志，不是今天的", TODAY).intent.args.get("day") == "2026-11-26"


def test_waiting_for_someone_else_to_decide_still_defers() -> None:
    assert understand("等老大拍板", TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("小智小智，喺唔喺度啊？", "greeting", {}),  # Cantonese 喺唔喺度 = 在不在
        ("点样用你㗎？", "help", {}),  # 点样 = 怎么
        ("每日朝早九点一个骨自动播日志", "schedule_create", {"time": "09:15"}),  # 骨 = a quarter hour
        ("等下，再大点儿声，刚才没听清", "volume", {"delta": 10}),  # the wait only holds the robot
        ("等一下，十分钟后再提醒我", "snooze", {"minutes": 10}),
    ],
)
def test_round9_r24a_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("text", "name"), [("无时，无好回滚住", "rollback_deny"), ("无所谓，回滚吧", "rollback_confirm")]
)
def test_cantonese_no_heard_as_wu_refuses_but_never_mind_agrees(text: str, name: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name == name


def test_a_relative_telling_me_what_to_do_is_still_chat() -> None:
    assert understand("我妈叫我看看天气", TODAY).intent.name == "chat"
    assert understand("我媳妇说我做梦都在念日志", TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("每天早上8.2时播报", "schedule_create", {"time": "08:20"}),  # 八点二十 written 8.2时
        ("帮我加个定时播报每天8.45分", "schedule_create", {"time": "08:45"}),
        ("晚上九点八给我播一下当天日志", "schedule_create", {"time": "21:00"}),  # 九点吧: 吧 heard as 八
        ("取消下53点的定时播报", "schedule_cancel", {"time": "15:00"}),  # 下午 heard as 下5
        ("我想把这个告警静默一刻中", "silence_create", {"minutes": 15}),  # 刻钟 heard as 刻中
        ("左儿的应用日志给我细说一下", "drill_down", {"kind": "business", "day": "2026-11-26"}),  # 昨儿
        ("我想把8.30分那个每日播报杀了", "schedule_cancel", {"time": "08:30"}),  # 删 heard as 杀
        ("这个告警能不能先进医一下", "silence_create", {}),  # 静音 heard as 进医
    ],
)
def test_round5_spoken_slip_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    "text",
    [
        "我弟说他们学校广播每天早上八点准时播报，吵得要死",
        "审计日志在行业里一般要保留多久啊？",
        "声纹识别到底是啥原理啊？",
        "你说告警疲劳这事一般怎么解决比较好？",
        "周末值班真没意思，一个告警都没有反而心慌",
        "我左耳有点疼",
    ],
)
def test_knowledge_questions_feelings_and_siblings_are_chat(text: str) -> None:
    assert understand(text, TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name"),
    [("小智小智，再不在啊", "greeting"), ("哈喽小智，打工人来了", "greeting"), ("闭麦吧小智", "stop")],
)
def test_calls_and_a_mic_off_order(text: str, name: str) -> None:
    assert understand(text, TODAY).intent.name == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("不了不了，刚找到原因了，我手动修", "rollback_deny"),  # opens with a refusal
        ("行，回", "rollback_confirm"),
        ("不用问了，直接回滚", "rollback_confirm"),  # hurrying is a yes
        ("别等了，回滚吧", "rollback_confirm"),
    ],
)
def test_answers_to_the_rollback_question_by_how_they_open(text: str, name: str) -> None:
    assert understand(text, TODAY, Expect.ROLLBACK).intent.name == name


def test_can_you_roll_back_is_a_request_not_a_refusal() -> None:
    u = understand("我看order-service刚发的版本有问题，你能不能帮我回滚一下", TODAY, workloads=WORKLOADS)
    assert u.intent.name == "rollback_confirm"  # 能不能 asks; the approval still needs voiceprint + challenge


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("today 的 log report，你读给我听", "broadcast", {"day": "2026-11-27"}),
        ("rollback 一下 user-center，快", "rollback_confirm", {}),
        ("cancel 那个 schedule，下午三点的", "schedule_cancel", {"time": "15:00"}),
        (
            "application log 你 explain 一下，user center 的",
            "drill_down",
            {"kind": "business", "workload": "user-center"},
        ),
        ("烦请详细播报本日应用日志。", "drill_down", {"kind": "business", "day": "2026-11-27"}),
    ],
)
def test_english_words_of_the_trade_mixed_in(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_english_words_inside_other_words_are_not_read() -> None:
    assert understand("blog写了篇", TODAY).intent.name == "chat"  # no "log" in blog
    assert understand("no no，不要 rollback", TODAY, Expect.ROLLBACK).intent.name == "rollback_deny"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("我现在走不开，过一个半小时再叫我", "snooze", {"minutes": 90}),  # not the 半小时 inside it
        ("我现在走不开，过一个半小时再教我", "snooze", {"minutes": 90}),  # 叫我 heard as 教我 after a wait
        ("有静默的告警吗", "silence_list", {}),
        ("此告警由本人负责处理，已知悉。", "acknowledge", {}),
        ("三个日志合起来分析一下，周四的", "drill_down", {"kind": "correlate", "day": "2026-11-26"}),
        ("播一下周三的，而部队周二的日志", "broadcast", {"day": "2026-11-24"}),  # 啊不对 heard as 而部队
    ],
)
def test_round5_r12_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_what_the_speaker_did_for_someone_is_a_story_but_asking_for_them_is_a_request() -> None:
    assert understand("我女儿每天晚上八点练琴，我都给她定了闹钟", TODAY).intent.name == "chat"
    assert understand("我同事新来的，帮他录个声纹", TODAY).intent.name == "enroll_voiceprint"


def test_a_workload_whose_name_holds_an_english_word_of_the_trade_is_still_found() -> None:
    # normalisation turns "log" into 日志; the owner's "log-collector" must still be recognised
    workloads = ("log-collector", "audit-api")
    u = understand("看下log-collector昨天的业务日志", TODAY, workloads=workloads)
    assert (u.intent.name, u.intent.args.get("workload")) == ("drill_down", "log-collector")
    u = understand("audit api 的审计日志讲讲", TODAY, workloads=workloads)
    assert u.intent.args.get("workload") == "audit-api"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("把那个告警静默半个钟", "silence_create", {"minutes": 30}),  # 钟 for 钟头 (southern Mandarin)
        ("两个钟以后再问我", "snooze", {"minutes": 120}),
        ("九点钟播报日志", "schedule_create", {"time": "09:00"}),  # 点钟 is a clock, not a duration
        # the room is asked, not the robot
        ("你们说告警阈值是不是设得太低了，老误报", "chat", {}),
        ("大家觉得要不要把这个告警静默掉", "chat", {}),
        # a decision left to someone else orders nothing, but the speaker's own decision does
        ("回不回滚等产品经理拍板吧，我说了不算", "chat", {}),
        ("我值班我拍板，把刚才的发布回滚", "rollback_confirm", {}),
        # a rollback told of is not refused; a refusal after the story still is
        ("上回回滚折腾到半夜，这次可千万别了", "chat", {}),
        ("上次回滚出了事，这次先别回滚", "rollback_deny", {}),
        ("先别回滚", "rollback_deny", {}),
        # 不对 heard as 部队 just before the corrected day, the request in between
        ("11月20号的日志播报一下部队是21号的", "broadcast", {"day": "2026-11-21"}),
    ],
)
def test_round6_r13_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)
    assert not u.confirm


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("劳理，你那边日志里看到啥异常没", "chat", {}),  # 老李 as the recognizer wrote him
        ("小直，你帮我看下告警", "alerts", {}),  # the robot's own name, misheard, is still the robot
        ("闹钟，你每天八点叫我播报日志", "schedule_create", {"time": "08:00"}),  # 闹 (nao) is no 老
        ("好的，你播报一下日志", "broadcast", {}),
        ("营量五十", "volume", {"volume": 50}),  # 音量 heard as 营量, a level right after it
    ],
)
def test_round6_heard_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        # south-western and Cantonese particles and words
        ("小智你好噻", "greeting", {}),
        ("小智啊，老铁，早上好", "greeting", {}),
        ("老铁，帮我看下告警", "alerts", {}),  # 老铁 calls anyone, the robot too
        ("声音搞细啲啦", "volume", {"delta": -10}),
        ("有冇静默紧嘅告警", "silence_list", {}),
        ("你识做啲乜嘢", "help", {}),
        # English words of the trade
        ("大前天 user center 挂那次 root cause 是啥，帮我 correlate 一下", "drill_down",
         {"kind": "correlate", "day": "2026-11-24", "workload": "user-center"}),
        ("OK 这个告警我 take 了", "acknowledge", {}),
        ("告警太多了，真的 emo 了", "chat", {}),
        # 滚回 with where to is a rollback; an insult is not
        ("赶紧的，把order-service滚回之前那个版本", "rollback_confirm", {}),
        ("你给我滚回去", "chat", {}),
        ("k8s 是啥的缩写", "chat", {}),
        ("昨晚的告警吵醒了我三次，我都快疯了", "chat", {}),
        ("每晚十点定时播一遍日志", "schedule_create", {"time": "22:00"}),
        # corrections: 哦不, and an afterthought with 吧
        ("小智，昨天……哦不，今天有啥告警没", "alerts", {"day": "2026-11-27"}),
        ("每天早上七点四十播一次日报，呃，七点五十吧", "schedule_create", {"time": "07:50"}),
        ("昨天的日志播一下，呃，前天的吧", "broadcast", {"day": "2026-11-25"}),
        ("每天七点播报，周末九点吧", "schedule_create", {"time": "07:00"}),  # 周末九点 is no lone value
    ],
)  # fmt: skip
def test_round6_r14_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)
    assert not u.confirm


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("声纹再大点，听不清", "volume", {"delta": 10}),  # 声儿 heard as 声纹: a voiceprint is never louder
        ("声纹再小点", "volume", {"delta": -10}),
        ("帮我录个声纹", "enroll_voiceprint", {}),
        ("小智，早上好爱", "greeting", {}),  # a trailing 啊 as the recognizer writes it
        ("小智，昨天，我不，今天有啥告警没", "alerts", {"day": "2026-11-27"}),  # 哦不 heard as 我不
    ],
)
def test_round6_r14_heard_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        # "X first, the rest can wait" orders the rollback; a story about one, or a deferral, does not
        ("呃，那个……user-center先回滚了再说，快", "rollback_confirm", {}),
        ("先回滚再说", "rollback_confirm", {}),
        ("上次先回滚了再说，结果更糟", "chat", {}),
        ("他们说先回滚再说", "chat", {}),
        # the speaker's own voice recorded is the voiceprint
        ("把我声音录进去，下次叫你你就知道是我", "enroll_voiceprint", {}),
        ("录一下我的声音", "enroll_voiceprint", {}),
        # English "silence" for the alert commands
        ("这个alert给我silence两个小时", "silence_create", {"minutes": 120}),
        ("看下当前的silence", "silence_list", {}),
        # a question about a name is about words
        ("小智，你知道k8s为啥叫k8s吗", "chat", {}),
        # 报警 is a separable verb
        ("上周三都报了些啥警啊？", "alerts", {"day": "2026-11-18"}),
        # 小声 is no colleague's name
        ("小声，点儿", "volume", {"delta": -10}),
        ("小智小智，早上好压", "greeting", {}),  # 呀 as the recognizer writes it
    ],
)
def test_round7_r16_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("said", "meant"), [("先回滚再说", "rollback_confirm"), ("回滚再说吧", "rollback_deny")]
)
def test_first_then_under_the_rollback_question(said: str, meant: str) -> None:
    assert understand(said, TODAY, Expect.ROLLBACK).intent.name == meant


def test_a_colleague_called_by_name_is_still_someone_else() -> None:
    assert understand("小王，你把手机声音关小点", TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("小智，走啊", "greeting"),  # the call is what can be answered; 早啊 as heard
        ("小智小智，走", "greeting"),
        ("小智，停", "stop"),  # a one-syllable command is still the command
        ("走啊", "chat"),  # no call, no greeting
        ("小智，心累", "chat"),  # two syllables of small talk stay small talk
    ],
)
def test_the_robot_called_then_one_syllable_that_is_no_command(text: str, name: str) -> None:
    assert understand(text, TODAY).intent.name == name


def test_under_a_question_a_single_syllable_is_not_a_greeting() -> None:
    assert understand("小智，走", TODAY, Expect.ROLLBACK).intent.name != "greeting"


@pytest.mark.parametrize(
    ("text", "expect", "name", "args"),
    [
        # one clear clause and recognizer noise in the others: the clear clause
        ("那就三个一起分析一下，看电音", Expect.DRILL, "drill_down", {"kind": "correlate"}),
        # ... but small talk that follows a request in a sure reading is not cut off
        ("帮我播报一下昨天的日志，谢谢啦", Expect.NOTHING, "broadcast", {"day": "2026-11-26"}),
        # a yes, then the rollback said back with 嘛 written 吗
        ("要的，回滚吗", Expect.ROLLBACK, "rollback_confirm", {}),
        ("低嘴巴小智", Expect.NOTHING, "stop", {}),  # 闭嘴吧 as heard
        (
            "麻烦您把上中四的审计日志详细念一下",
            Expect.NOTHING,
            "drill_down",
            {"kind": "audit", "day": "2026-11-19"},
        ),
        ("上周三都爆了些傻警了", Expect.NOTHING, "alerts", {"day": "2026-11-18"}),
        ("小智，周二有没有告过警，我不周一", Expect.NOTHING, "alerts", {"day": "2026-11-23"}),
        ("你有哪些公们", Expect.NOTHING, "help", {}),
    ],
)
def test_round7_heard_families(text: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_a_noisy_clause_does_not_make_a_story_a_command() -> None:
    # the whole is a story (read by rule): no clause of it is taken as an order
    assert understand("上次回滚折腾到半夜，今天别了", TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("先别等等，我再看看监控", "rollback_deny"),  # 等等 twice is "wait", with or without the comma
        ("先别，等等，我再看看监控", "rollback_deny"),
        ("先别等了，直接回滚", "rollback_confirm"),  # "don't wait" urges
        ("别等等了，回吧", "rollback_confirm"),
    ],
)
def test_wait_said_twice_refuses_and_dont_wait_urges(said: str, name: str) -> None:
    assert understand(said, TODAY, Expect.ROLLBACK).intent.name == name


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("你说审计日志这玩意儿到底有啥用呢?我一直没搞懂", "chat", {}),  # what it is for: a question about it
        ("审计日志是干嘛的", "chat", {}),
        ("刚发的那个版本有问题，直接给我回滚了白", "rollback_confirm", {}),  # 吧 heard as 白
        ("把你的声音调成见音", "volume", {"volume": 0}),  # 静音 heard one letter off after a setting verb
        ("他的声音真好听，像见音一样", "chat", {}),
    ],
)
def test_round7_more_heard_families(text: str, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("text", "expect", "name", "args"),
    [
        # clock times before the hour, half a day, bare 不 and a southern 钟 in corrections
        ("每天晚上差一刻十点给我播一次日报", Expect.NOTHING, "schedule_create", {"time": "21:45"}),
        ("早上差五分十点那个定时，莫要了", Expect.NOTHING, "schedule_cancel", {"time": "09:55"}),
        ("这个告警先静默半天", Expect.NOTHING, "silence_create", {"minutes": 720}),
        ("每天早上七点，不，七点半，给我报一下日志", Expect.NOTHING, "schedule_create", {"time": "07:30"}),
        ("十五分钟后再提醒我，不对，还是半个钟吧", Expect.NOTHING, "snooze", {"minutes": 30}),
        # the 8 of k8s is no number: the correction replaces the log kind
        ("要的要的，业务的，不对，k8s事件的", Expect.DRILL, "drill_down", {"kind": "event"}),
        ("等一下哈……算了，还是回滚吧", Expect.ROLLBACK, "rollback_confirm", {}),
        ("数据库那边还在迁移，现在动不得", Expect.ROLLBACK, "rollback_deny", {}),
        # Shanghainese and Cantonese words
        ("小智小智，在伐？", Expect.NOTHING, "greeting", {}),
        ("哦哟，覅回滚，再看看", Expect.ROLLBACK, "rollback_deny", {}),
        ("侬声音轻一眼", Expect.NOTHING, "volume", {"delta": -10}),
        ("哦哟，等歇再讲，廿分钟以后再提醒阿拉", Expect.NOTHING, "snooze", {"minutes": 20}),
        ("得，我嚟搞掂佢", Expect.NOTHING, "acknowledge", {}),
        ("snooze 一下，45分钟", Expect.NOTHING, "snooze", {"minutes": 45}),
        # the alert is loud, not the robot; muted before is a list
        ("这告警吵死了，压掉它，半小时内别再报", Expect.NOTHING, "silence_create", {"minutes": 30}),
        ("我之前静音过什么来着", Expect.NOTHING, "silence_list", {}),
        # a colleague first, then the robot called by name
        ("老张你记下——小智，每天下午五点播一次日报", Expect.NOTHING, "schedule_create", {"time": "17:00"}),
        ("老李你跟小智说一声", Expect.NOTHING, "chat", {}),
        # about words, and a wish about life
        ("你知道什么是声纹识别吗", Expect.NOTHING, "chat", {}),
        ("我昨天炒股亏得，真想把人生回滚一下", Expect.NOTHING, "chat", {}),
        ("嘿，小智，醒醒，别睡了", Expect.NOTHING, "greeting", {}),
    ],
)
def test_round7_r17_r18_families(text: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_arabic_is_no_shanghainese_we() -> None:
    assert "阿拉伯" in normalize("阿拉伯数字怎么写")
    assert normalize("阿拉静默的告警有几只") == "我们静默的告警有几个"


def test_review_edges_of_round7_rules() -> None:
    # a game server rolled back is no 不回滚 (不 also reads fou, like 服)
    assert repair("把游戏服回滚到上个版本", Expect.NOTHING, WORKLOADS) == "把游戏服回滚到上个版本"
    # the robot told about is not the robot spoken to
    assert understand("老王你把这个给小智看看", TODAY).intent.name == "chat"
    # 砍伐 ends no question
    assert normalize("树都被砍伐。") == "树都被砍伐"


@pytest.mark.parametrize(
    ("text", "expect", "name", "args"),
    [
        ("要不就回滚吧", Expect.ROLLBACK, "rollback_confirm", {}),  # 要不 proposes
        ("莫得必要，不回滚", Expect.ROLLBACK, "rollback_deny", {}),  # ... and 必要不 still refuses
        ("不不不，payment-api 别动它", Expect.ROLLBACK, "rollback_deny", {}),
        ("嗯…这个…静默俩钟头", Expect.NOTHING, "silence_create", {"minutes": 120}),
        ("这个alert先off掉一个钟咯", Expect.NOTHING, "silence_create", {"minutes": 60}),
        ("声音超大声的啦，小一点", Expect.NOTHING, "volume", {"delta": -10}),
        ("十分钟，不，二十分钟后再提醒我", Expect.NOTHING, "snooze", {"minutes": 20}),
        (
            "早上七点四十五的定时播报取消，不对，是八点四十五的",
            Expect.NOTHING,
            "schedule_cancel",
            {"time": "08:45"},
        ),
        ("猫又把我鼠标踹地上了，它是不是想帮我回滚代码", Expect.NOTHING, "chat", {}),
    ],
)
def test_round7_r19_families(text: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(text, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_shi_before_a_clock_is_no_eighteen_hundred() -> None:
    # "是八点" says which time; only a shi that stands alone before the hour (时期点) is 十七点
    assert "十八点" not in repair("定时播报取消，不对，是八点四十五的", Expect.NOTHING, WORKLOADS)
    assert "十七点" in repair("每天时期点三十分定时播报", Expect.NOTHING, WORKLOADS)


@pytest.mark.parametrize(
    ("said", "expect", "name", "args"),
    [
        # a "no" to a drill-down or to an asked-back guess, then a request of its own: the request
        ("暂时不用啦，现在还有告警吗", Expect.DRILL, "alerts", {}),
        ("先不用，你声音调小一点", Expect.DRILL, "volume", {"delta": -10}),
        ("先不用你声音调小一点", Expect.DRILL, "volume", {"delta": -10}),
        ("不用，不用，每天早上九点播一次吧", Expect.DRILL, "schedule_create", {"time": "09:00"}),
        ("先不用，十分钟后再提醒我", Expect.DRILL, "snooze", {"minutes": 10}),
        ("不用，把声音调大点", Expect.CONFIRM, "volume", {"delta": 10}),
        # ... but what follows that only adds to the "no" leaves the "no"
        ("不用了，谢谢", Expect.DRILL, "stop", {}),
        ("算了，不听了", Expect.DRILL, "stop", {}),
        ("先不用，等会儿再说", Expect.DRILL, "stop", {}),
        ("不用调了", Expect.DRILL, "stop", {}),
        ("不用了，我自己看", Expect.DRILL, "stop", {}),
        # under "是否回滚?" the refusal is the answer the case waits for: it stands
        ("不用了，现在还有告警吗", Expect.ROLLBACK, "rollback_deny", {}),
        ("先不回滚，你声音调小一点", Expect.ROLLBACK, "rollback_deny", {}),
    ],
)
def test_a_request_after_a_refusal(said: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("周末在家追剧，一播广告我就静音", "chat"),  # a habit told: nothing asked
        ("一有告警我就睡不着", "chat"),
        ("把声音调小点，一会儿我就睡了", "volume"),  # 一会儿 is "soon", no habit
        ("一会儿我就去开会，你先把日志播一下", "broadcast"),
    ],
)
def test_a_habit_told_asks_nothing(said: str, name: str) -> None:
    assert understand(said, TODAY, workloads=WORKLOADS).intent.name == name


def test_then_after_a_pronoun_is_no_misheard_mute() -> None:
    # 就 after 我/你/他 is "then"; 我就听 is not 我静音 heard wrong
    assert "静音" not in repair("你播一下我就听", Expect.NOTHING, WORKLOADS)
    assert "静音" in repair("告警先进医一下", Expect.NOTHING, WORKLOADS)


@pytest.mark.parametrize("said", ["小智，醒醒，上班咧", "小智，额来咧", "小智，俺回来了", "小智，醒醒咧"])
def test_regional_calls_are_greetings(said: str) -> None:
    # 咧/哩 end a sentence as 了 does in the north-west and the south; 额/俺 are "I" there
    assert understand(said, TODAY).intent.name == "greeting"


def test_a_regional_i_before_a_request_is_no_greeting() -> None:
    assert understand("小智，额，播报一下日志", TODAY).intent.name == "broadcast"


@pytest.mark.parametrize(
    ("said", "expect", "name", "args"),
    [
        # calls: 在 with any "or not" (在冇得, 在没在), the inverted 您 (在嘛您), asked for a sound (吱一声),
        # a polite "sorry to bother", fillers between hellos, and the room hushed between two calls
        ("小智小智，在冇得？", Expect.NOTHING, "greeting", {}),
        ("小智，在没在", Expect.NOTHING, "greeting", {}),
        ("小智，在嘛您？", Expect.NOTHING, "greeting", {}),
        ("小智小智，在不在啊？吱一声。", Expect.NOTHING, "greeting", {}),
        ("小智，您好，打扰您了。", Expect.NOTHING, "greeting", {}),
        ("你好，小智，那个……哎，你好你好。", Expect.NOTHING, "greeting", {}),
        ("小智！……哎你们小声点，我喊它呢。小智？", Expect.NOTHING, "greeting", {}),
        ("小智，大家安静一下，播报一下昨天的日志", Expect.NOTHING, "broadcast", {"day": "2026-11-26"}),
        ("小智，打扰了，审计日志讲讲", Expect.NOTHING, "drill_down", {"kind": "audit"}),
        ("这个我来", Expect.NOTHING, "acknowledge", {}),  # 这个 is no filler before a taken alert
        # a silence verb alone orders one; 掉 (diao, "off") is never 调 turning the voice up
        ("静默。", Expect.NOTHING, "silence_create", {}),
        ("先屏蔽掉它", Expect.NOTHING, "silence_create", {}),
        ("静默列表", Expect.NOTHING, "silence_list", {}),
        ("咱们压着的告警有几条？列一下。", Expect.NOTHING, "silence_list", {}),
        # a direction or level set with a verb wins over a complaint about the room
        ("小智，声音太吵了，调到最小", Expect.NOTHING, "volume", {"volume": 0}),
        ("调大一点，这边风扇太响听不清", Expect.NOTHING, "volume", {"delta": 10}),
        ("声音太大声了", Expect.NOTHING, "volume", {"delta": -10}),
        # Hunan 么子, Tianjin 介个, north-eastern 整没
        ("小智，你会些么子", Expect.NOTHING, "help", {}),
        ("行，介个我管了。", Expect.NOTHING, "acknowledge", {}),
        ("每天那个定时念日报的，给整没了。", Expect.NOTHING, "schedule_cancel", {}),
        # 不是 between pauses before a value corrects it; 不是 before a value without a pause says "not"
        ("五分钟，不是，十分钟后再提醒。", Expect.NOTHING, "snooze", {"minutes": 10}),
        ("昨天的日志，不是今天的", Expect.NOTHING, "broadcast", {"day": "2026-11-26"}),
    ],
)
def test_round8_r20_families(said: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("heard", "name", "args"),
    [
        ("以后每天中52点自动播报", "schedule_create", {"time": "12:00"}),
        ("15分钟后再提醒我，部队还是半个中版", "snooze", {"minutes": 30}),  # 不对 as 部队, 钟 as 中
        ("那小时以后再叫我", "snooze", {"minutes": 120}),
        ("10分钟，不20分钟后再提醒我", "snooze", {"minutes": 20}),  # 不 with no pause after it
        ("每天早上七点，不七点半，给我报一下日志", "schedule_create", {"time": "07:30"}),
        ("晚点再提醒嘛，我在吃饭", "snooze", {}),  # the request first; the meal only says why
    ],
)
def test_round8_heard_families(heard: str, name: str, args: dict[str, object]) -> None:
    u = understand(heard, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_someone_else_reminding_is_a_story() -> None:
    assert understand("我妈总是晚点再提醒我吃饭", TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("heard", "expect", "name", "args"),
    [
        # a hello and one syllable more (a final particle or "bro" as heard); 星星 is 醒醒; 再 is 在
        ("小智，你好哥", Expect.NOTHING, "greeting", {}),
        ("哈喽小智，晚上好哥", Expect.NOTHING, "greeting", {}),
        ("哎，小智你好窝", Expect.NOTHING, "greeting", {}),
        ("小智，星星，上班里", Expect.NOTHING, "greeting", {}),
        ("小智，再没在", Expect.NOTHING, "greeting", {}),
        ("小智，你好，停", Expect.NOTHING, "stop", {}),  # ... but a command syllable is the command
        ("算了", Expect.NOTHING, "chat", {}),  # no hello was said: no greeting either
        ("我喜欢看星星", Expect.NOTHING, "chat", {}),
        # 音量 before a level, heard with another first syllable
        ("1 量75", Expect.NOTHING, "volume", {"volume": 75}),
        ("一量七十五", Expect.NOTHING, "volume", {"volume": 75}),
        ("预量掉到30%", Expect.NOTHING, "volume", {"volume": 30}),
        ("你量三次体温", Expect.NOTHING, "chat", {}),
        # 周 as 中 before a weekday, and a correction between the two days
        ("中三部队，中四的告警有哪些麻烦列一下", Expect.NOTHING, "alerts", {"day": "2026-11-26"}),
        ("初中三年级的时候", Expect.NOTHING, "chat", {}),
        # 定时 as 电视 before what a schedule is
        ("把电视播报都关了", Expect.NOTHING, "schedule_cancel", {}),
        # 静音过 as 静音国/进英国: what was silenced, asked
        ("我之前进英国什么来着", Expect.NOTHING, "silence_list", {}),
        # 周五 before 日报 is a weekday, not the fifth of the month
        ("那个，上周五日报给我念念", Expect.NOTHING, "broadcast", {"day": "2026-11-20"}),
        ("20号的日志", Expect.NOTHING, "broadcast", {"day": "2026-11-20"}),
        # a request after a refusal that the classifier alone reads weakly
        ("不用了，你先把现在的告警报一下", Expect.DRILL, "alerts", {}),
        # "再看看" after a rollback said is hesitation, not an approval
        ("我要回滚，再看看", Expect.ROLLBACK, "rollback_deny", {}),
        ("回滚吧", Expect.ROLLBACK, "rollback_confirm", {}),
    ],
)
def test_round8_spoken_families(heard: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(heard, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("heard", "name", "args"),
    [
        # 声纹 heard as 收文 next to a verb of recording it; 收文 alone is a received document
        ("我新来的，给我注册一下收文败", "enroll_voiceprint", {}),
        ("我换了个耳麦，收文重新录一遍摆", "enroll_voiceprint", {}),
        ("今天收文三份", "chat", {}),
        # 点 heard as 天 after a time of day, 半 as 班 before an hour, 上午十点 as 上50 with decimal minutes
        ("每天下午三天帮我把日志报告播一遍", "schedule_create", {"time": "15:00"}),
        ("班小时以后再叫我", "snooze", {"minutes": 30}),
        ("请设计每天上50.30分的电视播报", "schedule_create", {"time": "10:30"}),
        ("查电时", "schedule_list", {}),
        # 掉 is 调 before a level ("声音掉到三十"), but not 掉 with a pronoun
        ("声音掉到三十", "volume", {"volume": 30}),
        ("屏蔽掉它", "silence_create", {}),
    ],
)
def test_round8_more_spoken_families(heard: str, name: str, args: dict[str, object]) -> None:
    u = understand(heard, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("这个我见了", "acknowledge"),  # 接 heard as 见 when an alert is taken
        ("这个告警我见了", "acknowledge"),
        ("我见了他一面", "chat"),
        ("昨天我见了老王，这个事", "chat"),
    ],
)
def test_an_alert_taken_as_heard(heard: str, name: str) -> None:
    assert understand(heard, TODAY, workloads=WORKLOADS).intent.name == name


@pytest.mark.parametrize(
    ("said", "name", "args"),
    [
        # what is muted for a while, or called "it", is the alert; the robot is "you", and has no duration
        ("把它静音一小时", "silence_create", {"minutes": 60}),
        ("mute咗佢先", "silence_create", {}),
        ("静音一小时", "silence_create", {"minutes": 60}),
        ("你静音吧", "volume", {"volume": 0}),
        ("把声音静音", "volume", {"volume": 0}),
        ("静音", "volume", {"volume": 0}),
    ],
)
def test_muting_it_is_the_alert(said: str, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("said", "expect", "name", "args"),
    [
        # asked whether the robot hears, in English, or with Cantonese words (畀人 = 被人, function = 功能)
        ("喂，小智，听得到不嘛？", Expect.NOTHING, "greeting", {}),
        ("小智，你能听到我说话吗", Expect.NOTHING, "greeting", {}),
        ("声音大点，听不到", Expect.NOTHING, "volume", {"delta": 10}),
        ("Hello 小智，good evening 呀", Expect.NOTHING, "greeting", {}),
        ("有冇告警畀人屏蔽咗", Expect.NOTHING, "silence_list", {}),
        ("把这个告警屏蔽了", Expect.NOTHING, "silence_create", {}),
        ("有冇定咗时嘅播报呀", Expect.NOTHING, "schedule_list", {}),  # 定时 split by 了, as 报警 is
        ("小智你有咩 function 呀，讲下", Expect.NOTHING, "help", {}),
        ("mute 同 silence 有咩分别呀？", Expect.NOTHING, "chat", {}),
        # where one used to work, told; a request after it is still one
        ("我以前在上家公司，每天早上九点都会听一遍日志播报，习惯了", Expect.NOTHING, "chat", {}),
        ("我以前在上家公司用过，你帮我播报一下日志", Expect.NOTHING, "broadcast", {}),
        # a yes and then the request, whose later clauses only say why
        (
            "好，可以把三种日志合在一起分析一下吗？我想知道到底是不是有人改了配置",
            Expect.DRILL,
            "drill_down",
            {"kind": "correlate"},
        ),
        # Cantonese yes (系) and 先 last ("first")
        ("系啊，回滚先", Expect.ROLLBACK, "rollback_confirm", {}),
    ],
)
def test_round8_r21_families(said: str, expect: Expect, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY, expect, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_a_flooding_text_is_not_read_as_a_command() -> None:
    # one 16 KB text frame of "告警": no command, and answered at once rather than after seconds of reading
    u = understand("不用，" + "告警" * 5000, TODAY, Expect.DRILL)
    assert (u.intent.name, u.known) == ("chat", False)
    assert len(u.intent.text) <= understand_mod.MAX_UNDERSTOOD_CHARS
    assert (
        understand("不用，" + "告警" * 20, TODAY, Expect.DRILL).intent.name != "chat"
    )  # a real length is read


# --- round 10: semantic slips found on the r26 blind sets, fixed as rules of meaning (not as phrasings) ---


@pytest.mark.parametrize(
    ("said", "delta"),
    [
        ("小智，声音小一点，我在打电话", -10),  # 打电 sounds like 大点: the word as written wins
        ("我在打电话，声音小点", -10),
        ("你说话大点声", 10),
        ("声音调大一点", 10),
    ],
)
def test_a_volume_direction_as_written_outranks_a_sound_alike(said: str, delta: int) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args) == ("volume", {"delta": delta})


@pytest.mark.parametrize(
    ("said", "time"),
    [
        ("每天半夜十二点播一次日报", "00:00"),
        ("每天晚上十二点播日报", "00:00"),
        ("每天凌晨十二点播日报", "00:00"),
        ("每天午夜12点播日报", "00:00"),
        ("每天中午十二点播日报", "12:00"),
        ("每天深夜十一点播日报", "23:00"),
        ("每晚十点播日报", "22:00"),
    ],
)
def test_twelve_at_night_is_midnight(said: str, time: str) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args.get("time")) == ("schedule_create", time)


def test_a_midnight_schedule_is_cancelled_by_its_time() -> None:
    u = understand("那个每天半夜十二点的自动播报，我看就先撤掉吧", TODAY)
    assert (u.intent.name, u.intent.args.get("time")) == ("schedule_cancel", "00:00")


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("唔……要，回滚", "rollback_confirm"),  # 唔 alone before a pause: a hesitation
        ("唔，要回滚", "rollback_confirm"),
        ("唔好回滚", "rollback_deny"),  # 唔 before a word: Cantonese 不
        ("唔要回滚", "rollback_deny"),
        ("唔，唔好回滚", "rollback_deny"),
    ],
)
def test_a_hesitating_um_is_no_cantonese_no(said: str, name: str) -> None:
    assert understand(said, TODAY, Expect.ROLLBACK).intent.name == name


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("这个嘛，我觉得现在流量这么高，贸然回滚风险也不小，还是先不要了吧", "rollback_deny"),
        ("我跟老王商量了一下，流量还在涨，算了", "rollback_deny"),
        ("我刚问了老王，他说没问题，那就回滚吧", "rollback_confirm"),
    ],
)
def test_under_the_rollback_question_an_answer_said_last_after_reasons_is_the_answer(
    said: str, name: str
) -> None:
    u = understand(said, TODAY, Expect.ROLLBACK)
    assert (u.intent.name, u.confirm) == (name, False)


def test_a_bare_yes_after_a_story_approves_no_rollback() -> None:
    u = understand("我刚问了老王，好的", TODAY, Expect.ROLLBACK)
    assert u.intent.name != "rollback_confirm"


# --- round 11: semantic slips found on the r27 blind sets, fixed as rules of meaning (not as phrasings) ---


@pytest.mark.parametrize(
    ("said", "level"),
    [
        ("音量调到六十五就行，别整太大", 65),  # the level said outranks a hedge about it
        ("请把音量调整至百分之四十左右", 40),  # 至 is the written 到; 百分之 a level
        ("声音调至30，太吵了", 30),
    ],
)
def test_a_volume_level_said_as_a_number_wins(said: str, level: int) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args) == ("volume", {"volume": level})


@pytest.mark.parametrize(
    ("said", "name", "args"),
    [
        ("15min后再cue我一下", "snooze", {"minutes": 15}),  # English units and office slang
        ("过1 hour再提醒我", "snooze", {"minutes": 60}),
        ("现在有没有alert", "alerts", {}),
        ("小智，您了好", "greeting", {}),  # Tianjin polite 您了
        ("小智在线不", "greeting", {}),
        ("你会些么子", "help", {}),  # Hunan 么子 (which zhconv writes 幺子)
    ],
)
def test_words_people_use_for_units_alerts_and_hellos(said: str, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args) == (name, args)


@pytest.mark.parametrize(
    ("said", "name", "args"),
    [
        (
            "请对昨天的审计日志做一次全面梳理，重点关注配置变更的操作人，以便后续追责和复盘",
            "drill_down",
            {"kind": "audit", "day": "2026-11-26"},
        ),
        ("麻烦列一下目前所有被静默的告警规则，包括到期时间，我们要逐条核对一遍", "silence_list", {}),
        ("这条告警是压测期间的已知波动，不影响线上，请将其静默处理一小时", "silence_create", {"minutes": 60}),
    ],
)
def test_a_formal_request_is_read_where_it_asks(said: str, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_a_story_with_a_polite_word_in_it_stays_chat() -> None:
    assert understand("我上周请了假，回来发现系统一堆问题，心好累啊真的是", TODAY).intent.name == "chat"


@pytest.mark.parametrize(
    ("said", "expect", "name"),
    [
        ("直接回滚，别磨蹭了", Expect.NOTHING, "rollback_confirm"),  # 别 urges; it refuses nothing
        ("新版本太不稳定了，回滚吧", Expect.NOTHING, "rollback_confirm"),  # the release judged bad: a reason
        ("这个版本不行，回滚", Expect.ROLLBACK, "rollback_confirm"),
        (
            "等一下，先别回，订单还在往上涨，我再盯一会儿",
            Expect.ROLLBACK,
            "rollback_deny",
        ),  # a refusal mid-way
        ("等一下哈……算了，还是回滚吧", Expect.ROLLBACK, "rollback_confirm"),
    ],
)
def test_what_the_negation_in_a_rollback_answer_is_about(said: str, expect: Expect, name: str) -> None:
    u = understand(said, TODAY, expect)
    assert (u.intent.name, u.confirm) == (name, False)


def test_a_bad_release_without_a_rollback_asked_is_no_approval() -> None:
    assert understand("这版本不行，但是回滚的话更麻烦", TODAY).intent.name != "rollback_confirm"


@pytest.mark.parametrize(
    ("said", "name", "time"),
    [
        ("那个定时播报，下午三点，不是，下午三点半的那个，帮我删了", "schedule_cancel", "15:30"),
        (
            "每天早上八点，不是，早上八点半播日报",
            "schedule_create",
            "08:30",
        ),  # the part of the day said again
        ("每天晚上七点，不对，七点半播日报", "schedule_create", "19:30"),  # … or kept from the first clock
    ],
)
def test_a_clock_corrected_with_its_part_of_the_day(said: str, name: str, time: str) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args.get("time")) == (name, time)


def test_an_alert_flooding_the_screen_is_work_not_life() -> None:
    u = understand("这个告警一直在刷屏，屏蔽它一小时", TODAY)
    assert (u.intent.name, u.intent.args) == ("silence_create", {"minutes": 60})
    assert understand("朋友圈都被年终奖刷屏了", TODAY).intent.name == "chat"


def test_the_robot_called_after_a_preamble_is_asked_what_follows() -> None:
    assert understand("新人报到，小智咋用啊，有说明书没", TODAY).intent.name == "help"
    assert understand("我跟你说，小智今天表现不错", TODAY).intent.name == "chat"


# --- round 11: what the recognizer writes for clocks, levels and corrections (r26/r27 spoken misses) ---


@pytest.mark.parametrize(
    ("heard", "name", "args"),
    [
        ("22.那个定时播报取消", "schedule_cancel", {"time": "22:00"}),  # 点 written as a full stop
        ("8.半那个订时播报撤了吧", "schedule_cancel", {"time": "08:30"}),  # … next to a misheard 定时
        ("音量30%", "volume", {"volume": 30}),  # 百分之三十 as written by the recognizer
        ("音量调到60，窝布，40", "volume", {"volume": 40}),  # 哦不 heard as 窝布
        ("上中5的告警有哪些", "alerts", {"day": "2026-11-20"}),  # 上周五 heard as 上中5
        ("每天半月十二点播一下日报", "schedule_create", {"time": "00:00"}),  # 半夜 heard as 半月
    ],
)
def test_clocks_levels_and_corrections_as_the_recognizer_writes_them(
    heard: str, name: str, args: dict[str, object]
) -> None:
    u = understand(heard, TODAY, heard=True)
    assert (u.intent.name, u.intent.args) == (name, args)


def test_a_list_number_is_no_clock() -> None:
    assert repair_clock("第1.播报日志") == "第1.播报日志"
    assert repair_clock("音量调到30.") == "音量调到30."


@pytest.mark.parametrize(("heard", "delta"), [("大", 10), ("响", 10)])
def test_a_volume_request_read_from_its_remains_goes_the_way_it_says(heard: str, delta: int) -> None:
    u = understand(heard, TODAY, heard=True)  # "大点声" heard as "大"
    assert (u.intent.name, u.intent.args) == ("volume", {"delta": delta})


def test_a_notice_to_the_listener_and_a_bare_number_ask_nothing() -> None:
    """The robot's own summary heard back ("…发现三条异常请及时处理", 请 inside a clause: a notice) and the digits
    of an enrolment phrase are no commands, typed or heard."""
    for heard in (False, True):
        notice = understand(
            "今天系统院行正常共处理一万两千条业务日志，其周审计日志发现三条异常请及时处理", TODAY, heard=heard
        )
        assert not notice.known and notice.intent.name == "chat"
        digits = understand("12345678990", TODAY, heard=heard)
        assert not digits.known and digits.intent.name == "chat"


# --- round 11, after the r28 reading: families from its typed misses (r28 is tuning material from here on) ---


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("不要再念了不要再念了", "stop"),  # stop talking answers no rollback question
        ("行，这个我来跟", "acknowledge"),  # taking the alert on approves nothing
        ("好的，交给我", "acknowledge"),
        ("别念了，不回滚", "rollback_deny"),  # … unless the rollback is named
    ],
)
def test_under_the_rollback_question_another_question_answered_is_not_a_rollback_answer(
    said: str, name: str
) -> None:
    assert understand(said, TODAY, Expect.ROLLBACK).intent.name == name


@pytest.mark.parametrize(
    ("said", "name", "args"),
    [
        ("明天再叫我", "snooze", {"minutes": 1440}),  # tomorrow is a day from now
        ("小智儿，早上好", "greeting", {}),  # the name with the northern 儿
        ("下午三点那个定时播报伐要了", "schedule_cancel", {"time": "15:00"}),  # Hangzhou 伐 = 不 before 要
    ],
)
def test_tomorrow_the_northern_name_and_hangzhou_no(said: str, name: str, args: dict[str, object]) -> None:
    u = understand(said, TODAY)
    assert (u.intent.name, u.intent.args) == (name, args)
