import asyncio

import numpy as np
import pytest

from server.voiceprint.audio import AudioError
from server.voiceprint.identify import Identifier
from server.voiceprint.store import OwnerError
from tests.paths import COMMANDS
from tests.voiceprint.conftest import SPEAKERS, enrol_clips, load


def test_nobody_enrolled_means_guest(store) -> None:
    ident = store.identify_pcm(load(SPEAKERS / "espeak_f2" / "probe_audit.wav"))
    assert ident.owner_id is None and ident.is_guest


def test_enrol_persists_and_identifies_across_store_instances(store, encoder) -> None:
    from server.voiceprint.store import VoiceprintStore

    f2 = store.enrol(None, enrol_clips("espeak_f2"), name="小红")
    neural = store.enrol(None, enrol_clips("neural"), name="neural")
    fresh = VoiceprintStore(store.db, encoder)  # as after a restart: everything comes from the DB
    assert fresh.identify_pcm(load(SPEAKERS / "espeak_f2" / "probe_broadcast.wav")).owner_id == f2.owner_id
    ident = fresh.identify_pcm(load(COMMANDS / "rollback_yes.wav"))
    assert ident.owner_id == neural.owner_id and ident.score >= ident.threshold and ident.margin > 0.1
    owners = {o.name: o for o in fresh.list_owners()}
    assert owners["小红"].enrolled and owners["小红"].n_samples == 3


def test_a_bad_clip_leaves_the_existing_voiceprint_intact(store) -> None:
    owner = store.create_owner("alice")
    store.enrol(owner.id, enrol_clips("espeak_m1"))
    before = store.get_owner(owner.id)
    clips = enrol_clips("espeak_f2")
    clips[2] = np.zeros(16000, dtype=np.int16)  # one second of silence
    with pytest.raises(AudioError, match="clip 3"):
        store.enrol(owner.id, clips)
    after = store.get_owner(owner.id)
    assert after.threshold == before.threshold
    assert store.identify_pcm(load(SPEAKERS / "espeak_m1" / "probe_audit.wav")).owner_id == owner.id


def test_enrolment_needs_three_clips_and_a_known_owner(store) -> None:
    with pytest.raises(AudioError, match="at least 3"):
        store.enrol(None, enrol_clips("espeak_m3")[:2], name="bob")
    with pytest.raises(OwnerError, match="unknown owner"):
        store.enrol(999, enrol_clips("espeak_m3"))
    store.create_owner("bob")
    with pytest.raises(OwnerError, match="already exists"):
        store.create_owner("bob")


async def test_identifier_runs_off_the_event_loop(store) -> None:
    owner = store.enrol(None, enrol_clips("espeak_m3"), name="m3")
    ident = Identifier(store)
    try:
        probe = load(SPEAKERS / "espeak_m3" / "probe_audit.wav")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        t = asyncio.create_task(ticker())
        result = await ident.identify(probe)
        t.cancel()
        assert result.identification.owner_id == owner.owner_id and result.error is None
        assert ticks > 0  # the loop kept running while the encoder worked
        silent = await ident.identify(np.zeros(16000, dtype=np.int16))
        assert silent.identification.is_guest and "silent" in silent.error
    finally:
        ident.close()


def test_a_voiceprint_from_before_the_pitch_check_must_be_re_enrolled(store, encoder) -> None:
    import io

    from sqlalchemy import update

    from server.voiceprint.store import VoiceprintStore, voiceprints

    owner = store.enrol(None, enrol_clips("espeak_m3"), name="m3")
    probe = load(SPEAKERS / "espeak_m3" / "probe_audit.wav")
    assert store.identify_pcm(probe).owner_id == owner.owner_id
    old = io.BytesIO()  # the v1 blob: window embeddings only, no pitch
    np.savez(old, *[encoder.analyse(c).partials for c in enrol_clips("espeak_m3")])
    with store.db.engine.begin() as conn:
        conn.execute(update(voiceprints).values(clips=old.getvalue()))
    ident = VoiceprintStore(store.db, encoder).identify_pcm(probe)
    assert ident.is_guest and ident.candidate_id == owner.owner_id and "re-enrol" in ident.reason
