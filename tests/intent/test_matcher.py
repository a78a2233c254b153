from __future__ import annotations

from datetime import date

import pytest

from server.intent.matcher import cn_to_int, match_intent, normalize, parse_day

TODAY = date(2024, 11, 22)


def m(text: str, **kw):
    got = match_intent(text, today=TODAY, **kw)
    return (got.name, got.args) if got else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("开始播报日志", ("broadcast", {})),
        ("开启波泡水池", ("broadcast", {})),  # espeak audio through Whisper (speech-stack.md §2)
        ("開始播報日誌", ("broadcast", {})),  # Traditional script
        ("开始播报日质", ("broadcast", {})),
        ("小智，播报一下昨天的日志", ("broadcast", {"day": "2024-11-21"})),
        ("播报前天的审计日志", ("broadcast", {"day": "2024-11-20", "kind": "audit"})),
        ("深入分析也無日治", ("drill_down", {"kind": "business"})),
        ("深入分心也无日志", ("drill_down", {"kind": "business"})),
        ("审计分析 业务日志", ("drill_down", {"kind": "business"})),  # the kind next to 日志 wins
        ("帮我看看神技日之有没有异常", ("drill_down", {"kind": "audit"})),
        ("幫我看看審計日之有沒有異常", ("drill_down", {"kind": "audit"})),
        ("详细说说K8S事件", ("drill_down", {"kind": "event"})),
        ("事件日志", ("drill_down", {"kind": "event"})),
        ("关联分析三类日治，找出问题跟员", ("drill_down", {"kind": "correlate"})),
        ("对比一下业务日志和审计日志", ("drill_down", {"kind": "correlate"})),
        ("看看大前天的业务日志", ("drill_down", {"kind": "business", "day": "2024-11-19"})),
        ("最近有什么告警", ("alerts", {})),
        ("今天有没有报警", ("alerts", {"day": "2024-11-22"})),
        ("确认回滚", ("rollback_confirm", {})),
        ("確認回滾", ("rollback_confirm", {})),
        ("不用回滚", ("rollback_deny", {})),
        ("先别回滚", ("rollback_deny", {})),
        ("注册声纹", ("enroll_voiceprint", {})),
        ("住策声轮", ("enroll_voiceprint", {})),  # a 10 s-window mis-hearing of 注册声纹
        ("把音量调到五十", ("volume", {"volume": 50})),
        ("音量调到百分之八十五", ("volume", {"volume": 85})),
        ("音量50", ("volume", {"volume": 50})),
        ("声音大一点", ("volume", {"delta": 10})),
        ("小声点", ("volume", {"delta": -10})),
        ("停止播报", ("stop", {})),
        ("你好小智", ("greeting", {})),
        ("你好小智啊", ("greeting", {})),
    ],
)
def test_commands(text, expected):
    assert m(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "今天是星期几",
        "今天天气很好我们去公园散步",
        "小智请记住我的声音",
        "一二三四五六七八九十",
        "今天系统运行正常，共处理一万两千条业务日志，其中审计日志发现三条异常，请及时处理。",
        "要不要回滚",  # a question, not an answer
        "回滚是什么意思",
        "",
        "？！",
    ],
)
def test_not_a_command(text):
    assert m(text) is None


def test_bare_yes_no_answers_only_when_a_rollback_question_is_pending():
    assert m("好的", pending="rollback") == ("rollback_confirm", {})
    assert m("确定", pending="rollback") == ("rollback_confirm", {})
    assert m("不用了", pending="rollback") == ("rollback_deny", {})
    assert m("算了吧", pending="rollback") == ("rollback_deny", {})
    assert m("好的") is None
    assert m("帮我看看审计日志", pending="rollback") == ("drill_down", {"kind": "audit"})


def test_dates():
    assert parse_day("十一月二十号的日志", TODAY) == date(2024, 11, 20)
    assert parse_day("11月20日", TODAY) == date(2024, 11, 20)
    assert parse_day("2023年12月31日", TODAY) == date(2023, 12, 31)
    assert parse_day("十二月三十一号", date(2025, 1, 2)) == date(2024, 12, 31)  # a future date → last year
    assert parse_day("二十号", TODAY) == date(2024, 11, 20)
    assert parse_day("2月30号", TODAY) is None
    assert parse_day("没有日期", TODAY) is None


def test_chinese_numerals():
    cases = {
        "五十": 50,
        "十一": 11,
        "二十": 20,
        "一百": 100,
        "八十五": 85,
        "两千零五": 2005,
        "一万两千": 12000,
    }
    assert {k: cn_to_int(k) for k in cases} == cases
    assert cn_to_int("一二三") == 123 and cn_to_int("42") == 42 and cn_to_int("abc") is None


def test_normalize():
    assert normalize("審計日誌，ＡＢＣ 12！") == "审计日志abc12"
