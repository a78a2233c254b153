"""Each ASR-confusion repair on its own, and the small talk it must leave alone."""

from __future__ import annotations

import pytest

from server.intent.asr_repair import (
    Term,
    listen_for,
    readings,
    repair,
    repair_clock,
    repair_homophones,
    repair_names,
    repair_pronouns,
    repair_time_words,
    sounds_like,
)
from server.intent.models import Expect
from server.speech.asr import Listen

WORKLOADS = ("payment-api", "order-service", "user-center")


def test_fuzzy_pinyin_folds_the_usual_pairs():
    assert readings("酒") == readings("九")
    assert readings("日") & readings("日")
    assert sounds_like("经末", "静默")  # jing-mo: identical
    assert sounds_like("平毕", "屏蔽")  # ping-bi
    assert sounds_like("生纹", "声纹")  # sheng-wen
    assert sounds_like("神技", "审计")  # shen-ji
    assert sounds_like("神级", "审计")  # shen-ji
    assert not sounds_like("节目", "静默")  # jie-mu is two letters off
    assert not sounds_like("静默", "静默")  # the word itself is not a repair
    assert not sounds_like("天气", "音量", near=True)


def test_near_accepts_one_letter_in_one_syllable_only():
    assert sounds_like("云量", "音量", near=True)  # yun / yin
    assert sounds_like("饮料", "音量", near=True)  # liao / liang
    assert not sounds_like("云量", "音量")
    assert not sounds_like("运料", "音量", near=True)  # two syllables off


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("把这个告警经末一小时", "把这个告警静默一小时"),
        ("这类告警平毕一下", "这类告警屏蔽一下"),
        ("每天早上酒店播报日志", "每天早上九点播报日志"),
        ("下午亮点提醒我看日志", "下午两点提醒我看日志"),
        ("帮我注册一下生纹", "帮我注册一下声纹"),
        ("看看神技日志", "看看审计日志"),
        ("时间日志讲讲", "事件日志讲讲"),
        ("把云量调到五十", "把音量调到五十"),
        ("饮料调大一点", "音量调大一点"),
        ("确认会滚", "确认回滚"),
        ("屏蔽这个报警量小时", "屏蔽这个报警两小时"),
        ("起销定时播报", "取消定时播报"),
    ],
)
def test_command_words_heard_as_homophones_are_restored(heard: str, meant: str):
    assert repair_homophones(heard) == meant


@pytest.mark.parametrize(
    "chat",
    [
        "今天晚上有什么好看的节目",
        "帮我订一个酒店",  # 酒店 without a schedule cue stays a hotel
        "明天早上的酒店在哪",
        "我想喝点饮料",
        "今天云量多不多",
        "现在是什么时间",
        "这个题型好难",
        "神级操作",
        "这个日子过得真快",
        "我们平常怎么说",
        "这个告警已消失",  # 已消失 sounds like 一小时, but 一 is left out of the duration repair
        "价格是8.5元",
        "每天早上8点提醒我看告警",  # 醒我 is not 静默 (醒 is read jing only in old texts)
    ],
)
def test_small_talk_is_left_alone(chat: str):
    assert repair(chat, Expect.NOTHING, WORKLOADS) == chat


@pytest.mark.parametrize("said", ["这个告警静默两个小时", "半小时后再提醒我", "屏蔽这个告警三小时"])
def test_a_number_that_was_heard_is_never_changed(said: str):
    assert repair_homophones(said) == said


def test_a_refusal_heard_as_nonsense_stays_a_refusal():
    assert repair_homophones("播回滚") == "不回滚"
    assert repair_homophones("确认回滚") == "确认回滚"


def test_log_kind_needs_the_log_word_right_after_it():
    assert repair_homophones("时间不早了，看看日志") == "时间不早了，看看日志"
    assert repair_homophones("时间日志") == "事件日志"


def test_a_term_without_its_cue_is_not_applied():
    term = Term("静默", cues=("告警",))
    assert repair_homophones("经末", (term,)) == "经末"
    assert repair_homophones("告警经末", (term,)) == "告警静默"


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("P.A.Y.I.M.E.NTA.P.I为什么出错", "payment-api"),
        ("O.R.D.E.R service的事件日志", "order-service"),
        ("user senter的业务日志", "user-center"),
        ("Pay Men API昨天的报错", "payment-api"),
        ("P.A.Y.M.Y.N.T.A. 皮爱昨天的报错", "payment-api"),  # the last letters named in characters
    ],
)
def test_spelled_out_workload_names_are_collapsed(heard: str, name: str):
    assert name in repair_names(heard, WORKLOADS)


def test_latin_words_that_are_not_workloads_stay():
    assert repair_names("有没有pod重启", WORKLOADS) == "有没有pod重启"
    assert repair_names("有没有oom的容器", WORKLOADS) == "有没有oom的容器"
    assert repair_names("谁改了configmap", WORKLOADS) == "谁改了configmap"
    assert repair_names("nginx地址变了", WORKLOADS) == "nginx地址变了"  # 地 is not read as a letter here
    # no known names: nothing to match
    assert repair_names("P.A.Y.I.M.E.NTA.P.I", ()) == "P.A.Y.I.M.E.NTA.P.I"


def test_the_prompt_follows_what_the_robot_asked():
    assert listen_for(Expect.ROLLBACK) is Listen.ANSWER
    assert listen_for(Expect.CONFIRM) is Listen.ANSWER
    assert listen_for(Expect.DRILL) is Listen.ANSWER
    assert listen_for(Expect.NOTHING) is Listen.COMMAND
    assert listen_for(Expect.CHALLENGE) is Listen.COMMAND


def test_the_intent_layer_reads_the_repaired_words():
    from datetime import date

    from server.intent.understand import understand

    today = date(2026, 11, 27)
    u = understand("把这个告警经末一小时", today)
    assert (u.intent.name, u.intent.args.get("minutes")) == ("silence_create", 60)
    u = understand("P.A.Y.I.M.E.NTA.P.I的业务日志", today, workloads=WORKLOADS)
    assert (u.intent.name, u.intent.args.get("workload")) == ("drill_down", "payment-api")
    assert understand("我想喝点饮料", today).intent.name == "chat"


def test_a_decimal_clock_in_a_schedule_request_is_half_past():
    assert repair_clock("删掉8.5的定时") == "删掉8点半的定时"
    assert repair_clock("每天9.5播报日志") == "每天9点半播报日志"
    assert repair_clock("音量调到8.5") == "音量调到8.5"  # no schedule cue
    assert repair_clock("每天18.55播报") == "每天18点55分播报"  # minutes after the point
    assert repair_clock("每天早上8.2时播报") == "每天早上8点20播报"  # 八点二十: 十 heard as 时
    assert repair_clock("每天18.75播报") == "每天18.75播报"  # no clock has 75 minutes


def test_noon_heard_as_five_before_a_clock_number():
    assert repair_clock("每天上五十点提醒我看日志") == "每天上午十点提醒我看日志"
    assert repair_clock("每天中五十二点播报") == "每天中午十二点播报"
    assert repair_clock("每天下午五点播报") == "每天下午五点播报"  # 五 is the hour here
    assert repair_clock("楼上五十个人") == "楼上五十个人"  # no schedule, no clock


def test_a_rare_reading_of_a_heard_character_does_not_make_a_command_word() -> None:
    # 前 is "qian"; its rare reading "jian" once made "当前没" sound like "当静默" next to 告警
    for text in ("当前没有告警吧", "看看当前没处理的告警"):
        assert repair(text, Expect.NOTHING, ()) == text


def test_a_quarter_hour_and_a_half_written_after_a_decimal_point():
    assert repair_clock("加个定时播报9.1克") == "加个定时播报9点1刻"  # 九点一刻: 刻 heard as 克
    assert repair_clock("8.半的定时播报撤了") == "8点半的定时播报撤了"
    assert repair_clock("这瓶水重1.1克") == "这瓶水重1.1克"  # no schedule cue


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("一个中头以后再叫我", "一个钟头以后再叫我"),  # zhong-tou
        ("这条告警静默俩小师", "这条告警静默两小时"),  # xiao-shi right after a number (俩 is 两)
        ("声音直接掉成零", "声音直接调成零"),  # diao-cheng before a number, with a word for the sound
        ("音量调到六时", "音量调到六十"),  # liu-shi after 音量调到
        ("医量30%", "音量30%"),
    ],
)
def test_units_and_levels_heard_as_homophones_next_to_their_number(heard: str, meant: str):
    assert repair(heard, Expect.NOTHING, WORKLOADS) == meant


@pytest.mark.parametrize(
    "said",
    ["告警一消失就通知我", "流量掉到零了", "我小时候住在乡下", "把会议调到三时"],
)
def test_number_neighbours_that_are_what_was_said_stay(said: str):
    # 消失 is never 小时; without a word for the sound, 掉到 and 三时 are what was said
    assert repair(said, Expect.NOTHING, WORKLOADS) == said


def test_a_short_drill_answer_that_sounds_like_a_log_kind_names_it():
    assert repair("设计的", Expect.DRILL, WORKLOADS) == "审计的"  # she-ji / shen-ji
    assert repair("设计的", Expect.NOTHING, WORKLOADS) == "设计的"  # not asked: a designer's word
    assert repair("设计师说这个界面不好看", Expect.DRILL, WORKLOADS) == "设计师说这个界面不好看"  # too long


def test_what_heard_as_kill_after_an_asking_verb():
    assert repair("除了播日志，你还会杀", Expect.NOTHING, WORKLOADS) == "除了播日志，你还会啥"
    assert repair("昨天有杀告警", Expect.NOTHING, WORKLOADS) == "昨天有啥告警"
    # 杀 the verb stays
    assert repair("把那个pod杀了", Expect.NOTHING, WORKLOADS) == "把那个pod杀了"
    assert repair("杀掉那个进程", Expect.NOTHING, WORKLOADS) == "杀掉那个进程"


def test_one_hour_heard_with_another_yi_but_never_the_everyday_ones():
    assert repair_homophones("把这个告警静默医小时") == "把这个告警静默一小时"
    assert repair_homophones("等我医个小时再提醒我") == "等我一个小时再提醒我"
    for said in ("这个告警已消失了吗", "告警以小时为单位统计一下"):
        assert repair_homophones(said) == said


def test_a_wave_of_errors_is_not_a_broadcast():
    assert "一波报错" in repair_homophones("payment-api昨天下午那一波报错，日志里看看")


def test_what_heard_as_kill_after_le_or_dou_before_what_is_asked_about():
    assert repair("看看都屏蔽了杀告警", Expect.NOTHING, WORKLOADS) == "看看都屏蔽了啥告警"
    assert repair("我们之前屏蔽了杀告警，说说", Expect.NOTHING, WORKLOADS) == "我们之前屏蔽了啥告警，说说"
    # killing is done to pods and processes, and 杀 there stays
    for said in ("进程都杀了", "把pod都杀了再说", "昨天杀了一个进程"):
        assert repair(said, Expect.NOTHING, WORKLOADS) == said


def test_alert_heard_as_gao_jing_but_high_alert_stays():
    assert repair("这个高警我认理了", Expect.NOTHING, WORKLOADS) == "这个告警我认领了"
    assert repair("大家保持高警惕", Expect.NOTHING, WORKLOADS) == "大家保持高警惕"


@pytest.mark.parametrize(
    ("heard", "meant"),
    [("你量掉到30", "音量调到30"), ("引量百分之六十", "音量百分之六十"), ("营量调成五十", "音量调成五十")],
)
def test_volume_heard_with_another_first_syllable_before_a_setting(heard: str, meant: str):
    assert repair(heard, Expect.NOTHING, WORKLOADS) == meant


@pytest.mark.parametrize("said", ["你量一下体温", "力量百分之六十靠训练", "这个数你量量看"])
def test_ni_liang_without_a_setting_stays(said: str):
    assert repair(said, Expect.NOTHING, WORKLOADS) == said


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("每天时期点三十分定时播报一下", "十七点三十分"),  # 十七点 heard as 时期点 (shi-qi-dian)
        ("每天二十一点定时播报", "二十一点"),
        ("每朝时点播日志", "十点"),  # shi-dian is 十点, not 四点 (si with s/sh folded)
        ("每天 9.1 刻定时播报", "9点1刻"),  # a space after the decimal clock
        ("10.1客，那个定时播报删掉", "10点1刻"),
        ("麻烦帮我撤掉下53.的自动播报", "下午3点"),  # 午 heard as 五, and 点 as a full stop
    ],
)
def test_clock_times_as_the_recognizer_writes_them(heard: str, meant: str):
    assert meant in repair(heard, Expect.NOTHING, WORKLOADS)


def test_a_decimal_that_is_no_clock_stays():
    assert repair_clock("版本号是3.1 刻录机那个") == "版本号是3.1 刻录机那个"  # no schedule was asked for
    assert repair_clock("下周播报一下，增长了53.5%") == "下周播报一下，增长了53.5%"


def test_one_hour_heard_one_letter_off_next_to_an_alert():
    assert repair_homophones("把这个告警屏蔽音小时") == "把这个告警屏蔽一小时"
    for said in ("这个告警已消失了吗", "告警以小时为单位统计一下"):
        assert repair_homophones(said) == said


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("以后每天中52点自动播报", "中午12点"),  # 午十二 is 五十二, written 52
        ("上52.那个定时，取消", "上午12"),
        ("每天中52点半播一次", "中午12点半"),
        ("上50点播报日志", "上午10点"),
    ],
)
def test_noon_ten_to_twelve_heard_as_fifty(heard: str, meant: str):
    assert meant in repair_clock(heard)


def test_an_afternoon_hour_after_five_keeps_its_digit():
    assert "下午3" in repair_clock("下53.的定时取消")  # 下午三点: 五三, not 五十三


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("半个中后再提醒", "半个钟后"),
        ("大概一个终这样子再提醒我", "一个钟这样子"),
        ("静默三个中统", "三个钟统"),
        ("过一刻中再喊我", "一刻钟"),
        ("那小时以后再叫我", "俩小时以后"),
    ],
)
def test_amounts_of_time_as_the_recognizer_writes_them(heard: str, meant: str):
    assert meant in repair_time_words(heard)


@pytest.mark.parametrize(
    "said", ["一个中午都在开会", "他是一个中国人", "我那小时候也值过班", "两个中间件挂了"]
)
def test_words_that_only_look_like_an_hour_stay(said: str):
    assert repair_time_words(said) == said


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("小智，按来了，走啊", "俺来了"),  # 俺 (northern "I") written as 按
        ("安想听听昨儿的日志", "俺想"),
        ("暗们的服务现在都OK不", "俺们"),
        ("这个告警按揭了", "这个告警俺接了"),  # 俺接 written as the everyday 按揭 (a mortgage)
        ("被关掉不想的告警有哪些", "不响的告警"),  # 不响 (silent) written as 不想
    ],
)
def test_the_northern_i_and_a_silent_alert_as_the_recognizer_writes_them(heard: str, meant: str):
    assert meant in repair_pronouns(heard)


@pytest.mark.parametrize(
    "said",
    ["按照流程来", "按时播报", "按要求处理", "安装好了吗", "暗中观察", "我房子还在按揭", "我不想的事别提"],
)
def test_everyday_an_words_stay(said: str):
    assert repair_pronouns(said) == said


def test_call_me_with_the_northern_me_after_a_wait():
    assert "再叫俺" in repair("等一个钟头再叫按")
    assert "叫俺" in repair("等一个钟头在教案")
    assert repair("他在写教案") == "他在写教案"  # a lesson plan, with no wait in sight


def test_dont_go_on_heard_as_a_lottery_only_next_to_enough():
    assert "莫讲了" in repair("好了哥，默奖了")
    assert repair("我昨天去摸奖了") == "我昨天去摸奖了"


def test_no_thanks_heard_as_no_chat_only_in_an_answer():
    assert repair("不聊吧，产品那边说新功能得留着", Expect.ROLLBACK).startswith("不了吧")
    assert repair("不聊吧，我们说正事", Expect.NOTHING).startswith("不聊吧")


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("每天早上7.8日爆捏一遍", "7点把日报念一遍"),  # 把 heard as 八 after the hour, 念 as 捏
        ("营亮掉成七十", "音量"),  # 音量 before a verb of setting it
        ("墨回滚汤，我先看一下日志", "莫回滚"),
        ("你都会先傻哥", "会些啥"),
    ],
)
def test_round9_spoken_slip_families(heard: str, meant: str):
    assert meant in repair(heard)


def test_a_schedule_announcer_is_no_one():
    assert "定时播报呀" in repair_time_words("我们设了几个电视播报员")  # 呀 heard as 员
    assert repair_time_words("她是电视台的播报员") == "她是电视台的播报员"


@pytest.mark.parametrize("said", ["今年GDP增长7.8", "温度是7.8度", "他先傻眼了", "我有先见之明"])
def test_what_only_looks_like_those_slips_stays(said: str):
    assert repair(said) == said


def test_away_heard_as_turn_after_a_silencing_verb():
    assert "静默掉他" in repair("静默调他")
    assert repair("把音量调大") == "把音量调大"


def test_noon_ten_to_twelve_heard_as_fifty_in_words():
    assert "中午十二点" in repair_clock("那个中午五十二点的定时播报，取消掉")
    assert "上午十点" in repair_clock("每天上午五十点播报")
