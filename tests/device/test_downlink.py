"""Downlink pacing as the device sees it: timing of tts/sentence/audio, play-out, abort, cancellation."""

import asyncio
import itertools
import math
import statistics

import numpy as np

from firmware_bridge.virtual_device import VirtualDevice
from server.voice.channel import SpeechChunk
from server.voice.downlink import chunks_from
from tests.device.helpers import running_server, tone_sentences
from tests.device.test_audio import dominant_hz

FRAME = 0.06


async def _speaking_device(h, device_id: str, **kw) -> VirtualDevice:
    dev = VirtualDevice(h.url, device_id=device_id, **kw)
    await dev.connect()
    await dev.wake()
    return dev


async def test_paced_speech_timing_and_content() -> None:
    async with running_server(handler_kwargs={"sentences": 3, "seconds": 1.0}) as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:01")
        since = len(dev.events)
        await dev.send_text("speak")
        stop = await dev.wait_json("tts", "stop", timeout=15, since=since)
        events = dev.events[since:]
        start = next(e for e in events if e.message and e.message.get("state") == "start")
        audio = [e for e in events if e.kind == "audio"]
        frames_per_sentence = 17  # 1.0 s = 16.7 frames, the last one zero-padded
        assert len(audio) == 3 * frames_per_sentence
        channel = h.handler_for("bb:00:00:00:00:01").channel
        stats = channel.last_play_stats
        assert stats.started_at is not None and stats.first_frame_at is not None
        # the decoder reset after tts start must not eat audio: start arrives first, and the server leaves
        # ≥ 50 ms before the first frame (timed where it is decided: a loaded machine may deliver both late)
        assert start.t < audio[0].t and stats.first_frame_at - stats.started_at >= 0.05
        # how late the first frame reached the device, beyond the server's start gap: the device starts playing
        # then, so every device-side bound below may shift by this much (≈ 0 on an idle machine)
        late0 = max(0.0, audio[0].t - stats.started_at - channel.pacer.start_gap_s)

        # sentence_start k comes right before the first frame of sentence k
        sentences = [e for e in events if e.message and e.message.get("state") == "sentence_start"]
        assert [e.message["text"] for e in sentences] == ["第1句", "第2句", "第3句"]
        for k, s in enumerate(sentences):
            assert sum(1 for a in audio if a.t < s.t) == k * frames_per_sentence

        # real-time pacing: never more than ~5 frames queued on the device, one frame per 60 ms
        t0 = audio[0].t
        queued = [t0 + (k + 1) * FRAME - a.t for k, a in enumerate(audio)]
        assert max(queued) <= 5 * FRAME + 0.03 + late0, (max(queued), late0)
        gaps = [b.t - a.t for a, b in itertools.pairwise(audio[5:])]
        assert 0.05 <= statistics.median(gaps) <= 0.07
        assert not dev.audio_events("audio_overflow") and not dev.audio_events("audio_dropped")

        # tts stop only after the device has played everything, but not much later (than the device's own
        # play-out: frames played back to back from their arrival, gaps included if a loaded machine caused any)
        play_out = t0 + len(audio) * FRAME
        device_play_end = 0.0
        for a in audio:
            device_play_end = max(device_play_end, a.t) + FRAME
        assert play_out - 0.03 - late0 <= stop.t <= device_play_end + 0.5, (stop.t, play_out, late0)

        pcm = dev.received_pcm()
        assert abs(len(pcm) - 3 * 16000) <= 3 * 960
        for k in range(3):
            seg = pcm[k * frames_per_sentence * 960 + 1600 : (k + 1) * frames_per_sentence * 960 - 1600]
            assert abs(dominant_hz(seg, 16000) - (440 + 110 * k)) < 10

        assert stats.sentences == 3 and stats.frames == 51 and stats.max_ahead_frames <= 5.01
        await dev.close()


async def test_downlink_at_24k_decodes_at_the_advertised_rate() -> None:
    async with running_server(downlink_sample_rate=24000, handler_kwargs={"sentences": 1}) as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:02")
        await dev.send_text("speak")
        await dev.wait_json("tts", "stop", timeout=10)
        assert dev.downlink_sample_rate == 24000
        pcm = dev.received_pcm()
        assert len(pcm) == 10 * 1440  # 0.6 s at 24 kHz
        assert abs(dominant_hz(pcm[2400:], 24000) - 440) < 10
        await dev.close()


async def test_abort_stops_audio_within_200_ms_and_sends_tts_stop() -> None:
    async with running_server(handler_kwargs={"sentences": 3, "seconds": 1.0}) as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:03")
        since = len(dev.events)
        await dev.send_text("speak")
        first = await dev.wait_for(lambda e: e.kind == "audio", since=since)
        await asyncio.sleep(0.6)
        await dev.abort()
        abort_at = dev.events[-1].t
        stop = await dev.wait_json("tts", "stop", timeout=2, since=since)
        assert stop.t - abort_at <= 0.2
        await asyncio.sleep(0.4)
        late = [e for e in dev.events[since:] if e.kind == "audio" and e.t > abort_at + 0.2]
        assert late == []
        handler = h.handler_for("bb:00:00:00:00:03")
        result = await handler.wait_event("played")
        assert result.aborted and 10 < result.frames_sent < 51
        assert result.first_frame_at is not None and result.first_frame_at <= first.t
        assert ("abort", None) in handler.events
        assert len(dev.received("tts", "stop")) == 1  # exactly one stop for the aborted utterance
        await dev.close()


async def test_abort_while_silent_still_sends_tts_stop() -> None:
    async with running_server() as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:04")
        await dev.abort("wake_word_detected")
        await dev.wait_json("tts", "stop", timeout=2)
        await dev.close()


async def test_cancelling_the_play_task_stops_at_once() -> None:
    async with running_server(handler_kwargs={"sentences": 3, "seconds": 1.0}) as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:05")
        since = len(dev.events)
        await dev.send_text("speak")
        await dev.wait_for(lambda e: e.kind == "audio", since=since)
        await asyncio.sleep(0.3)
        handler = h.handler_for("bb:00:00:00:00:05")
        handler.play_task.cancel()
        cancelled_at = asyncio.get_running_loop().time()
        stop = await dev.wait_json("tts", "stop", timeout=2, since=since)
        assert stop.t - cancelled_at <= 0.2
        assert not handler.channel.speaking
        await dev.close()


async def test_emotion_goes_first_and_slow_producer_still_plays_everything() -> None:
    async with running_server() as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:06")
        channel = h.handler_for("bb:00:00:00:00:06").channel

        async def slow():
            for chunk in tone_sentences(2):
                yield chunk
                await asyncio.sleep(0.8)  # slower than real time: the device queue runs dry

        since = len(dev.events)
        result = await channel.play(slow(), emotion="happy")
        stop = await dev.wait_json("tts", "stop", since=since)
        received = [e.message for e in dev.events[since:] if e.kind == "json"]
        sid = dev.session_id
        # every server message carries the session id; llm carries the emoji as text (clients print it)
        assert received[0] == {"session_id": sid, "type": "llm", "text": "🙂", "emotion": "happy"}
        assert received[1] == {"session_id": sid, "type": "tts", "state": "start"}
        assert all(m.get("session_id") == sid for m in received)
        audio = [e for e in dev.events[since:] if e.kind == "audio"]
        assert result.frames_sent == len(audio) == 20 and not result.aborted
        assert stop.t >= audio[-1].t
        assert channel.last_play_stats.underruns >= 1
        await dev.close()


async def test_empty_and_resampled_sentences() -> None:
    async with running_server() as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:07")
        channel = h.handler_for("bb:00:00:00:00:07").channel
        t = np.arange(22050) / 22050
        chunks = [
            SpeechChunk("空", np.zeros(0, np.int16), 16000),
            SpeechChunk("22k", (np.sin(2 * np.pi * 500 * t) * 8000).astype(np.int16), 22050),
        ]
        result = await channel.play(chunks_from(chunks))
        await dev.wait_json("tts", "stop")
        assert result.frames_sent == 17  # 1 s resampled to 16 kHz
        assert abs(dominant_hz(dev.received_pcm()[1600:-1600], 16000) - 500) < 10
        assert [text for _, text in dev.transcript()] == ["空", "22k"]
        await dev.close()


async def test_virtual_device_refuses_speech_while_connecting() -> None:
    async with running_server() as h:
        dev = VirtualDevice(h.url, device_id="bb:00:00:00:00:08")
        await dev.connect()  # no listen yet: the firmware is still Connecting
        channel = h.handler_for("bb:00:00:00:00:08").channel
        await channel.play(chunks_from(tone_sentences(1)))
        await dev.wait_json("tts", "stop")
        assert any(e.kind == "invalid" and "connecting" in e.note for e in dev.events)
        assert len(dev.audio_events("audio_dropped")) == 10 and len(dev.received_pcm()) == 0
        await dev.close()


async def test_virtual_device_drops_an_unpaced_burst_like_the_firmware() -> None:
    from firmware_bridge import protocol as P
    from firmware_bridge.audio import encode_opus, tone

    async with running_server() as h:
        dev = await _speaking_device(h, "bb:00:00:00:00:09")
        channel = h.handler_for("bb:00:00:00:00:09").channel
        await channel.send_json(P.tts_start())
        await asyncio.sleep(0.1)
        for packet in encode_opus(tone(440.0, 3.6)):  # 60 frames at once, no pacing
            await channel.send_binary(P.encode_frame(packet, 1))
        await channel.send_json(P.tts_stop())
        await dev.wait_json("tts", "stop")
        accepted, overflow = dev.audio_events("audio"), dev.audio_events("audio_overflow")
        assert len(accepted) + len(overflow) == 60
        # the 40-packet decode queue (+1 already playing), plus what the device played while the burst was
        # still arriving: on a loaded machine the 60 frames reach the device over a few frame times
        burst = sorted(e.t for e in accepted + overflow)
        played_meanwhile = math.ceil((burst[-1] - burst[0]) / FRAME)
        assert len(accepted) <= 41 + played_meanwhile, (len(accepted), played_meanwhile)
        assert len(overflow) >= 19 - played_meanwhile
        await dev.close()
