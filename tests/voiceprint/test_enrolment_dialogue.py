import numpy as np

from server.voiceprint.enrolment import PHRASES, EnrolmentDialogue, Stage, extract_name

CLIP = np.full(24000, 1000, dtype=np.int16)


def test_full_enrolment_dialogue() -> None:
    d = EnrolmentDialogue()
    assert "名字" in d.prompt
    step = d.hear("我叫张三。")
    assert step.name == "张三" and PHRASES[0] in step.prompt
    step = d.hear(PHRASES[0], CLIP)
    assert PHRASES[1] in step.prompt
    step = d.hear(PHRASES[1], CLIP)
    assert PHRASES[2] in step.prompt
    step = d.hear(PHRASES[2], CLIP)
    assert step.done and len(step.clips) == 3 and "张三" in step.prompt


def test_retries_then_gives_up_and_can_be_cancelled() -> None:
    d = EnrolmentDialogue()
    assert d.hear("").state.stage is Stage.ASK_NAME
    d.hear("李四")
    step = d.hear(PHRASES[0], CLIP[:8000])  # too short: asked again
    assert step.state.stage is Stage.PHRASE and "再读一遍" in step.prompt and not step.clips
    d.hear("", CLIP)
    step = d.hear("", None)
    assert step.state.stage is Stage.CANCELLED and step.finished and not step.done
    d2 = EnrolmentDialogue()
    assert d2.hear("算了，取消吧").state.stage is Stage.CANCELLED


def test_extract_name() -> None:
    assert extract_name("我的名字是 Alice!") == "Alice"
    assert extract_name("，。") == ""
