"""A slow HTTP client (slowloris): sends a request a byte at a time and reports when the server hung up."""

from __future__ import annotations

import asyncio
import time


async def trickle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, gap_s: float = 0.05
) -> float | None:
    """Seconds until the server closed the connection (None: it never did). Any answer to the half-sent request
    other than a 4xx fails the caller's test."""
    started = time.monotonic()
    try:
        for i in range(len(data)):
            try:
                writer.write(data[i : i + 1])
                await writer.drain()
                got = await asyncio.wait_for(reader.read(1024), gap_s)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                got = b""
            if got and not got.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400")):
                raise AssertionError(f"server answered a half-sent request: {got[:80]!r}")
            return time.monotonic() - started
        return None
    finally:
        writer.close()


async def slowloris(port: int, data: bytes, gap_s: float = 0.05) -> float | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return await trickle(reader, writer, data, gap_s)
