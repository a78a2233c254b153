"""A hostile device in its own process (so it competes for CPU like a real one, not for our event loop):
hello, then junk frames as fast as the socket takes them. Prints ``<frames sent> <close code>``.

    python -m tests.device.flooder ws://127.0.0.1:PORT/xiaozhi/v1/ MAX_SECONDS
"""

import asyncio
import contextlib
import json
import sys
import time

from websockets.asyncio.client import connect

from firmware_bridge import protocol as P


async def flood(url: str, max_seconds: float) -> tuple[int, int | None]:
    junk: list[str | bytes] = [
        json.dumps({"type": "frobnicate", "n": 1}),
        json.dumps({"type": "mcp", "payload": {"jsonrpc": "2.0", "method": "x" * 2000}}),
        "{not json",
        b"\xff\xfe" * 30,  # not Opus
    ]
    sent = 0
    deadline = time.monotonic() + max_seconds
    async with connect(url + "?device-id=ff:00:00:00:00:01", max_size=None) as ws:
        await ws.send(json.dumps(P.device_hello()))
        await ws.recv()
        print("flooding", flush=True)
        try:
            while time.monotonic() < deadline:
                await ws.send(junk[sent % len(junk)])
                sent += 1
                if sent % 50 == 0:
                    await asyncio.sleep(0)  # let its reader see the server's close frame
        except Exception as exc:
            print(repr(exc), file=sys.stderr, flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), 15)
        return sent, ws.close_code


if __name__ == "__main__":
    count, code = asyncio.run(flood(sys.argv[1], float(sys.argv[2])))
    print(count, code, flush=True)
