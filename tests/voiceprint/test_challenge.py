import pytest

from server.voiceprint.challenge import ChallengeManager, Verdict, speak_digits, spoken_digits
from tests.voiceprint.conftest import SPEAKERS, enrol_clips, load


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("3815", "3815"),
        ("3 8 1 5。", "3815"),
        ("三八一五", "3815"),
        ("三、八、幺、五", "3815"),
        ("零两九七", "0297"),
        ("散吧依舞", "3815"),  # ASR homophones
        ("３８１５", "3815"),
        ("我说的是四六", "46"),
        ("", ""),
    ],
)
def test_spoken_digits_tolerates_asr_forms(text: str, digits: str) -> None:
    assert spoken_digits(text) == digits


def test_prompt_reads_digits_in_chinese() -> None:
    assert speak_digits("3815") == "三 八 一 五"


@pytest.fixture(scope="module")
def voices(encoder, tmp_path_factory):
    from server.storage.db import Database
    from server.vault import store as _t  # noqa: F401
    from server.voiceprint.store import VoiceprintStore

    db = Database.sqlite(tmp_path_factory.mktemp("ch") / "db.sqlite3")
    db.create_all()
    store = VoiceprintStore(db, encoder)
    alice = store.enrol(None, enrol_clips("espeak_f2"), name="alice").owner_id
    bob = store.enrol(None, enrol_clips("neural"), name="bob").owner_id
    # the voice of the utterance that answers the challenge, identified for real
    alice_voice = store.identify_pcm(load(SPEAKERS / "espeak_f2" / "probe_audit.wav"))
    bob_voice = store.identify_pcm(load(SPEAKERS.parent / "commands" / "rollback_yes.wav"))
    assert alice_voice.owner_id == alice and bob_voice.owner_id == bob
    yield alice, alice_voice, bob_voice
    db.dispose()


def test_challenge_outcomes(voices) -> None:
    alice, alice_voice, bob_voice = voices
    clock = Clock()
    mgr = ChallengeManager(ttl_s=30, clock=clock)

    ch = mgr.issue(alice, "rollback")
    assert 4 <= len(ch.digits) <= 6 and ch.digits.isdigit()
    assert speak_digits(ch.digits) in ch.prompt and "30秒" in ch.prompt
    said = speak_digits(ch.digits).replace(" ", "")
    ok = mgr.verify(ch.id, said, alice_voice)
    assert ok.ok and ok.verdict is Verdict.OK
    assert mgr.verify(ch.id, said, alice_voice).verdict is Verdict.USED  # single use, even after a pass

    ch = mgr.issue(alice)
    wrong = "".join(str((int(d) + 1) % 10) for d in ch.digits)
    assert mgr.verify(ch.id, wrong, alice_voice).verdict is Verdict.DIGITS_MISMATCH

    ch = mgr.issue(alice)
    assert mgr.verify(ch.id, ch.digits, bob_voice).verdict is Verdict.VOICE_MISMATCH

    ch = mgr.issue(alice)
    clock.t += 31
    assert mgr.verify(ch.id, ch.digits, alice_voice).verdict is Verdict.EXPIRED

    assert mgr.verify("never-issued", "1234", alice_voice).verdict is Verdict.UNKNOWN


def test_a_replayed_answer_fails_on_a_fresh_challenge(voices) -> None:
    alice, alice_voice, _ = voices
    mgr = ChallengeManager()
    first = mgr.issue(alice)
    assert mgr.verify(first.id, first.digits, alice_voice).ok
    issued = [mgr.issue(alice) for _ in range(20)]
    # replaying the recording of the first answer: same voice, old digits
    results = [mgr.verify(c.id, first.digits, alice_voice) for c in issued]
    assert sum(r.ok for r in results) == sum(c.digits == first.digits for c in issued)
    assert len({c.digits for c in issued}) > 15  # digits are fresh per challenge
