"""Bounded resources under abuse (issue 10, point 4, device side): rate-limited logging, per-connection
rate limits that slow and then close a flooder without delaying other devices, and a clean 1007 close
(no traceback) for hostile JSON."""

import asyncio
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from firmware_bridge import protocol as P
from firmware_bridge.virtual_device import VirtualDevice
from server.voice.ratelimit import CLOSE_RATE_LIMIT, ConnectionLimiter
from server.voice.ratelog import RateLimitedLog
from server.voice.transport import CLOSE_HOSTILE
from tests.device.helpers import running_server

HANDLER = {"sentences": 1, "seconds": 0.3}
ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class ByteCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bytes = 0
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(self.format(record)) + 1
        self.records.append(record)


@pytest.fixture
def log_capture():
    counter = ByteCounter()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)  # the service's default level (XOPS_LOG_LEVEL)
    root.addHandler(counter)
    try:
        yield counter
    finally:
        root.removeHandler(counter)
        root.setLevel(old_level)


# --------------------------------------------------------------------------- rate-limited logging


def test_same_message_from_one_source_is_summarised_not_repeated(caplog) -> None:
    clock = FakeClock()
    rlog = RateLimitedLog(logging.getLogger("t.ratelog"), burst=3, per_s=0.1, clock=clock)
    caplog.set_level(logging.INFO, "t.ratelog")
    for _ in range(25_000):  # one junk frame per ms for 25 s
        rlog.info("dev-a", "device %s sent unknown type %r", "dev-a", "x")
        clock.t += 0.001
    assert rlog.info("dev-b", "device %s sent unknown type %r", "dev-b", "x")  # others still heard
    lines = [r.getMessage() for r in caplog.records]
    assert 5 <= len(lines) <= 7  # 3 of the burst, then one per 10 s (with the count), dev-b
    assert any("suppressed" in line for line in lines)
    caplog.clear()
    assert rlog.flush() == 1
    (summary,) = [r.getMessage() for r in caplog.records]
    assert "suppressed" in summary and "dev-a" in summary
    assert rlog.flush() == 0  # nothing pending: no repeated summaries


def test_many_sources_together_are_bounded_by_the_template_budget(caplog) -> None:
    clock = FakeClock()
    rlog = RateLimitedLog(
        logging.getLogger("t.ratelog2"), template_burst=20, template_per_s=1, max_keys=100, clock=clock
    )
    caplog.set_level(logging.INFO, "t.ratelog2")
    for i in range(5000):  # a new "device id" per message, each connection closed right after
        rlog.info(f"anon-{i}", "message %s before hello ignored", i)
        rlog.forget(f"anon-{i}")
    assert len(caplog.records) <= 20
    caplog.clear()
    assert rlog.flush() == 1  # one summary line for all of them
    assert "suppressed 4980 similar" in caplog.records[0].getMessage()


# --------------------------------------------------------------------------- rate limits


def test_a_real_device_is_never_throttled() -> None:
    clock = FakeClock()
    lim = ConnectionLimiter(100, 64000, 5.0, clock=clock)
    for _ in range(33):  # wake-word pre-roll burst
        assert lim.charge(60).wait_s == 0
    for _ in range(int(600 / 0.02)):  # 10 minutes of 20 ms frames (py-xiaozhi), 80 bytes each
        clock.t += 0.02
        assert lim.charge(80).wait_s == 0


def test_a_flooder_is_slowed_then_closed() -> None:
    clock = FakeClock()
    lim = ConnectionLimiter(100, 64000, 5.0, clock=clock)
    verdicts = []
    for _ in range(2000):
        v = lim.charge(40)
        verdicts.append(v)
        clock.t += v.wait_s  # the server sleeps that long before reading on
        if v.close:
            break
    assert any(v.wait_s > 0 and not v.close for v in verdicts)  # slowed first
    assert verdicts[-1].close
    slowed_for = clock.t - 1000.0
    assert 5.0 <= slowed_for <= 8.0  # ~2 s of burst, then ~5 s of slowing


def test_a_starved_server_still_closes_a_flooder_on_time() -> None:
    """Stalls (a busy machine) refill the buckets partly; the flooder is still closed after close_after_s of
    wall-clock time over budget, not after 5 s of *requested* waiting."""
    clock = FakeClock()
    lim = ConnectionLimiter(100, 64000, 5.0, clock=clock)
    first_throttle = None
    for i in range(100_000):
        v = lim.charge(40)
        if v.wait_s > 0 and first_throttle is None:
            first_throttle = clock.t
        if v.close:
            break
        clock.t += v.wait_s + (0.8 if i % 150 == 0 else 0.0)  # the loop stalls 0.8 s every 150 frames
    assert first_throttle is not None and v.close
    assert 5.0 <= clock.t + v.wait_s - first_throttle <= 6.0


def test_byte_budget_applies_to_big_frames() -> None:
    clock = FakeClock()
    lim = ConnectionLimiter(100, 64000, 5.0, clock=clock)
    waits = [lim.charge(16000).wait_s for _ in range(12)]  # 192 KB at once; burst is 128 KB
    assert waits[0] == 0 and waits[-1] > 0


# --------------------------------------------------------------------------- hostile JSON


HOSTILE = [
    "[" * 100_000 + "]" * 100_000,  # deeper than any parser recursion limit (rejected as too big or deep)
    '{"type":"listen","state":"start","x":' + "[" * 40 + "]" * 40 + "}",  # deeper than MAX_JSON_DEPTH
    '{"type":"listen","state":"start","mode":"auto","n":1e400}',
    '{"type":"listen","state":"start","n":NaN}',
    '{"type":"listen","state":"start","n":' + "9" * 5000 + "}",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_decode_json_rejects_hostile_input_as_hostile(text: str) -> None:
    with pytest.raises(P.HostileMessage):
        P.decode_json(text)


def test_audio_params_out_of_range_are_hostile_but_missing_ones_tolerated() -> None:
    for params in (
        {"sample_rate": 1e300},
        {"sample_rate": 10**400},
        {"frame_duration": -60},
        {"channels": 99},
    ):
        with pytest.raises(P.HostileMessage):
            P.AudioParams.from_dict(params)
    assert P.AudioParams.from_dict({"sample_rate": "x"}).sample_rate == 16000
    assert P.AudioParams.from_dict({"frame_duration": 20}).frame_duration == 20


async def _close_code_after(url: str, first: str | None, then: str | None) -> int | None:
    async with connect(url + "?device-id=ee:00:00:00:00:01", max_size=None) as ws:
        if first is not None:
            await ws.send(first)
            if then is not None:
                await ws.recv()  # server hello
                await ws.send(then)
        try:
            await asyncio.wait_for(ws.wait_closed(), 5)
        except TimeoutError:
            return None
        return ws.close_code


async def test_hostile_json_gets_1007_and_no_traceback(log_capture) -> None:
    hello = json.dumps(P.device_hello())
    async with running_server(handler_kwargs=HANDLER, max_frame_bytes=1 << 20) as h:
        cases = [
            (hello, '{"type":"listen","state":"start","n":1e400}'),
            (hello, '{"type":"mcp","payload":' + "[" * 5000 + "]" * 5000 + "}"),
            (hello, '{"type":"abort","reason":' + "1" * 5000 + "}"),
            (json.dumps({**P.device_hello(), "audio_params": {"sample_rate": 1e300}}), None),
            ('{"type":"hello","audio_params":{"frame_duration":1e400}}', None),
        ]
        codes = [await _close_code_after(h.url, first, then) for first, then in cases]
        assert codes == [CLOSE_HOSTILE] * len(cases)
        async with VirtualDevice(h.url, device_id="ee:00:00:00:00:99") as dev:  # the server is fine
            await dev.wake()
            await dev.send_text("speak")
            await dev.wait_json("tts", "stop", timeout=10)
    assert not [r for r in log_capture.records if r.exc_info]
    assert not [r for r in log_capture.records if "Traceback" in r.getMessage()]


# --------------------------------------------------------------------------- flood isolation


async def _reply_latency(dev: VirtualDevice) -> float:
    since = len(dev.events)
    t0 = time.monotonic()
    await dev.send_text("speak")
    first = await dev.wait_for(lambda e: e.kind == "audio", timeout=10, since=since)
    await dev.wait_json("tts", "stop", timeout=10, since=since)
    await dev.drain()
    await dev.send_json(P.listen_start(dev.session_id))  # back to listening, as the firmware does
    return first.t - t0


async def _start_flooder(url: str, max_seconds: float) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.device.flooder", url, str(max_seconds),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"flooding"
    return proc


async def test_a_flooder_is_closed_with_1008_and_never_delays_another_device(log_capture) -> None:
    async with running_server(handler_kwargs=HANDLER, device_flood_close_s=4.0) as h:
        dev = VirtualDevice(h.url, device_id="ff:00:00:00:00:99")
        await dev.connect()
        await dev.wake()
        baseline = [await _reply_latency(dev) for _ in range(3)]
        flooder = await _start_flooder(h.url, 30.0)
        await asyncio.sleep(0.3)
        flooded = [await _reply_latency(dev) for _ in range(3)]
        alive_during_measure = flooder.returncode is None
        out, _ = await asyncio.wait_for(flooder.communicate(), 40)
        await dev.close()
    sent, code = out.split()
    print(f"baseline {baseline}, flooded {flooded}, flood frames {sent}, log {log_capture.bytes} bytes")
    assert alive_during_measure
    assert code == str(CLOSE_RATE_LIMIT).encode()
    assert statistics.median(flooded) - statistics.median(baseline) < 0.1
    assert log_capture.bytes < 5 * 1024 * 1024
    assert log_capture.bytes < 100_000  # in fact a few lines, not one per frame
    longest = max(len(r.getMessage()) for r in log_capture.records)
    assert longest < 400  # the flooder's 2000-character method name is never logged in full
