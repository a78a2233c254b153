"""A transcript is read by the classifier that learnt how the recognizer mishears this vocabulary
(data/heard_asr.tsv); typed text by the one trained only on what people wrote."""

from __future__ import annotations

from datetime import date

import pytest

from server.intent.classifier import load_catalogue, load_training
from server.intent.models import Expect
from server.intent.understand import understand

TODAY = date(2026, 11, 27)


# Whisper base's transcripts of rows of heldout_r25a (a blind set, in no training file when this was written),
# said by the bench's synthetic voices: what was said → what was heard.
@pytest.mark.parametrize(
    ("heard", "said", "intent", "args"),
    [
        ("有在告罩你", "有在告警没？", "alerts", {}),
        ("当前是用那些爱你压体未处理", "当前还有哪些alert没处理？", "alerts", {}),
        ("辱来辱来，交给人", "额来额来，交给额。", "acknowledge", {}),
        ("金末等，牛纳线", "静默的，有哪些", "silence_list", {}),
        ("刑了，刑了英大桌子", "行了行了，打住。", "stop", {}),
        ("现在没空，郭班小时在问我", "现在没空，过半小时再问我。", "snooze", {"minutes": 30}),
        (
            "若是新来的外包，能不能把勒本声一路进去让你认得了",
            "额是新来的外包，能不能把额的声音录进去，让你认得额？",
            "enroll_voiceprint",
            {},
        ),
    ],
)
def test_a_mishearing_of_a_sentence_never_trained_on_is_understood(
    heard: str, said: str, intent: str, args: dict[str, object]
) -> None:
    assert said not in {text for _, text in load_training(heard=True)}
    u = understand(heard, TODAY, heard=True)
    assert (u.intent.name, u.intent.args, u.confirm) == (intent, args, False), said


def test_typed_text_keeps_the_classifier_of_written_words() -> None:
    written = load_catalogue() + load_catalogue("heard.tsv")
    assert load_training() == written
    assert len(load_training(heard=True)) > len(written) + 10_000
    # what the recognizer's slips taught ("我见了" for 我接了) does not turn a typed story into taking an alert
    assert understand("我见了他一面", TODAY).intent.name == "chat"
    assert understand("昨天我见了老王，这个事", TODAY).intent.name == "chat"


def test_under_a_question_a_transcript_still_answers_it() -> None:
    assert understand("好的，回滚吧", TODAY, Expect.ROLLBACK, heard=True).intent.name == "rollback_confirm"
    assert understand("先别回滚", TODAY, Expect.ROLLBACK, heard=True).intent.name == "rollback_deny"
