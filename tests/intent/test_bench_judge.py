"""The intent bench's judge (bench/intents.py): equivalences taken from the product, and nothing looser."""

from __future__ import annotations

from datetime import date

from bench.intents import expected, same_request

DAY = date(2026, 11, 27)


def test_a_number_is_a_number() -> None:
    assert same_request("volume", {"delta": "10"}, {"delta": "+10"}, DAY)
    assert same_request("volume", {"delta": "-10"}, {"delta": "-10"}, DAY)
    assert not same_request("volume", {"delta": "10"}, {"delta": "-10"}, DAY)
    assert not same_request("volume", {"volume": "30"}, {"volume": "40"}, DAY)
    assert not same_request("schedule_create", {"time": "07:00"}, {"time": "07:45"}, DAY)


def test_a_broadcast_without_a_day_is_yesterdays() -> None:
    assert same_request("broadcast", {}, {"day": "2026-11-26"}, DAY)
    assert not same_request("broadcast", {}, {"day": "2026-11-25"}, DAY)


def test_a_broadcast_of_one_kind_is_that_kinds_drill_down() -> None:
    row = {"intent": "broadcast", "slots": "kind=audit", "context": ""}
    assert expected(row) == ("drill_down", {"kind": "audit"})
    assert expected({"intent": "broadcast", "slots": "day=2026-11-26", "context": ""}) == (
        "broadcast",
        {"day": "2026-11-26"},
    )
