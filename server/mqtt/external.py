"""The server as an MQTT client of an external broker (EMQX) instead of the embedded one, for deployments with
many devices (README "Many devices: an external broker").

What EMQX is configured to do (README): authenticate devices and authorise topics by calling this server over
HTTP (``POST /xiaozhi/mqtt/auth``, ``POST /xiaozhi/mqtt/acl``: the same HMAC derivation and per-device ACL as
the embedded broker), auto-subscribe every device to ``devices/p2p/${username}`` (the firmware never subscribes),
and publish client connect/disconnect events on ``$SYS/brokers/<node>/clients/<clientid>/(dis)connected``.

What this link does: connects with the server's own derived credentials (paho-mqtt), subscribes the devices'
uplink ``xiaozhi/up/+`` and those events, feeds them to the same gateway as the embedded broker does, and
publishes the server's messages to ``devices/p2p/<mac_>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import ssl
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from aiohttp import web

from server.mqtt.credentials import (
    SEP,
    CredentialIssuer,
    DeviceIdentity,
    device_from_key,
    downlink_topic,
    uplink_topic,
)
from server.mqtt.gateway import MqttGateway
from server.voice.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
rlog = RateLimitedLog(log)

SERVER_CLIENT = "xiaozhi-ops-server"
UPLINK_FILTER = "xiaozhi/up/+"
EVENT_FILTERS = ("$SYS/brokers/+/clients/+/connected", "$SYS/brokers/+/clients/+/disconnected")


def server_password(secret: str) -> str:
    return hmac.new(secret.encode(), f"server|{SERVER_CLIENT}".encode(), hashlib.sha256).hexdigest()


class BrokerAuth:
    """The decisions EMQX asks for over HTTP: who may connect, and which topic each may use."""

    def __init__(self, gateway: MqttGateway, secret: str) -> None:
        self.gateway = gateway
        self._server_password = server_password(secret)

    def is_server(self, username: str, password: str) -> bool:
        return username == SERVER_CLIENT and hmac.compare_digest(
            password.encode(), self._server_password.encode()
        )

    def authenticate(self, client_id: str, username: str, password: str) -> bool:
        if username == SERVER_CLIENT:
            return self.is_server(username, password)
        return self.gateway.authenticate(client_id, username, password) is not None

    def authorize(self, client_id: str, username: str, topic: str, action: str) -> bool:
        if username == SERVER_CLIENT:
            if action == "publish":
                return topic.startswith("devices/p2p/")
            return topic == UPLINK_FILTER or topic in EVENT_FILTERS
        identity = self.gateway.issuer.identity_of(client_id, username)
        if identity is None:
            return False
        if action == "publish":
            return topic == uplink_topic(identity.device_id)
        return topic == downlink_topic(identity.device_id)

    def setup_routes(self, app: web.Application) -> None:
        async def auth(request: web.Request) -> web.Response:
            body = await _body(request)
            ok = self.authenticate(
                body.get("clientid", ""), body.get("username", ""), body.get("password", "")
            )
            if not ok:
                rlog.warning(
                    request.remote or "?", "external broker: connect of %.80r denied", body.get("clientid")
                )
            return web.json_response({"result": "allow" if ok else "deny"})

        async def acl(request: web.Request) -> web.Response:
            body = await _body(request)
            ok = self.authorize(
                body.get("clientid", ""),
                body.get("username", ""),
                body.get("topic", ""),
                body.get("action", ""),
            )
            return web.json_response({"result": "allow" if ok else "deny"})

        app.router.add_post("/xiaozhi/mqtt/auth", auth)
        app.router.add_post("/xiaozhi/mqtt/acl", acl)


async def _body(request: web.Request) -> dict[str, str]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


class ExternalBrokerLink:
    def __init__(
        self,
        gateway: MqttGateway,
        issuer: CredentialIssuer,
        secret: str,
        endpoint: str,
        *,
        tls: bool = False,
        ca_file: str | None = None,
    ) -> None:
        self.gateway = gateway
        self.issuer = issuer
        host, _, port = endpoint.rpartition(":")
        self.host, self.port = (host, int(port)) if host else (endpoint, 1883)
        self._password = server_password(secret)
        self.tls = tls
        self.ca_file = ca_file
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._online: Counter[str] = Counter()  # device id → connections the broker reported
        self._task: asyncio.Task[None] | None = None
        self.refusals = 0

    @property
    def ready(self) -> asyncio.Event:
        return self._connected

    async def start(self) -> None:
        """Connect in the background: the broker authenticates this server through our own HTTP hooks, which
        are not up yet when the service starts; retried with backoff until it is accepted."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._connect_loop(), name="external-mqtt-connect")

    async def _connect_loop(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._connect_once()
                return
            except (OSError, TimeoutError, ssl.SSLError, ConnectionError) as exc:
                self.refusals += 1
                if self.refusals in (1, 10) or self.refusals % 100 == 0:
                    log.warning("external MQTT broker %s:%d: %s; retrying", self.host, self.port, exc)
                await self._drop_client()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _connect_once(self, timeout: float = 5.0) -> None:
        self._refused = asyncio.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=SERVER_CLIENT,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.username_pw_set(SERVER_CLIENT, self._password)
        if self.tls:
            client.tls_set_context(ssl.create_default_context(cafile=self.ca_file))
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        self._client = client
        await asyncio.to_thread(client.connect, self.host, self.port, 60)
        client.loop_start()
        waits = {asyncio.ensure_future(self._connected.wait()), asyncio.ensure_future(self._refused.wait())}
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for fut in pending:
            fut.cancel()
        if not self._connected.is_set():
            raise ConnectionError("refused" if self._refused.is_set() else "no CONNACK")
        log.info("connected to the external MQTT broker %s:%d as %s", self.host, self.port, SERVER_CLIENT)

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        assert self._loop is not None
        if reason.is_failure:
            self._loop.call_soon_threadsafe(self._refused.set)
            return
        client.subscribe([(UPLINK_FILTER, 0), *((f, 0) for f in EVENT_FILTERS)])
        self._loop.call_soon_threadsafe(self._connected.set)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._dispatch, str(message.topic), bytes(message.payload))

    def _identity(self, client_id: str) -> DeviceIdentity | None:
        parts = client_id.split(SEP)
        if len(parts) != 3 or not parts[0].startswith("GID_"):
            return None
        return DeviceIdentity(device_from_key(parts[1]), parts[0][4:], parts[2])

    def _dispatch(self, topic: str, payload: bytes) -> None:
        if topic.startswith("$SYS/"):
            levels = topic.split("/")
            identity = self._identity(levels[4]) if len(levels) == 6 else None
            if identity is None:
                return
            if levels[5] == "connected":
                self._online[identity.device_id] += 1
                self.gateway.device_online(identity, 0)
            elif levels[5] == "disconnected" and self._online[identity.device_id] > 0:
                self._online[identity.device_id] -= 1
                if not self._online[identity.device_id]:
                    del self._online[identity.device_id]
                    self.gateway.device_offline(identity, 0)
            return
        key = topic.rsplit("/", 1)[-1]
        device_id = device_from_key(key)
        dev = self.gateway.devices.get(device_id)
        if dev is None:  # connected before this server did: the uplink itself says it is there
            identity = DeviceIdentity(device_id, "", "")
            self.gateway.device_online(identity, 0)
            dev = self.gateway.devices[device_id]
        self.gateway.on_publish(dev.identity, topic, payload)

    async def publish(self, device_id: str, payload: bytes) -> None:
        if self._client is None:
            raise RuntimeError("not connected to the external broker")
        self._client.publish(downlink_topic(device_id), payload, qos=0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_client()
