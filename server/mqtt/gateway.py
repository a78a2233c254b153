"""MQTT+UDP sessions on the shared session layer.

The broker (server.mqtt.broker) reports each device's connect, publishes and disconnect here. A device ``hello``
opens a voice session: the reply carries the ``udp`` block (server, port, fresh AES-128-CTR key and nonce with
the session's routing id in bytes 4-7), and the session then runs exactly like a WebSocket one:
``MqttUdpChannel`` is the transport's ``DeviceConnection`` with JSON going out over MQTT and Opus over UDP, and
the device's JSON is dispatched by the transport's own session runtime (listen, abort, MCP, ordered handler
callbacks). So the same ``DialogueSession`` (dialogue, device MCP, barge-in, paced downlink) serves both.

UDP: one ``asyncio.DatagramProtocol`` for every session. A datagram is routed by its ssrc (bytes 4-7); the
device's address is learned from its first acceptable datagram and later datagrams from elsewhere are dropped.
Short, wrong-type, wrong-length, replayed and undecryptable (wrong key) datagrams are dropped and counted,
never touching another session. ``goodbye`` closes a session from either side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware_bridge import protocol as P
from firmware_bridge.udp_audio import (
    DropReason,
    PacketDropped,
    PacketOpener,
    PacketSealer,
    UdpParams,
    make_nonce,
    plausible_opus,
    ssrc_of,
)
from server.config import Settings
from server.mqtt.credentials import CredentialIssuer, DeviceIdentity, uplink_topic
from server.voice.channel import DeviceInfo, SessionHandler
from server.voice.ratelog import RateLimitedLog
from server.voice.registry import DeviceRegistry
from server.voice.transport import _CLOSE, DeviceConnection, _Session

log = logging.getLogger(__name__)
rlog = RateLimitedLog(log)

HandlerFactory = Callable[[DeviceInfo], SessionHandler]
Publish = Callable[[str, bytes], Any]  # (device id, payload) -> awaitable
MAX_INBOX = 200  # JSON messages queued per device while its handler lags; more are dropped
MAX_SEQUENCE_JUMP = 1000  # 60 s of 60 ms frames lost in a row: beyond that an uplink packet is forged


# --------------------------------------------------------------------------- UDP


class UdpEndpoint(asyncio.DatagramProtocol):
    """Every session's UDP audio on one socket, routed by ssrc."""

    def __init__(self) -> None:
        self.sessions: dict[int, UdpSession] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.drops: Counter[str] = Counter()
        self.accepted = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def new_ssrc(self) -> int:
        while True:
            ssrc = secrets.randbits(32)
            if ssrc and ssrc not in self.sessions:
                return ssrc

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        ssrc = ssrc_of(data)
        session = self.sessions.get(ssrc) if ssrc is not None else None
        if session is None:
            self._drop(DropReason.SHORT if ssrc is None else DropReason.UNKNOWN_SESSION, addr)
            return
        try:
            session.receive(data, (str(addr[0]), int(addr[1])))
            self.accepted += 1
        except PacketDropped as exc:
            self._drop(exc.reason, addr)

    def _drop(self, reason: DropReason, addr: Any) -> None:
        self.drops[reason.value] += 1
        rlog.debug(str(addr[0]) if addr else "?", "UDP datagram from %s dropped: %s", addr, reason.value)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)


class UdpSession:
    """The crypto and addressing of one voice session."""

    def __init__(self, endpoint: UdpEndpoint, frame_ms: int) -> None:
        self.endpoint = endpoint
        self.ssrc = endpoint.new_ssrc()
        self.key = secrets.token_bytes(16)
        self.nonce = make_nonce(self.ssrc)
        self.opener = PacketOpener(self.key, max_jump=MAX_SEQUENCE_JUMP)
        self.sealer = PacketSealer(self.key, self.nonce)
        self.validate = plausible_opus(frame_ms)
        self.peer: tuple[str, int] | None = None
        self.on_audio: Callable[[bytes], None] = lambda payload: None
        self.unsent = 0  # downlink packets with nowhere to go yet (no uplink datagram so far)
        endpoint.sessions[self.ssrc] = self

    def params(self, server: str, port: int) -> UdpParams:
        return UdpParams(server, port, self.key, self.nonce)

    def receive(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.peer is not None and addr != self.peer:
            raise PacketDropped(DropReason.WRONG_PEER, f"{addr} is not {self.peer}")
        _, payload = self.opener.open(data, self.validate)
        if self.peer is None:
            self.peer = addr  # NAT: the only way to learn where the device is
        self.on_audio(payload)

    def send(self, payload: bytes, timestamp: int = 0) -> bool:
        if self.peer is None:
            self.unsent += 1
            return False
        self.endpoint.sendto(self.sealer.seal(payload, timestamp), self.peer)
        return True

    def close(self) -> None:
        if self.endpoint.sessions.get(self.ssrc) is self:
            del self.endpoint.sessions[self.ssrc]


# --------------------------------------------------------------------------- the channel


class MqttUdpChannel(DeviceConnection):
    """The transport's ``DeviceConnection`` (pacer, MCP client, tool cache, play/stop) with JSON over MQTT and
    Opus over UDP instead of one WebSocket."""

    def __init__(self, info: DeviceInfo, settings: Settings, publish: Publish, udp: UdpSession) -> None:
        super().__init__(None, info, settings)  # type: ignore[arg-type]  # no socket: see send_*/close
        self._publish = publish
        self.udp = udp
        self.on_close: Callable[[], Any] | None = None

    async def send_json(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if "session_id" not in message:
            message = {"session_id": self.info.session_id, **message}
        await self._publish(self.info.device_id, P.encode_json(message).encode())
        self.last_activity = time.monotonic()

    async def send_binary(self, data: bytes) -> None:
        # the pacer frames with protocol v1 (the bare Opus packet); the UDP header carries the position
        position_ms = self.pacer.stats.frames * self.pacer.frame_ms
        self.udp.send(data, position_ms)
        self.last_activity = time.monotonic()

    async def close(self) -> None:
        """Server-side end of the session: ``goodbye`` with the session id (the device goes Idle)."""
        if self.on_close is not None:
            await self.on_close()


@dataclass
class _Voice:
    channel: MqttUdpChannel
    session: _Session
    handler_task: asyncio.Task[None]
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


@dataclass
class _Device:
    identity: DeviceIdentity
    connection: int  # the broker connection (a take-over by the same client id is a new one)
    inbox: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    voice: _Voice | None = None
    online_since: float = field(default_factory=time.monotonic)


# --------------------------------------------------------------------------- the gateway


class MqttGateway:
    """Broker hub + MQTT+UDP session manager. ``publish`` is set once the broker exists."""

    def __init__(
        self,
        settings: Settings,
        issuer: CredentialIssuer,
        handler_factory: HandlerFactory,
        registry: DeviceRegistry,
        udp: UdpEndpoint,
        *,
        device_allowed: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.issuer = issuer
        self.handler_factory = handler_factory
        self.registry = registry
        self.udp = udp
        self.device_allowed = device_allowed or (lambda device_id: True)
        self.publish: Publish | None = None
        self.devices: dict[str, _Device] = {}  # device id → MQTT-connected device
        self.udp_hosts: dict[
            str, str
        ] = {}  # device id → host it used for OTA (UDP server when none configured)
        self.firmware: dict[str, str] = {}  # device id → firmware version from its last OTA check
        self.frames_in = 0
        self.bad_frames = 0
        self.refused = 0
        self.listeners: list[Callable[[str, str], None]] = []  # ("online" | "offline", device id)

    # ---- BrokerHub

    def authenticate(
        self, client_id: str | None, username: str | None, password: Any
    ) -> DeviceIdentity | None:
        identity = self.issuer.verify(client_id, username, password)
        if identity is not None and not self.device_allowed(identity.device_id):
            log.warning("MQTT connect refused: device %s is not activated", identity.device_id)
            identity = None
        if identity is None:
            self.refused += 1
        return identity

    def device_online(self, identity: DeviceIdentity, connection: int = 0) -> None:
        old = self.devices.get(identity.device_id)
        if old is not None:
            self._retire(old)
        dev = _Device(identity, connection)
        dev.worker = asyncio.create_task(self._work(dev), name=f"mqtt-{identity.device_id}")
        self.devices[identity.device_id] = dev
        log.info("MQTT device %s online (%s)", identity.device_id, identity.board)
        self._tell("online", identity.device_id)

    def device_offline(self, identity: DeviceIdentity, connection: int = 0) -> None:
        dev = self.devices.get(identity.device_id)
        if dev is None or dev.identity != identity or dev.connection != connection:
            return
        del self.devices[identity.device_id]
        self._retire(dev)
        log.info("MQTT device %s offline", identity.device_id)
        self._tell("offline", identity.device_id)

    def on_publish(self, identity: DeviceIdentity, topic: str, payload: bytes) -> None:
        dev = self.devices.get(identity.device_id)
        if dev is None or topic != uplink_topic(identity.device_id):
            return
        if dev.inbox.qsize() >= MAX_INBOX:
            rlog.warning(identity.device_id, "device %s floods MQTT; message dropped", identity.device_id)
            return
        dev.inbox.put_nowait(payload)  # synchronous: keeps the device's message order

    def _tell(self, event: str, device_id: str) -> None:
        for listener in self.listeners:
            try:
                listener(event, device_id)
            except Exception:
                log.exception("MQTT device listener failed")

    def _retire(self, dev: _Device) -> None:
        if dev.worker is not None:
            dev.worker.cancel()
        if dev.voice is not None:
            asyncio.get_running_loop().create_task(self._end_voice(dev, send_goodbye=False))

    # ---- per-device message loop

    async def _work(self, dev: _Device) -> None:
        while True:
            payload = await dev.inbox.get()
            try:
                await self._on_message(dev, payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("MQTT message from %s failed", dev.identity.device_id)

    async def _on_message(self, dev: _Device, payload: bytes) -> None:
        device_id = dev.identity.device_id
        try:
            msg = P.decode_json(payload)
        except P.ProtocolError as exc:
            rlog.warning(device_id, "device %s sent bad JSON over MQTT: %s", device_id, str(exc)[:120])
            return
        kind = msg["type"]
        if kind == "hello":
            await self._on_hello(dev, msg)
        elif kind == "goodbye":
            if dev.voice is not None and msg.get("session_id") in (
                None,
                "",
                dev.voice.channel.info.session_id,
            ):
                await self._end_voice(dev, send_goodbye=False)
        elif dev.voice is not None:
            voice = dev.voice
            voice.channel.last_activity = voice.channel.last_received = time.monotonic()
            try:
                await voice.session.on_text(payload.decode("utf-8", "replace"))
            except P.HostileMessage:
                await self._end_voice(dev, send_goodbye=True)
        else:
            rlog.info(device_id, "device %s: %s outside a session ignored", device_id, str(kind)[:40])

    async def _on_hello(self, dev: _Device, msg: dict[str, Any]) -> None:
        try:
            hello = P.parse_client_hello(msg)
        except P.ProtocolError as exc:
            rlog.warning(dev.identity.device_id, "bad MQTT hello from %s: %s", dev.identity.device_id, exc)
            return
        if dev.voice is not None:  # a new hello replaces the open session (the device reset its sequence)
            await self._end_voice(dev, send_goodbye=False)
        assert self.publish is not None
        params = hello.audio_params or P.AudioParams()
        udp = UdpSession(self.udp, params.frame_duration)
        info = DeviceInfo(
            device_id=dev.identity.device_id,
            client_id=dev.identity.uuid,
            session_id=uuid.uuid4().hex,
            protocol_version=1,  # bare Opus packets: the UDP header does the framing
            features=dict(hello.features),
            uplink_sample_rate=params.sample_rate,
            uplink_frame_ms=params.frame_duration,
            remote="mqtt+udp",
        )
        channel = MqttUdpChannel(info, self.settings, self.publish, udp)
        host = self.settings.udp_public_host or self.settings.public_host
        host = host or self.udp_hosts.get(info.device_id, "") or "127.0.0.1"
        reply = {
            "type": "hello",
            "transport": "udp",
            "session_id": info.session_id,
            "audio_params": P.AudioParams(
                sample_rate=self.settings.downlink_sample_rate, frame_duration=60
            ).to_dict(),
            "udp": udp.params(host, self.udp.port).to_dict(),
        }
        try:
            await channel.send_json(reply)  # before anything else, MCP included
            handler = self.handler_factory(info)
        except Exception:
            log.exception("MQTT session for %s could not start", info.device_id)
            udp.close()
            return
        session = _Session(self, channel, handler)  # type: ignore[arg-type]  # duck-types DeviceServer
        udp.on_audio = self._audio_sink(session)
        handler_task = asyncio.create_task(session.run_handler(), name=f"session-{info.session_id}")
        voice = _Voice(channel, session, handler_task)
        dev.voice = voice
        channel.on_close = lambda: self._end_voice(dev, send_goodbye=True, only=voice)
        self.registry.register(channel)
        session.emit("on_open", channel)
        if hello.mcp:
            voice.tasks.append(asyncio.create_task(channel.init_mcp()))
        voice.tasks.append(asyncio.create_task(self._idle_watch(dev, voice)))
        log.info("device %s: MQTT+UDP session %s (ssrc %08x)", info.device_id, info.session_id, udp.ssrc)

    def _audio_sink(self, session: _Session) -> Callable[[bytes], None]:
        def sink(payload: bytes) -> None:
            channel = session.channel
            channel.last_activity = channel.last_received = time.monotonic()
            session.on_binary(payload)

        return sink

    async def _idle_watch(self, dev: _Device, voice: _Voice) -> None:
        idle = self.settings.idle_timeout_s
        channel = voice.channel
        while dev.voice is voice:
            wait = channel.last_activity + idle - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, 5.0))
                continue
            if channel.speaking:
                channel.last_activity = time.monotonic()
                continue
            log.info("device %s: MQTT+UDP session idle for %.0f s; goodbye", channel.info.device_id, idle)
            await self._end_voice(dev, send_goodbye=True, only=voice)
            return

    async def _end_voice(self, dev: _Device, *, send_goodbye: bool, only: _Voice | None = None) -> None:
        voice = dev.voice
        if voice is None or (only is not None and voice is not only):
            return
        dev.voice = None
        channel = voice.channel
        if send_goodbye and self.publish is not None and dev.identity.device_id in self.devices:
            with contextlib.suppress(Exception):
                await channel.send_json({"type": "goodbye", "session_id": channel.info.session_id})
        channel.closed = True
        channel.pacer.stop()
        channel.mcp.close()
        channel.udp.close()
        for task in voice.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.registry.unregister(channel)
        voice.session.emit("on_close")
        voice.session.queue.put_nowait(_CLOSE)
        try:
            await asyncio.wait_for(asyncio.shield(voice.handler_task), 10.0)
        except TimeoutError:
            voice.handler_task.cancel()
        log.info("device %s: MQTT+UDP session %s ended", channel.info.device_id, channel.info.session_id)

    # ---- used by the service

    async def send(self, device_id: str, message: dict[str, Any]) -> bool:
        """A control message to an MQTT-connected device, in a session or idle; False when it is offline."""
        if device_id not in self.devices or self.publish is None:
            return False
        await self.publish(device_id, json.dumps(message, ensure_ascii=False).encode())
        return True

    def in_session(self, device_id: str) -> bool:
        dev = self.devices.get(device_id)
        return dev is not None and dev.voice is not None

    async def close(self) -> None:
        for dev in list(self.devices.values()):
            if dev.worker is not None:
                dev.worker.cancel()
            await self._end_voice(dev, send_goodbye=True)
        self.devices.clear()
