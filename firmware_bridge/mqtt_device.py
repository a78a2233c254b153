"""A virtual xiaozhi device on the MQTT+UDP transport, as the firmware behaves (reference §5, §6).

* Settings come from the OTA check (``fetch_ota``): its ``mqtt`` block (endpoint, client id, username,
  password, publish_topic, keepalive); port 8883 means TLS.
* The control connection is MQTT 3.1.1 with a clean session (paho-mqtt). The device publishes with QoS 0 to its
  ``publish_topic`` and **never subscribes**: whatever reaches it is delivered by the broker on its own.
* A wake opens the audio channel: ``hello`` over MQTT, a 10 s wait for a hello with a valid ``udp`` block,
  then a connected UDP socket; uplink Opus sealed with AES-128-CTR (header = counter block, sequence from 1),
  downlink packets checked in the firmware's order (size, type, exact length, sequence strictly increasing).
* ``goodbye`` from the server closes the audio channel; ``close`` sends ``goodbye`` first.
* ``notify`` is accepted only while Idle: the audio URL is fetched without following redirects, decoded as
  mono Ogg Opus with the firmware's checks, and recorded with its subtitles. ``alert`` is recorded as shown.

Everything else (JSON handling, tts state machine, bounded decode queue, MCP server, event log) is the
WebSocket ``VirtualDevice``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import paho.mqtt.client as mqtt

from firmware_bridge import protocol as P
from firmware_bridge.audio import OpusDecoder
from firmware_bridge.ogg_opus import OggOpusError, read_ogg_opus
from firmware_bridge.udp_audio import (
    PacketDropped,
    PacketOpener,
    PacketSealer,
    UdpBlockError,
    UdpParams,
    parse_udp_hello,
)
from firmware_bridge.virtual_device import DeviceConfig, DeviceError, VirtualDevice

DEFAULT_MQTT_PORT = 8883
NOTIFY_MAX_BYTES = 4 << 20


async def fetch_ota(
    ota_url: str,
    device_id: str,
    client_id: str,
    *,
    board: str = "virtual-device",
    version: str = "2.5.1",
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The firmware's OTA check: POST with its headers and system-info body; the parsed JSON answer."""
    body = {
        "version": 2,
        "language": "zh-CN",
        "mac_address": device_id,
        "uuid": client_id,
        "application": {"name": "xiaozhi", "version": version},
        "board": {"type": board, "name": board, "mac": device_id},
    }
    headers = {
        "Activation-Version": "1",
        "Device-Id": device_id,
        "Client-Id": client_id,
        "User-Agent": f"{board}/{version}",
        "Accept-Language": "zh-CN",
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
        http.post(ota_url, data=json.dumps(body), headers=headers) as resp,
    ):
        if resp.status != 200:
            raise DeviceError(f"OTA check answered {resp.status}")
        answer = await resp.json(content_type=None)
    if not isinstance(answer, dict):
        raise DeviceError("OTA answer is not a JSON object")
    return answer


@dataclass
class MqttSettings:
    """The OTA ``mqtt`` block, as the firmware stores it in NVS."""

    endpoint: str
    client_id: str
    username: str
    password: str
    publish_topic: str
    keepalive: int = 240

    @classmethod
    def from_ota(cls, answer: dict[str, Any]) -> MqttSettings:
        block = answer.get("mqtt")
        if not isinstance(block, dict):
            raise DeviceError("the OTA answer has no mqtt block (the server wants WebSocket)")
        try:
            return cls(
                endpoint=str(block["endpoint"]),
                client_id=str(block["client_id"]),
                username=str(block["username"]),
                password=str(block["password"]),
                publish_topic=str(block["publish_topic"]),
                keepalive=int(block.get("keepalive", 240)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceError(f"unusable mqtt block: {exc}") from exc

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.endpoint.rpartition(":")
        if not host:
            return self.endpoint, DEFAULT_MQTT_PORT
        return host, int(port)


@dataclass
class Notification:
    url: str
    subtitles: list[dict[str, Any]]
    received_at: float
    status: int = 0
    pcm: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    error: str = ""
    first_byte_at: float | None = None
    decoded_at: float | None = None

    @property
    def ok(self) -> bool:
        return not self.error and len(self.pcm) > 0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, device: MqttVirtualDevice) -> None:
        self.device = device

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.device._on_datagram(data)


class MqttVirtualDevice(VirtualDevice):
    def __init__(
        self,
        settings: MqttSettings,
        config: DeviceConfig | None = None,
        *,
        tls: bool | None = None,
        ca_file: str | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(f"mqtt://{settings.endpoint}", config, **overrides)
        self.config.protocol_version = 1  # bare Opus packets inside the UDP packets
        self.mqtt_settings = settings
        self.tls = tls if tls is not None else settings.host_port[1] == DEFAULT_MQTT_PORT
        self.ca_file = ca_file
        self.udp_params: UdpParams | None = None
        self.notifications: list[Notification] = []
        self.alerts: list[dict[str, Any]] = []
        self.udp_drops: list[str] = []
        self.subscribed = False  # stays False: the firmware never subscribes
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._connack: Any = None
        self._udp: asyncio.DatagramTransport | None = None
        self._sealer: PacketSealer | None = None
        self._opener: PacketOpener | None = None
        self._notify_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ control connection

    async def connect_control(self, timeout: float = 10.0) -> None:
        """Boot: connect to the broker with the OTA credentials (no SUBSCRIBE). Raises DeviceError if refused."""
        self._loop = asyncio.get_running_loop()
        s = self.mqtt_settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.username_pw_set(s.username, s.password)
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            client.tls_set_context(ctx)
        client.on_connect = self._mqtt_connect
        client.on_message = self._mqtt_message
        client.on_disconnect = self._mqtt_disconnect
        self._client = client
        host, port = s.host_port
        self.closed.clear()
        try:
            await asyncio.to_thread(client.connect, host, port, s.keepalive)
        except (OSError, ssl.SSLError) as exc:
            raise DeviceError(f"MQTT connect to {host}:{port} failed: {exc}") from exc
        client.loop_start()
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            await self._stop_client()
            raise DeviceError("no CONNACK from the broker") from None
        if self._connack is None or self._connack.is_failure:
            await self._stop_client()
            raise DeviceError(f"MQTT connect refused: {self._connack}")
        self._record("local", "state", note="mqtt connected")

    def _mqtt_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connack = reason
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._connected.set)

    def _mqtt_message(self, client: Any, userdata: Any, message: Any) -> None:
        assert self._loop is not None
        payload = bytes(message.payload)
        self._loop.call_soon_threadsafe(self._on_mqtt_payload, payload)

    def _mqtt_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_mqtt_lost, str(reason))

    def _on_mqtt_lost(self, reason: str) -> None:
        self._connected.clear()
        self._record("local", "closed", note=f"mqtt: {reason}")
        self._close_udp()
        self._set_state("idle")
        self.closed.set()

    def _on_mqtt_payload(self, payload: bytes) -> None:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            self._record("in", "invalid", size=len(payload), note="not UTF-8")
            return
        self._on_text(text)

    # ------------------------------------------------------------------ audio channel

    async def open_audio(self) -> P.ServerHello:
        """OpenAudioChannel: hello over MQTT, wait for the udp hello, open the UDP socket."""
        if self._client is None or not self._connected.is_set():
            raise DeviceError("MQTT not connected")
        self._hello_event.clear()
        self.session_id = ""
        self._set_state("connecting")
        await self.send_json(
            {
                "type": "hello",
                "version": 3,
                "transport": "udp",
                "features": {"mcp": True},
                "audio_params": P.AudioParams(
                    sample_rate=16000, frame_duration=self.config.frame_ms
                ).to_dict(),
            }
        )
        try:
            await asyncio.wait_for(self._hello_event.wait(), self.config.hello_timeout_s)
        except TimeoutError:
            self._set_state("idle")
            raise DeviceError("no valid udp hello within the timeout") from None
        params = self.udp_params
        assert params is not None and self.server_hello is not None
        self._close_udp()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), remote_addr=(params.server, params.port)
        )
        self._udp = transport
        self._sealer = PacketSealer(params.key, params.nonce)
        self._opener = PacketOpener(params.key)
        return self.server_hello

    async def connect(self) -> P.ServerHello:
        """Boot and wake in one: control connection, then the audio channel."""
        if self._client is None or not self._connected.is_set():
            await self.connect_control()
        return await self.open_audio()

    @property
    def audio_open(self) -> bool:
        return self._udp is not None

    def _on_server_hello(self, msg: dict[str, Any]) -> None:
        if self._hello_event.is_set():
            return
        try:
            params = parse_udp_hello(msg)
            sid = msg.get("session_id")
            hello = P.ServerHello(
                session_id=sid if isinstance(sid, str) else "",
                audio_params=P.AudioParams.from_dict(
                    msg.get("audio_params"), P.AudioParams(sample_rate=24000)
                ),
                transport="udp",
            )
        except (UdpBlockError, P.ProtocolError) as exc:
            self._record("local", "invalid", note=str(exc))  # the firmware ignores it and times out
            return
        self.udp_params = params
        self.server_hello = hello
        self.session_id = hello.session_id
        self._decoder = OpusDecoder(hello.audio_params.sample_rate)
        self._hello_event.set()

    def _on_text(self, text: str) -> None:
        super()._on_text(text)
        if not self.events or self.events[-1].message is None:
            return
        msg = self.events[-1].message
        kind = msg.get("type")
        if kind == "goodbye":
            if msg.get("session_id") in (None, self.session_id):
                self._close_udp()
                self._set_state("idle")
        elif kind == "notify":
            self._on_notify(msg)
        elif kind == "alert":
            self.alerts.append(msg)

    def _close_udp(self) -> None:
        if self._udp is not None:
            self._udp.close()
        self._udp = None
        self._sealer = self._opener = None

    def _on_datagram(self, data: bytes) -> None:
        if self._opener is None:
            return
        try:
            _, payload = self._opener.open(data)
        except PacketDropped as exc:
            self.udp_drops.append(exc.reason.value)
            self._record("in", "invalid", size=len(data), note=f"udp {exc}")
            return
        self._on_binary(payload)

    # ------------------------------------------------------------------ sending

    async def send_json(self, message: dict[str, Any]) -> None:
        if self._client is None or not self._connected.is_set():
            raise DeviceError("not connected")
        info = self._client.publish(
            self.mqtt_settings.publish_topic, json.dumps(message, ensure_ascii=False), qos=0
        )
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeviceError(f"MQTT publish failed: {info.rc}")
        self._record("out", "json", message=message)

    async def publish_raw(self, topic: str, payload: bytes | str) -> None:
        """Publish anything anywhere (for ACL tests)."""
        if self._client is None:
            raise DeviceError("not connected")
        self._client.publish(topic, payload, qos=0)
        self._record("out", "raw", size=len(payload), note=topic)

    async def send_raw(self, data: bytes | str) -> None:
        """A raw UDP datagram (bytes) or a raw MQTT message on the publish topic (str)."""
        if isinstance(data, str):
            await self.publish_raw(self.mqtt_settings.publish_topic, data)
            return
        if self._udp is None:
            raise DeviceError("audio channel not open")
        self._udp.sendto(data)
        self._record("out", "raw", size=len(data))

    async def send_opus(self, packet: bytes, timestamp: int = 0) -> None:
        if self._udp is None or self._sealer is None:
            raise DeviceError("audio channel not open")
        self._udp.sendto(self._sealer.seal(packet, timestamp))
        self._record("out", "audio_out", size=len(packet))
        await asyncio.sleep(0)  # a send yields, as a socket write does (lets the tts state machine run)

    async def wake(
        self, wake_word: str = "你好小智", preroll: np.ndarray | None = None, then_listen: bool = True
    ) -> None:
        if self._udp is None:
            await self.open_audio()
        await super().wake(wake_word, preroll, then_listen)

    async def goodbye(self) -> None:
        """The device ends the conversation: ``goodbye`` and the UDP socket closes."""
        if self._udp is not None:
            with contextlib.suppress(DeviceError):
                await self.send_json({"type": "goodbye", "session_id": self.session_id})
        self._close_udp()
        self._set_state("idle")

    async def _stop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    async def close(self) -> None:
        if self._relisten_task:
            self._relisten_task.cancel()
        if self._notify_task is not None:
            self._notify_task.cancel()
        await self.goodbye()
        await self._stop_client()
        self._connected.clear()
        self.closed.set()

    # ------------------------------------------------------------------ notify

    def _on_notify(self, msg: dict[str, Any]) -> None:
        url = msg.get("audio_url")
        busy = self._notify_task is not None and not self._notify_task.done()
        if self.state != "idle" or busy:
            self._record("local", "invalid", note=f"notify ignored in state {self.state}")
            return
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            self._record("local", "invalid", note="notify without an http(s) audio_url")
            return
        subtitles = msg.get("subtitles")
        note = Notification(url, subtitles if isinstance(subtitles, list) else [], time.monotonic())
        self.notifications.append(note)
        self._notify_task = asyncio.get_running_loop().create_task(self._play_notify(note))

    async def _play_notify(self, note: Notification) -> None:
        self._set_state("notifying")
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(note.url, allow_redirects=False) as resp,
            ):
                note.status = resp.status
                if not 200 <= resp.status < 300:
                    note.error = f"HTTP {resp.status}"
                    return
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(4096):
                    if note.first_byte_at is None:
                        note.first_byte_at = time.monotonic()
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > NOTIFY_MAX_BYTES:
                        note.error = "notify audio too large"
                        return
            audio = read_ogg_opus(b"".join(chunks), 16000)
            note.pcm = audio.pcm
            note.decoded_at = time.monotonic()
            self._record("local", "notify", samples=len(audio.pcm), note=note.url)
        except (aiohttp.ClientError, TimeoutError, OggOpusError) as exc:
            note.error = str(exc) or type(exc).__name__
            self._record("local", "invalid", note=f"notify failed: {note.error}")
        finally:
            if self.state == "notifying":
                self._set_state("idle")

    async def wait_notification(self, timeout: float = 10.0, since: int = 0) -> Notification:
        """The first notify from index ``since`` that finished (played or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            for note in self.notifications[since:]:
                if note.ok or note.error:
                    return note
            if time.monotonic() >= deadline:
                raise TimeoutError("no notify arrived")
            await asyncio.sleep(0.02)
