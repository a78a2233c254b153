"""The embedded MQTT broker: amqtt 0.12 in-process, with one plugin that authenticates devices, confines each
to its own topics, and delivers to devices that never subscribe.

The firmware connects with a clean session and never sends SUBSCRIBE (reference §6.1). On every authenticated
connect the plugin subscribes the device's broker session to its own downlink topic ``devices/p2p/<mac_>`` (the
same idea as EMQX's auto-subscribe rule), so the server's ``internal_message_broadcast`` to that topic reaches it
through the broker's own session and delivery machinery.

ACL: a device may publish only to its own ``publish_topic`` and subscribe only to its own downlink topic;
anything else is refused (a PUBLISH is dropped, a SUBSCRIBE gets 0x80). Credentials are checked against the
HMAC derivation in constant time (server.mqtt.credentials).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from amqtt.broker import Action, Broker  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]
from amqtt.session import Session  # type: ignore[import-untyped]

from server.mqtt.credentials import DeviceIdentity, downlink_topic, uplink_topic
from server.voice.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
rlog = RateLimitedLog(log)  # refusals are per source and budgeted: a flood of bad logins is summarised
logging.getLogger("amqtt").setLevel(logging.ERROR)  # its per-connection INFO/WARNING lines would be unbounded
logging.getLogger("transitions").setLevel(logging.WARNING)

PLUGIN_NAME = "XiaozhiBrokerPlugin"


class BrokerHub(Protocol):
    """What the broker plugin reports to (server.mqtt.gateway.MqttGateway)."""

    def authenticate(
        self, client_id: str | None, username: str | None, password: Any
    ) -> DeviceIdentity | None: ...

    def device_online(self, identity: DeviceIdentity, connection: int) -> None: ...

    def device_offline(self, identity: DeviceIdentity, connection: int) -> None: ...

    def on_publish(self, identity: DeviceIdentity, topic: str, payload: bytes) -> None: ...


class XiaozhiBrokerPlugin(BaseAuthPlugin, BaseTopicPlugin):
    @dataclass
    class Config:
        pass

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.hub: BrokerHub | None = None
        self.identities: dict[str, DeviceIdentity] = {}  # broker client id → device
        self.subscribed: dict[str, asyncio.Event] = {}  # device id → its downlink subscription exists
        self.refused = 0

    async def authenticate(self, *, session: Session) -> bool | None:
        identity = (
            self.hub.authenticate(session.client_id, session.username, session.password) if self.hub else None
        )
        if identity is None:
            self.refused += 1
            rlog.warning(
                session.remote_address or "?",
                "MQTT connect refused: bad credentials for client id %.80r from %s",
                session.client_id,
                session.remote_address,
            )
            return False
        if session.client_id is not None:
            self.identities[session.client_id] = identity
        return True

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool | None:
        identity = self.identities.get(session.client_id or "") if session is not None else None
        if identity is None or topic is None:
            return False
        if action == Action.PUBLISH:
            allowed = topic == uplink_topic(identity.device_id)
        else:
            allowed = topic == downlink_topic(identity.device_id)
        if not allowed:
            rlog.warning(
                identity.device_id, "device %s refused %s on topic %.80r", identity.device_id, action, topic
            )
        return allowed

    async def on_broker_client_connected(self, *, client_id: str, client_session: Session) -> None:
        identity = self.identities.get(client_id)
        if identity is None:
            return
        ready = self.subscribed[identity.device_id] = asyncio.Event()
        if self.hub is not None:  # first, synchronously: the device's first PUBLISH may follow at once
            self.hub.device_online(identity, id(client_session))
        await self.context.add_subscription(client_id, downlink_topic(identity.device_id), 0)
        ready.set()

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Session) -> None:
        identity = self.identities.get(client_id)
        if identity is not None and self.hub is not None:
            self.hub.device_offline(identity, id(client_session))  # a take-over's old connection: ignored

    async def on_broker_message_broadcast(self, *, client_id: str, message: Any) -> None:
        identity = self.identities.get(client_id)
        if identity is not None and self.hub is not None and message is not None:
            self.hub.on_publish(identity, message.topic, bytes(message.data or b""))


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    tls_cert: str | None = None
    tls_key: str | None = None


class EmbeddedBroker:
    def __init__(self, hub: BrokerHub, listeners: list[Listener]) -> None:
        self.hub = hub
        self.listeners = listeners
        self._broker: Broker | None = None
        self.plugin: XiaozhiBrokerPlugin | None = None

    def _config(self) -> dict[str, Any]:
        listeners: dict[str, Any] = {}
        for i, lst in enumerate(self.listeners):
            name = "default" if i == 0 else f"l{i}"
            cfg: dict[str, Any] = {"type": "tcp", "bind": f"{lst.host}:{lst.port}", "max_connections": 0}
            if lst.tls_cert and lst.tls_key:
                cfg.update(ssl=True, certfile=lst.tls_cert, keyfile=lst.tls_key)
            listeners[name] = cfg
        return {
            "listeners": listeners,
            "timeout_disconnect_delay": 0,
            "plugins": {f"{__name__}.{PLUGIN_NAME}": {}},
        }

    async def start(self) -> None:
        broker = Broker(self._config())
        plugin = broker.plugins_manager.get_plugin(PLUGIN_NAME)
        assert isinstance(plugin, XiaozhiBrokerPlugin)
        plugin.hub = self.hub
        self.plugin = plugin
        await broker.start()
        self._broker = broker
        log.info("embedded MQTT broker listening on %s", ", ".join(f"{h}:{p}" for h, p in self.bound()))

    def bound(self) -> list[tuple[str, int]]:
        assert self._broker is not None
        out = []
        for name in self._broker._servers:
            server = self._broker._servers[name].instance
            sock = server.sockets[0].getsockname()
            out.append((sock[0], sock[1]))
        return out

    def port(self, index: int = 0) -> int:
        return self.bound()[index][1]

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            try:
                await asyncio.wait_for(broker.shutdown(), 10.0)
            except Exception:  # a broker that cannot shut down cleanly must not block the service's stop
                log.exception("embedded MQTT broker shutdown failed")

    async def publish(self, device_id: str, payload: bytes) -> None:
        """Deliver to the device's downlink topic (QoS 0, like the gateway)."""
        assert self._broker is not None, "broker not started"
        ready = self.plugin.subscribed.get(device_id) if self.plugin is not None else None
        if ready is not None and not ready.is_set():  # connected a moment ago: its subscription is being made
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 2.0)
        await self._broker.internal_message_broadcast(downlink_topic(device_id), payload, 0)
