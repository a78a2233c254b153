"""The MQTT+UDP stack as one object: credentials, embedded broker, UDP endpoint, sessions, notify push.

Wiring (server.app): ``MqttService(settings, registry, session_factory)``; ``await start()`` before the HTTP
app is built; ``setup_routes`` on the HTTP app (notify audio); ``ota_block`` from the OTA handler; ``push_owner``
from the delivery ladder; ``await stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from aiohttp import web

from server.config import Settings
from server.mqtt.broker import EmbeddedBroker, Listener
from server.mqtt.credentials import CredentialIssuer, mqtt_secret, uplink_topic
from server.mqtt.gateway import HandlerFactory, MqttGateway, UdpEndpoint
from server.mqtt.notify import NotifyAudioStore, Pusher, PushEvent, PushOutcome, PushRecord, Synthesize
from server.voice.registry import DeviceRegistry

log = logging.getLogger(__name__)

_EVENT_TEXT = {
    PushEvent.SENT: "notify sent to {device}",
    PushEvent.ALERT_SENT: "alert message sent to {device} (firmware without notify)",
    PushEvent.FETCHED: "notify audio fetched by {device} (received)",
    PushEvent.STREAMED: "notify audio streamed to the end to {device}",
    PushEvent.INTERRUPTED: "notify audio download interrupted by {device}",
    PushEvent.EXPIRED: "notify to {device} expired without being fetched",
}


class MqttService:
    def __init__(
        self,
        settings: Settings,
        registry: DeviceRegistry,
        handler_factory: HandlerFactory,
        *,
        device_allowed: Callable[[str], bool] | None = None,
        synthesize: Synthesize | None = None,
        note: Callable[[int, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self._secret = mqtt_secret(settings.mqtt_secret.get_secret_value(), settings.data_dir)
        self.issuer = CredentialIssuer(self._secret)
        self.udp = UdpEndpoint()
        self.gateway = MqttGateway(
            settings, self.issuer, handler_factory, registry, self.udp, device_allowed=device_allowed
        )
        self.note = note  # (case id, text, detail) → the case timeline
        self.events: list[PushRecord] = []  # recent push events (bounded)
        self.notify = NotifyAudioStore(settings.notify_ttl_s, self._record)
        self.http_port = settings.http_port
        self.pusher = Pusher(
            self.notify,
            self.gateway.send,
            synthesize or _silent,
            self._base_url,
            self.gateway.firmware.get,
        )
        self.broker: EmbeddedBroker | None = None
        self.external: Any = None  # server.mqtt.external.ExternalBrokerLink when XOPS_MQTT_EXTERNAL is set
        self._sweeper: asyncio.Task[None] | None = None

    # ---- lifecycle

    def _tls(self) -> tuple[str, str] | None:
        s = self.settings
        if s.mqtt_tls_cert and s.mqtt_tls_key:
            return str(s.mqtt_tls_cert), str(s.mqtt_tls_key)
        return None

    async def start(self, host: str | None = None) -> None:
        s = self.settings
        host = host if host is not None else s.host
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.udp, local_addr=(host, s.udp_port))
        self.udp.transport = transport
        if s.mqtt_external:
            from server.mqtt.external import ExternalBrokerLink

            link = ExternalBrokerLink(
                self.gateway,
                self.issuer,
                self._secret,
                s.mqtt_external,
                tls=s.mqtt_external_tls,
                ca_file=str(s.mqtt_external_ca) if s.mqtt_external_ca else None,
            )
            try:
                await link.start()
            except BaseException:
                transport.close()
                raise
            self.external = link
            self.gateway.publish = link.publish
            self._sweeper = asyncio.create_task(self._sweep(), name="notify-sweeper")
            log.info(
                "MQTT+UDP devices: external broker %s, UDP audio port %d", s.mqtt_external, self.udp.port
            )
            return
        listeners = [Listener(host, s.mqtt_port)]
        tls = self._tls()
        if tls is not None:
            listeners.append(Listener(host, s.mqtt_tls_port, *tls))
        self.broker = EmbeddedBroker(self.gateway, listeners)
        try:
            await self.broker.start()
        except BaseException:
            if self.udp.transport is not None:
                self.udp.transport.close()
            raise
        self.gateway.publish = self.broker.publish
        self._sweeper = asyncio.create_task(self._sweep(), name="notify-sweeper")
        log.info(
            "MQTT+UDP devices: broker %s, UDP audio port %d",
            ", ".join(f"{h}:{p}" for h, p in self.broker.bound()),
            self.udp.port,
        )

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.gateway.close()
        if self.broker is not None:
            await self.broker.stop()
        if self.external is not None:
            await self.external.stop()
        if self.udp.transport is not None:
            self.udp.transport.close()

    async def _sweep(self) -> None:
        interval = max(0.5, min(self.settings.notify_ttl_s / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            self.notify.sweep()

    @property
    def mqtt_port(self) -> int:
        assert self.broker is not None
        return self.broker.port(0)

    @property
    def mqtt_tls_port(self) -> int | None:
        assert self.broker is not None
        return self.broker.port(1) if len(self.broker.listeners) > 1 else None

    # ---- OTA

    def ota_block(
        self, device_id: str, uuid: str, board: str, request_host: str, app_version: str | None
    ) -> dict[str, Any] | None:
        """The ``mqtt`` block for this device, or None when its id is not a MAC (it gets the websocket block)."""
        try:
            creds = self.issuer.issue(device_id, uuid, board)
        except ValueError:
            return None
        self.gateway.udp_hosts[device_id] = request_host
        if app_version:
            self.gateway.firmware[device_id] = app_version
        endpoint = self.settings.mqtt_endpoint or self.settings.mqtt_external
        if not endpoint:
            host = self.settings.public_host or request_host or "127.0.0.1"
            port = (
                self.mqtt_tls_port or self.mqtt_port if self.broker is not None else self.settings.mqtt_port
            )
            endpoint = f"{host}:{port}"
        return {
            "endpoint": endpoint,
            "client_id": creds.client_id,
            "username": creds.username,
            "password": creds.password,
            "publish_topic": uplink_topic(device_id),
            "keepalive": self.settings.mqtt_keepalive_s,
        }

    # ---- push

    def setup_routes(self, app: web.Application) -> None:
        self.notify.setup_routes(app)
        if self.settings.mqtt_external:  # the external broker's auth and ACL hooks
            from server.mqtt.external import BrokerAuth

            BrokerAuth(self.gateway, self._secret).setup_routes(app)

    def _base_url(self, device_id: str) -> str:
        host = self.settings.public_host or self.gateway.udp_hosts.get(device_id) or "127.0.0.1"
        return f"http://{host}:{self.http_port}"

    def online(self) -> list[str]:
        return list(self.gateway.devices)

    async def push(self, device_id: str, sentences: list[str], case_id: int | None = None) -> PushOutcome:
        return await self.pusher.push(device_id, sentences, case_id)

    async def push_owner(
        self,
        owner: str,
        sentences: list[str],
        case_id: int | None,
        device_owner: Callable[[str], str | None],
    ) -> PushOutcome:
        """Rungs 2-3 of the delivery ladder: notify (or alert) on every idle MQTT device bound to ``owner``."""
        best = PushOutcome.OFFLINE
        for device_id in self.online():
            if device_owner(device_id) != owner or self.gateway.in_session(device_id):
                continue
            try:
                outcome = await self.push(device_id, sentences, case_id)
            except Exception:
                log.exception("push to %s failed", device_id)
                continue
            if outcome is PushOutcome.NOTIFY or (
                outcome is PushOutcome.ALERT and best is PushOutcome.OFFLINE
            ):
                best = outcome
        return best

    def _record(self, record: PushRecord) -> None:
        self.events.append(record)
        del self.events[:-500]
        log.info("push %s: device %s case %s", record.event.value, record.device_id, record.case_id)
        if self.note is not None and record.case_id is not None:
            text = _EVENT_TEXT[record.event].format(device=record.device_id)
            detail = {"event": record.event.value, "device": record.device_id, **record.detail}
            with contextlib.suppress(Exception):
                self.note(record.case_id, text, detail)


async def _silent(text: str) -> tuple[np.ndarray, int]:
    """Without a speech stack: a short tone per sentence (tests of the push path only)."""
    from firmware_bridge.audio import tone

    return tone(440.0, 0.5, 16000, amplitude=0.2), 16000
