"""Mid-sentence corrections and filler clauses, read on the raw transcript."""

from __future__ import annotations

from datetime import date

import pytest

from server.intent.self_correction import drop_filler_clauses, resolve_corrections
from server.intent.understand import understand

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("said", "meant"),
    [
        ("前天，不对，昨天的审计日志", "昨天的审计日志"),
        ("音量调到四十，不对，五十", "音量调到五十"),
        ("早上八点，呃不对，八点半播报", "早上八点半播报"),
        ("二十分钟后提醒我，说错了，三十分钟", "三十分钟后提醒我"),
        ("看看事件日志，不对，我要听告警", "我要听告警"),  # no value: the whole request is replaced
    ],
)
def test_the_corrected_value_replaces_the_earlier_one(said: str, meant: str) -> None:
    assert resolve_corrections(said) == meant


@pytest.mark.parametrize("text", ["不对，是前天的", "日志不对劲", "这个数据不对", "播报一下，不对"])
def test_no_mid_sentence_correction_leaves_the_text(text: str) -> None:
    assert resolve_corrections(text) == text


def test_a_filler_clause_is_dropped() -> None:
    assert drop_filler_clauses("帮我看一下，就是那个，审计") == "帮我看一下，审计"
    assert drop_filler_clauses("这个告警先静默") == "这个告警先静默"


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("前天，不对，昨天的审计日志讲讲", "drill_down", {"kind": "audit", "day": "2026-11-26"}),
        ("音量调到四十，不对，五十", "volume", {"volume": 50}),
        ("二十分钟后再提醒我，不对，半小时", "snooze", {"minutes": 30}),
        ("每天早上八点，不对，八点半播报日志", "schedule_create", {"time": "08:30"}),
        ("帮我看一下，就是那个，告警", "alerts", {}),
    ],
)
def test_the_intent_is_read_with_the_corrected_value(text: str, name: str, args: dict[str, object]) -> None:
    intent = understand(text, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


def test_a_correction_heard_as_its_homophone_between_two_days() -> None:
    # "前天的，不对，昨天的" heard as "前天等部队，昨天的": 部队 and 不对 are both bu-dui
    assert "昨天" in resolve_corrections("小智，前天等部队，昨天的日志播一下")
    assert "前天" not in resolve_corrections("小智，前天等部队，昨天的日志播一下")
    # the army is the army when no second day follows
    assert resolve_corrections("我昨天部队里有事") == "我昨天部队里有事"


def test_a_heard_correction_needs_an_earlier_value_of_the_same_kind() -> None:
    assert "20号" not in resolve_corrections("11月20号的日志播报一下部队是21号的")
    assert resolve_corrections("部队是21号出发的") == "部队是21号出发的"  # nothing said before it to correct


def test_an_afterthought_needs_a_value_of_the_same_kind_before_it() -> None:
    assert resolve_corrections("每天早上七点四十播一次日报，呃，七点五十吧").startswith("每天早上七点五十播")
    assert resolve_corrections("播报一下日志吧") == "播报一下日志吧"
    assert resolve_corrections("哦，不用了") == "哦，不用了"  # 哦不 only with a pause after it


@pytest.mark.parametrize(
    ("heard", "name", "args"),
    [
        # 不对 heard as 部队 between two amounts, and 哦不 as 我不 right before the value
        ("音量调到六十，部队七十", "volume", {"volume": 70}),
        ("20分钟，部队15分钟后再提醒一次", "snooze", {"minutes": 15}),
        ("每天下午三点，我不三点半自动播一下日志", "schedule_create", {"time": "15:30"}),
        # the decimal clock is a clock before the afterthought replaces it
        ("每天早上7.40播一次日报，七点五十吧", "schedule_create", {"time": "07:50"}),
        ("每天早上7点40播一次日报，得7点50吧", "schedule_create", {"time": "07:50"}),
        # a wait, then 是 and a value
        ("周四的业务日志，等下，是周三的，细讲一下", "drill_down", {"kind": "business", "day": "2026-11-25"}),
        ("今天，哦不对，周四一共报了几个警？", "alerts", {"day": "2026-11-26"}),
    ],
)
def test_corrections_as_heard(heard: str, name: str, args: dict[str, object]) -> None:
    intent = understand(heard, TODAY).intent
    assert (intent.name, intent.args) == (name, args)


def test_a_wait_without_a_value_corrects_nothing() -> None:
    assert resolve_corrections("播报一下日志，等一下，我先开个会") == "播报一下日志，等一下，我先开个会"
    # "I don't" with nothing of the same kind before it stays
    assert resolve_corrections("我不三点去") == "我不三点去"
    assert resolve_corrections("昨天我不三点走的") == "昨天我不三点走的"
