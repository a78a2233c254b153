"""Bad input: each case gets a clear reaction, and a concurrent healthy session keeps working."""

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from firmware_bridge.audio import tone
from firmware_bridge.virtual_device import VirtualDevice
from server.voice import metrics
from tests.device.helpers import running_server

HANDLER = {"sentences": 1, "seconds": 0.6}


async def healthy_turn(h, device_id: str, token: str = "") -> None:
    """A full turn on its own connection: hello, wake, speech out, all 10 frames back."""
    async with VirtualDevice(h.url, device_id=device_id, token=token) as dev:
        await dev.wake()
        since = len(dev.events)
        await dev.send_text("speak")
        await dev.wait_json("tts", "stop", timeout=10, since=since)
        assert len([e for e in dev.events[since:] if e.kind == "audio"]) == 10


def counter(metric, *labels: str) -> float:
    return (metric.labels(*labels) if labels else metric)._value.get()


async def test_malformed_json_is_logged_and_the_connection_stays() -> None:
    async with running_server(handler_kwargs=HANDLER) as h:
        before = counter(metrics.BAD_MESSAGES, "malformed")

        async def bad() -> None:
            async with VirtualDevice(h.url, device_id="dd:00:00:00:00:01") as dev:
                await dev.start_listening()
                for junk in ("{not json", "[1,2,3]", '{"no":"type"}', ""):
                    await dev.send_raw(junk)
                await dev.send_text("speak")  # still served after the junk
                await dev.wait_json("tts", "stop", timeout=10)
                assert not dev.closed.is_set()

        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:00:99"))
        assert counter(metrics.BAD_MESSAGES, "malformed") - before == 4


async def test_unknown_type_and_invalid_fields_are_ignored() -> None:
    async with running_server(handler_kwargs=HANDLER) as h:

        async def bad() -> None:
            async with VirtualDevice(h.url, device_id="dd:00:00:00:00:02") as dev:
                await dev.start_listening()
                await dev.send_json({"type": "frobnicate", "x": 1})
                await dev.send_json({"type": "goodbye"})
                await dev.send_json({"type": "listen", "state": "pause"})
                await dev.send_json({"type": "mcp", "payload": "not an object"})
                await dev.send_json({"type": "mcp", "payload": {"jsonrpc": "2.0", "id": 999, "result": {}}})
                await dev.send_text("speak")
                await dev.wait_json("tts", "stop", timeout=10)

        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:01:99"))
        handler = h.handler_for("dd:00:00:00:00:02")
        listens = [v for n, v in handler.events if n == "listen"]
        assert listens[:2] == [("start", "auto", None), ("detect", None, "speak")]


async def test_binary_before_hello_is_ignored() -> None:
    async with running_server(handler_kwargs=HANDLER) as h:

        async def bad() -> None:
            async with connect(h.url + "?device-id=dd:00:00:00:00:03") as ws:
                for _ in range(5):
                    await ws.send(b"\x58" * 40)
                await ws.send(json.dumps({"type": "hello", "version": 1, "transport": "websocket"}))
                reply = json.loads(await ws.recv())
                assert reply["type"] == "hello" and reply["session_id"]
                await ws.send(json.dumps({"type": "listen", "state": "start", "mode": "auto"}))
                handler = h.handler_for("dd:00:00:00:00:03")
                await handler.wait_event("listen")
                assert "audio" not in handler.names()

        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:02:99"))


async def test_one_megabyte_frame_closes_only_that_connection_with_1009() -> None:
    async with running_server(handler_kwargs=HANDLER) as h:

        async def bad() -> None:
            dev = VirtualDevice(h.url, device_id="dd:00:00:00:00:04")
            await dev.connect()
            await dev.start_listening()
            with pytest.raises(ConnectionClosed):
                await dev.send_raw(bytes(1024 * 1024))
                await asyncio.wait_for(dev.closed.wait(), 5)
                await dev.send_raw(b"x")
            await asyncio.wait_for(dev.closed.wait(), 5)
            assert dev.close_code == 1009
            await dev.close()

        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:03:99"))
        await asyncio.wait_for(h.handler_for("dd:00:00:00:00:04").closed.wait(), 5)
        assert len(h.server.connections) == 0


async def test_garbage_opus_is_dropped_and_counted() -> None:
    async with running_server(handler_kwargs=HANDLER) as h:

        async def bad() -> None:
            async with VirtualDevice(h.url, device_id="dd:00:00:00:00:05", protocol_version=3) as dev:
                await dev.start_listening()
                for _ in range(4):
                    await dev.send_opus(b"\xff\xff\xff")  # corrupt Opus
                await dev.send_raw(b"\x00\x00\x01\x00abc")  # v3 header claims 256 bytes
                await dev.send_pcm(tone(400.0, 0.3), realtime=False)  # then valid audio
                await dev.send_text("mark")
                handler = h.handler_for("dd:00:00:00:00:05")
                await handler.wait_event("listen")
                await asyncio.sleep(0.1)
                assert [v for n, v in handler.events if n == "audio"] == [960] * 5
                assert not dev.closed.is_set()

        framing = counter(metrics.BAD_FRAMES, "framing")
        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:04:99"))
        assert h.server.bad_frames == 4
        assert counter(metrics.BAD_FRAMES, "framing") - framing == 1


async def test_wrong_or_missing_token_gets_401_in_token_mode() -> None:
    async with running_server(handler_kwargs=HANDLER, auth_mode="token", device_tokens="good-1,good-2") as h:

        async def bad() -> None:
            for token in ("wrong", ""):
                with pytest.raises(InvalidStatus) as err:
                    await VirtualDevice(h.url, device_id="dd:00:00:00:00:06", token=token).connect()
                assert err.value.response.status_code == 401
            with pytest.raises(InvalidStatus):  # query-param auth is checked the same way
                await VirtualDevice(h.url, auth="query", token="wrong").connect()

        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:05:99", token="good-2"))
        assert all(handler.info.device_id != "dd:00:00:00:00:06" for handler in h.handlers)


async def test_client_that_never_sends_hello_is_closed_after_the_timeout() -> None:
    async with running_server(handler_kwargs=HANDLER, hello_timeout_s=0.5) as h:

        async def bad() -> None:
            async with connect(h.url) as ws:
                started = time.monotonic()
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert 0.4 <= time.monotonic() - started < 3
                assert ws.close_code == 4000

        await asyncio.gather(bad(), healthy_turn(h, "dd:00:00:00:06:99"))
        assert h.handlers and all(handler.info.device_id == "dd:00:00:00:06:99" for handler in h.handlers)


async def test_200_connections_opened_and_dropped_at_once() -> None:
    async with running_server(handler_kwargs=HANDLER) as h:

        async def flash(i: int) -> None:
            ws = await connect(f"{h.url}?device-id=ee:00:00:00:{i // 256:02x}:{i % 256:02x}")
            if i % 2:  # half complete the hello before vanishing
                await ws.send(json.dumps({"type": "hello", "version": 1, "transport": "websocket"}))
                await ws.recv()
            ws.transport.abort()  # drop without a close handshake

        async def storm() -> None:
            results = await asyncio.gather(*(flash(i) for i in range(200)), return_exceptions=True)
            assert [r for r in results if r is not None] == []

        await asyncio.gather(storm(), healthy_turn(h, "dd:00:00:00:07:99"))
        deadline = time.monotonic() + 10
        while h.server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert h.server.connections == set() and h.registry.online() == []
        assert len(h.handlers) == 100 + 1
        await asyncio.gather(*(asyncio.wait_for(x.closed.wait(), 5) for x in h.handlers))
        await healthy_turn(h, "dd:00:00:00:07:98")  # and still serving afterwards
