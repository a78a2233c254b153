"""Device WebSocket transport: upgrade + auth, hello, framing, Opus decode, dispatch to a SessionHandler.

One ``DeviceConnection`` (a ``DeviceChannel``) per socket; the dialogue never sees frames or JSON. Text
messages are dispatched by ``type`` through a handler table. Handler callbacks run in order on a per-
connection queue so a slow handler never blocks the socket: ``abort`` is acted on (speech stopped,
``tts stop`` sent) before the handler hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from firmware_bridge import protocol as P
from firmware_bridge.audio import OPUS_RATES, AudioError, OpusDecoder
from server.config import Settings
from server.http.client_address import TrustedProxies
from server.voice import metrics
from server.voice.channel import (
    DeviceInfo,
    DeviceToolError,
    DeviceToolMissing,
    PlayResult,
    SessionHandler,
    SpeechChunk,
)
from server.voice.device_mcp import DeviceMcpClient, resolve_tool_name
from server.voice.downlink import DownlinkPacer, PacerStats
from server.voice.ratelimit import CLOSE_RATE_LIMIT, RATE_LIMIT_REASON, ConnectionLimiter
from server.voice.ratelog import RateLimitedLog
from server.voice.registry import DeviceRegistry

log = logging.getLogger(__name__)
rlog = RateLimitedLog(log)  # per-device, per-message budget: junk is summarised, never logged per frame

WS_PATHS = ("/xiaozhi/v1/", "/xiaozhi/v1")
HandlerFactory = Callable[[DeviceInfo], SessionHandler]
MAX_EVENT_BACKLOG = 500  # uplink audio beyond this while the handler lags is dropped (counted)
CLOSE_NO_HELLO = 4000
CLOSE_IDLE = 4001
CLOSE_DEAD = 4002  # nothing at all (no data, no pong) for ws_ping_timeout_s
CLOSE_HOSTILE = 1007  # invalid payload data: absurd nesting, non-finite or out-of-range numbers
TOOLS_WAIT_S = 1.5  # a tool call right after connect waits this long for the device's tools/list
RATELOG_FLUSH_S = 30.0


# --------------------------------------------------------------------------- auth (pure)


@dataclass(frozen=True)
class ConnectAuth:
    device_id: str
    client_id: str
    token: str  # without "Bearer "
    protocol_version: int | None  # None when neither header nor query said


def connect_auth(path: str, headers: Headers | dict[str, str]) -> ConnectAuth:
    """Identity from headers, or from query params for browsers (``device-id``/``device_id``,
    ``client-id``, ``authorization``, ``protocol-version``). Headers win."""
    query = {k.lower(): v[0] for k, v in parse_qs(urlsplit(path).query).items() if v}
    hdr = {k.lower(): v for k, v in headers.items()}

    def pick(*names: str) -> str:
        for source in (hdr, query):
            for name in names:
                value = source.get(name)
                if value:
                    return value.strip()
        return ""

    auth = pick("authorization")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else auth
    if auth.strip().lower() == "bearer":  # "Bearer " with an empty token (xiaozhi-sdk), stripped
        token = ""
    version = pick("protocol-version", "protocol_version")
    return ConnectAuth(
        device_id=pick("device-id", "device_id").lower(),
        client_id=pick("client-id", "client_id"),
        token=token,
        protocol_version=(P.normalize_version(version, 0) or None) if version else None,
    )


def token_allowed(
    settings: Settings,
    token: str,
    device_id: str = "",
    device_token_ok: Callable[[str, str], bool] | None = None,
) -> bool:
    """Open mode: anyone. Token mode: a configured token, or a per-device token issued to this Device-Id."""
    if settings.auth_mode == "open":
        return True
    if not token:
        return False
    if token in settings.token_list():
        return True
    return device_token_ok is not None and device_token_ok(token, device_id)


# --------------------------------------------------------------------------- the channel


class DeviceConnection:
    """The ``DeviceChannel`` of one device socket."""

    def __init__(self, ws: ServerConnection, info: DeviceInfo, settings: Settings) -> None:
        self.ws = ws
        self.info = info
        self.listen_mode = ""
        self.listening = False
        self.device_state = "connecting"  # connecting | listening | idle | speaking (server's view)
        self.closed = False
        self.last_activity = time.monotonic()  # last conversation traffic either way (idle timeout)
        self.last_received = time.monotonic()  # last frame of any kind from the device (liveness)
        self._ready = asyncio.Event()
        self.pacer = DownlinkPacer(
            self.send_json,
            self.send_binary,
            sample_rate=settings.downlink_sample_rate,
            frame_ms=60,
            protocol_version=info.protocol_version,
        )
        self.mcp = DeviceMcpClient(self.send_json, session_id=info.session_id)
        self._tools: list[dict[str, Any]] | None = None
        self._tools_lock = asyncio.Lock()
        self._tools_settled = asyncio.Event()  # tools/list answered, failed, or will never come
        self._tools_error = ""
        if not info.features.get("mcp"):
            self._tools_error = "the device announced no MCP support"
            self._tools_settled.set()

    # ---- DeviceChannel

    @property
    def speaking(self) -> bool:
        return self.pacer.speaking

    @property
    def last_play_stats(self) -> PacerStats:
        return self.pacer.stats

    async def send_json(self, message: dict[str, Any]) -> None:
        if "session_id" not in message:  # every server message carries it (the browser page needs it)
            message = {"session_id": self.info.session_id, **message}
        await self.ws.send(P.encode_json(message))
        self.last_activity = time.monotonic()

    async def send_binary(self, data: bytes) -> None:
        await self.ws.send(data)
        self.last_activity = time.monotonic()

    async def play(self, chunks: AsyncIterator[SpeechChunk], emotion: str | None = None) -> PlayResult:
        self.device_state = "speaking"
        try:
            return await self.pacer.play(chunks, emotion)
        finally:
            if self.device_state == "speaking":
                # after tts stop the firmware goes Idle in manual mode, else Listening
                self.device_state = "idle" if self.listen_mode == "manual" else "listening"

    async def stop_speaking(self) -> None:
        """Stop audio now and make sure the device gets ``tts stop`` (it stays in Speaking without it)."""
        if self.pacer.speaking:
            await self.pacer.stop_and_wait()
        elif not self.closed:
            with contextlib.suppress(ConnectionClosed):
                await self.send_json(P.tts_stop())

    async def call_device_tool(self, name: str, arguments: dict[str, Any], timeout: float = 5.0) -> Any:
        """Call ``name`` under the device's own name for it (from its tools/list, with the known aliases).

        Raises DeviceToolMissing at once when the device lacks the tool or its tool list never came;
        nothing is sent then (some clients never answer a call to an unknown tool)."""
        real = resolve_tool_name(name, await self._tool_names())
        if real is None:
            raise DeviceToolMissing(f"device {self.info.device_id} has no tool {name}")
        return await self.mcp.call_tool(real, arguments, timeout)

    async def _tool_names(self) -> list[str]:
        if not self._tools_settled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tools_settled.wait(), TOOLS_WAIT_S)
        if self._tools is None:
            reason = self._tools_error or "its tool list has not arrived"
            raise DeviceToolMissing(f"device {self.info.device_id}: {reason}")
        return [t["name"] for t in self._tools]

    async def device_tools(self) -> list[dict[str, Any]]:
        """The device's MCP tools (listed once at connect, then cached). Empty if the device has no MCP
        or never answered tools/list."""
        if not self.info.features.get("mcp"):
            return []
        async with self._tools_lock:
            if self._tools is None and not self._tools_settled.is_set():
                try:
                    self._tools = await self.mcp.list_tools()
                except DeviceToolError as exc:
                    self._tools_error = f"tools/list failed: {exc}"
                finally:
                    self._tools_settled.set()
            return list(self._tools or [])

    async def close(self) -> None:
        await self.ws.close()

    # ---- used by the server and the registry

    async def wait_ready(self, timeout: float) -> None:
        """Until the device left Connecting (first ``listen`` message); TimeoutError otherwise."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    def mark_ready(self) -> None:
        self._ready.set()

    async def init_mcp(self) -> None:
        """Device MCP handshake, after the server hello (an earlier initialize is never answered)."""
        try:
            await self.mcp.initialize()
            tools = await self.device_tools()
            if self._tools is not None:
                log.info("device %s tools: %s", self.info.device_id, ", ".join(t["name"] for t in tools))
        except DeviceToolError as exc:
            self._tools_error = f"MCP initialize failed: {exc}"
            log.info("device %s MCP init failed: %s", self.info.device_id, exc)
        finally:
            self._tools_settled.set()


# --------------------------------------------------------------------------- one session


_CLOSE = object()


class _Session:
    """Runtime of one connection after the hello: dispatch table, event queue, handler task."""

    def __init__(self, server: DeviceServer, channel: DeviceConnection, handler: SessionHandler) -> None:
        self.server = server
        self.channel = channel
        self.handler = handler
        rate = channel.info.uplink_sample_rate
        self.decoder = OpusDecoder(rate if rate in OPUS_RATES else 16000)
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.text_handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "hello": self.on_hello,
            "listen": self.on_listen,
            "abort": self.on_abort,
            "mcp": self.on_mcp,
        }

    # ---- handler side: callbacks in order, failures logged, never fatal to the socket

    async def run_handler(self) -> None:
        while True:
            item = await self.queue.get()
            if item is _CLOSE:
                return
            assert isinstance(item, tuple)
            name, args = item
            try:
                await getattr(self.handler, name)(*args)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session handler %s failed (device %s)", name, self.channel.info.device_id)

    def emit(self, name: str, *args: Any) -> None:
        if name == "on_audio" and self.queue.qsize() >= MAX_EVENT_BACKLOG:
            metrics.BAD_FRAMES.labels("backlog").inc()
            return
        self.queue.put_nowait((name, args))

    # ---- text

    async def on_text(self, text: str) -> None:
        """One text frame. Raises HostileMessage (the connection is then closed with 1007)."""
        device = self.channel.info.device_id
        try:
            msg = P.decode_json(text)
        except P.HostileMessage:
            metrics.BAD_MESSAGES.labels("hostile").inc()
            raise
        except P.ProtocolError as exc:
            metrics.BAD_MESSAGES.labels("malformed").inc()
            rlog.warning(device, "device %s sent a bad text frame: %s", device, str(exc)[:120])
            return
        handler = self.text_handlers.get(msg["type"])
        if handler is None:
            metrics.BAD_MESSAGES.labels("unknown_type").inc()
            rlog.info(device, "device %s sent unknown message type %r (ignored)", device, msg["type"][:40])
            return
        try:
            await handler(msg)
        except P.HostileMessage:
            metrics.BAD_MESSAGES.labels("hostile").inc()
            raise
        except P.ProtocolError as exc:
            metrics.BAD_MESSAGES.labels("invalid").inc()
            rlog.warning(device, "device %s sent an invalid %s: %s", device, msg["type"], str(exc)[:120])

    async def on_hello(self, msg: dict[str, Any]) -> None:
        # a repeated hello gets the same answer (same session); harmless to the firmware
        await self.channel.send_json(self.server.server_hello(self.channel.info).to_dict())

    async def on_listen(self, msg: dict[str, Any]) -> None:
        listen = P.parse_listen(msg)
        ch = self.channel
        if listen.state == "start":
            ch.listening, ch.listen_mode = True, listen.mode or "auto"
            if not ch.speaking:
                ch.device_state = "listening"
        elif listen.state == "stop":
            ch.listening = False
            if not ch.speaking:
                ch.device_state = "idle"
        elif ch.device_state == "connecting":
            ch.device_state = "listening"
        ch.mark_ready()
        self.emit("on_listen", listen.state, listen.mode, listen.text)

    async def on_abort(self, msg: dict[str, Any]) -> None:
        abort = P.parse_abort(msg)
        await self.channel.stop_speaking()
        self.emit("on_abort", abort.reason)

    async def on_mcp(self, msg: dict[str, Any]) -> None:
        self.channel.mcp.handle_message(P.parse_mcp(msg).payload)

    # ---- binary

    def on_binary(self, data: bytes) -> None:
        try:
            frame = P.decode_frame(data, self.channel.info.protocol_version)
        except P.ProtocolError as exc:
            metrics.BAD_FRAMES.labels("framing").inc()
            rlog.debug(
                self.channel.info.device_id, "device %s: bad frame: %s", self.channel.info.device_id, exc
            )
            return
        if not frame.payload:  # the browser page marks "end of recording" with an empty frame
            return
        try:
            pcm = self.decoder.decode(frame.payload)
        except AudioError as exc:
            metrics.BAD_FRAMES.labels("opus").inc()
            self.server.bad_frames += 1
            rlog.debug(self.channel.info.device_id, "device %s: %s", self.channel.info.device_id, exc)
            return
        metrics.FRAMES_IN.inc()
        self.server.frames_in += 1
        if len(pcm):
            self.emit("on_audio", pcm)


RECV_BUFFER_BYTES = 64 * 1024  # ~16 s of 16 kbps Opus, and 1 s of 16 kHz PCM: plenty for any real device


def _bound_receive_buffer(ws: ServerConnection) -> None:
    """A fixed, small kernel receive buffer per device socket (Linux autotuning lets it grow to megabytes):
    a flooder that is being slowed down then blocks after ~64 KB instead of parking megabytes in the kernel."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER_BYTES)


async def _close_flooder(ws: ServerConnection, code: int, reason: str, grace: float = 1.0) -> None:
    """Send the close frame, then drop the TCP connection after ``grace`` seconds: a flooder's backlog is
    never read (its close reply would be queued behind megabytes of junk)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(ws.close(code, reason)), grace)
    if ws.state is not State.CLOSED:
        ws.transport.abort()


# --------------------------------------------------------------------------- the server


class DeviceServer:
    """WebSocket server for xiaozhi devices at ``/xiaozhi/v1/`` (with or without the slash)."""

    def __init__(
        self,
        settings: Settings,
        handler_factory: HandlerFactory,
        registry: DeviceRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.handler_factory = handler_factory
        self.registry = registry or DeviceRegistry()
        self.connections: set[DeviceConnection] = set()
        self.frames_in = 0
        self.bad_frames = 0
        self._server: Server | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._auth: dict[ServerConnection, ConnectAuth] = {}
        self.device_token_ok: Callable[[str, str], bool] | None = None  # per-device tokens (OTA)
        self.proxies = TrustedProxies.from_settings(settings)  # a reverse proxy in front: who the device is

    # ---- lifecycle

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        self._server = await serve(
            self._serve,
            host if host is not None else self.settings.host,
            port if port is not None else self.settings.ws_port,
            process_request=self._process_request,
            max_size=self.settings.max_frame_bytes,
            # the library's keepalive closes a device whose pongs are late even while it streams audio
            # (slow 4G links; xiaozhi-esp32-server #3348): off, and _keepalive judges liveness on any data
            ping_interval=None,
            # no permessage-deflate: no firmware asks for it, and it lets a flooder park megabytes of
            # well-compressed junk per connection (and costs a zlib context per device)
            compression=None,
            open_timeout=10,
        )
        self._flusher = asyncio.create_task(self._flush_ratelog(), name="device-ratelog-flush")
        log.info("device server listening on port %d", self.port)

    async def _flush_ratelog(self) -> None:
        while True:
            await asyncio.sleep(RATELOG_FLUSH_S)
            rlog.flush()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return next(iter(self._server.sockets)).getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/xiaozhi/v1/"

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    async def __aenter__(self) -> DeviceServer:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def server_hello(self, info: DeviceInfo) -> P.ServerHello:
        return P.ServerHello(
            session_id=info.session_id,
            audio_params=P.AudioParams(sample_rate=self.settings.downlink_sample_rate, frame_duration=60),
        )

    # ---- HTTP upgrade

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path not in WS_PATHS:
            metrics.REJECTED.labels("path").inc()
            return connection.respond(HTTPStatus.NOT_FOUND, "not a xiaozhi endpoint\n")
        auth = connect_auth(request.path, request.headers)
        if not token_allowed(self.settings, auth.token, auth.device_id, self.device_token_ok):
            metrics.REJECTED.labels("auth").inc()
            log.warning("device %s refused: missing or wrong token", auth.device_id or "?")
            return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or invalid device token\n")
        self._auth[connection] = auth
        return None

    # ---- one connection

    async def _serve(self, ws: ServerConnection) -> None:
        auth = self._auth.pop(ws, None) or connect_auth(ws.request.path if ws.request else "", {})
        metrics.CONNECTIONS.inc()
        _bound_receive_buffer(ws)
        hello = await self._await_hello(ws)
        if hello is None:
            return
        info = self._device_info(ws, auth, hello)
        channel = DeviceConnection(ws, info, self.settings)
        try:
            await channel.send_json(self.server_hello(info).to_dict())  # before anything else, MCP included
            handler = self.handler_factory(info)
        except ConnectionClosed:
            return
        except Exception:
            log.exception("session handler factory failed for device %s", info.device_id)
            await ws.close(1011, "server error")
            return
        session = _Session(self, channel, handler)
        self.connections.add(channel)
        self.registry.register(channel)
        metrics.ACTIVE.inc()
        handler_task = asyncio.create_task(session.run_handler(), name=f"session-{info.session_id}")
        session.emit("on_open", channel)
        mcp_task = asyncio.create_task(channel.init_mcp()) if hello.mcp else None
        keepalive = asyncio.create_task(self._keepalive(ws, channel), name=f"keepalive-{info.session_id}")
        log.info(
            "device %s connected (session %s, protocol v%d, %s)",
            info.device_id,
            info.session_id,
            info.protocol_version,
            info.remote,
        )
        try:
            await self._receive_loop(ws, session)
        finally:
            channel.closed = True
            channel.pacer.stop()
            channel.mcp.close()
            keepalive.cancel()
            if mcp_task is not None:
                mcp_task.cancel()
            rlog.forget(info.device_id)
            self.registry.unregister(channel)
            self.connections.discard(channel)
            metrics.ACTIVE.dec()
            session.emit("on_close")
            session.queue.put_nowait(_CLOSE)
            try:
                await asyncio.wait_for(handler_task, 10.0)
            except TimeoutError:
                log.warning("session handler of %s did not finish; cancelled", info.device_id)
            log.info("device %s disconnected (code %s)", info.device_id, ws.close_code)

    async def _await_hello(self, ws: ServerConnection) -> P.ClientHello | None:
        """The first ``hello`` within hello_timeout_s; binary and other text before it is ignored."""
        deadline = time.monotonic() + self.settings.hello_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                msg = await asyncio.wait_for(ws.recv(), remaining)
            except TimeoutError:
                metrics.REJECTED.labels("no_hello").inc()
                log.info("connection from %s sent no hello in time; closing", self._client(ws))
                await ws.close(CLOSE_NO_HELLO, "no hello")
                return None
            except ConnectionClosed:
                return None
            if isinstance(msg, bytes):
                metrics.BAD_FRAMES.labels("before_hello").inc()
                continue
            try:
                obj = P.decode_json(msg)
                if obj["type"] == "hello":
                    return P.parse_client_hello(obj)
            except P.HostileMessage as exc:
                metrics.BAD_MESSAGES.labels("hostile").inc()
                rlog.warning(ws.remote_address, "connection from %s refused: %s", ws.remote_address, exc)
                await ws.close(CLOSE_HOSTILE, "invalid message")
                return None
            except P.ProtocolError as exc:
                metrics.BAD_MESSAGES.labels("malformed").inc()
                rlog.warning(ws.remote_address, "bad text frame before hello: %s", str(exc)[:120])
                continue
            rlog.info(ws.remote_address, "message %.40r before hello ignored", obj["type"])

    def _device_info(self, ws: ServerConnection, auth: ConnectAuth, hello: P.ClientHello) -> DeviceInfo:
        params = hello.audio_params or P.AudioParams()
        remote = ws.remote_address
        remote_s = f"{remote[0]}:{remote[1]}" if remote else ""
        client = self._client(ws)
        device_id = auth.device_id or (hello.device_id or "").lower() or auth.client_id or f"anon-{remote_s}"
        return DeviceInfo(
            device_id=device_id,
            client_id=auth.client_id,
            session_id=uuid.uuid4().hex,
            protocol_version=auth.protocol_version or hello.version or 1,
            features=dict(hello.features),
            uplink_sample_rate=params.sample_rate,
            uplink_frame_ms=params.frame_duration,
            remote=client if remote and client != str(remote[0]) else remote_s,  # behind a proxy: the client
        )

    def _client(self, ws: ServerConnection) -> str:
        """The device's address: the peer's, or behind a trusted reverse proxy the one it forwarded."""
        remote = ws.remote_address
        headers = ws.request.headers.get_all(self.proxies.header.value) if ws.request else []
        return self.proxies.client(str(remote[0]) if remote else None, headers)

    async def _keepalive(self, ws: ServerConnection, channel: DeviceConnection) -> None:
        """Our own pings. A pong only proves liveness like any other frame does; a device is closed as dead
        only after ws_ping_timeout_s with nothing at all from it, so late pongs never close a busy one."""
        interval, timeout = self.settings.ws_ping_interval_s, self.settings.ws_ping_timeout_s
        if interval <= 0:
            return

        def on_pong(fut: asyncio.Future[float]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                channel.last_received = time.monotonic()

        while not channel.closed:
            await asyncio.sleep(interval)
            silent = time.monotonic() - channel.last_received
            if timeout > 0 and silent > timeout:
                log.info(
                    "device %s sent nothing for %.0f s (no data, no pong); closing",
                    channel.info.device_id,
                    silent,
                )
                with contextlib.suppress(ConnectionClosed):
                    await ws.close(CLOSE_DEAD, "no data and no pong")
                return
            try:
                waiter = asyncio.ensure_future(await ws.ping())
            except ConnectionClosed:
                return
            waiter.add_done_callback(on_pong)

    async def _receive_loop(self, ws: ServerConnection, session: _Session) -> None:
        channel = session.channel
        idle = self.settings.idle_timeout_s
        limiter = ConnectionLimiter(
            self.settings.device_max_msgs_per_s,
            self.settings.device_max_bytes_per_s,
            self.settings.device_flood_close_s,
        )
        device = channel.info.device_id
        while True:
            wait = channel.last_activity + idle - time.monotonic()
            try:
                if wait <= 0:
                    raise TimeoutError
                msg = await asyncio.wait_for(ws.recv(), wait)
            except TimeoutError:
                if channel.speaking:
                    channel.last_activity = time.monotonic()
                    continue
                if time.monotonic() - channel.last_activity >= idle:
                    log.info("device %s idle for %.0f s; closing", channel.info.device_id, idle)
                    await ws.close(CLOSE_IDLE, "idle timeout")
                    return
                continue
            except ConnectionClosed:
                return
            channel.last_activity = channel.last_received = time.monotonic()
            verdict = limiter.charge(len(msg))
            if verdict.close:
                metrics.REJECTED.labels("rate_limit").inc()
                log.warning(
                    "device %s over its rate limit for %.1f s (%d throttles); closing with %d",
                    device, limiter.throttled_s, limiter.throttle_events, CLOSE_RATE_LIMIT,
                )  # fmt: skip
                await _close_flooder(ws, CLOSE_RATE_LIMIT, RATE_LIMIT_REASON)
                return
            try:
                if isinstance(msg, str):
                    await session.on_text(msg)
                else:
                    session.on_binary(msg)
            except P.HostileMessage as exc:
                rlog.warning(device, "device %s sent hostile JSON (%s); closing with 1007", device, exc)
                await ws.close(CLOSE_HOSTILE, "invalid message")
                return
            if verdict.wait_s > 0:  # slow the flooder down: we read its next frame later (TCP back-pressure)
                rlog.info(device, "device %s over its rate limit; slowing it down", device)
                await asyncio.sleep(verdict.wait_s)
