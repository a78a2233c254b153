"""A stand-in for an EMQX cluster configured as the README says, built on amqtt: HTTP authentication and
authorisation against this server (``/xiaozhi/mqtt/auth``, ``/xiaozhi/mqtt/acl``), auto-subscribe of every client to
``devices/p2p/${username}``, and client events on ``$SYS/brokers/<node>/clients/<clientid>/(dis)connected``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from amqtt.broker import Action, Broker  # type: ignore[import-untyped]
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin  # type: ignore[import-untyped]

HOOKS: dict[str, str] = {}  # "url": the server's base URL (set by the test before the broker starts)


class EmqxLike(BaseAuthPlugin, BaseTopicPlugin):
    @dataclass
    class Config:
        pass

    async def _ask(self, path: str, body: dict[str, Any]) -> bool:
        async with aiohttp.ClientSession() as http, http.post(HOOKS["url"] + path, json=body) as resp:
            return resp.status == 200 and (await resp.json()).get("result") == "allow"

    async def authenticate(self, *, session: Any) -> bool | None:
        return await self._ask(
            "/xiaozhi/mqtt/auth",
            {
                "clientid": session.client_id,
                "username": session.username or "",
                "password": session.password or "",
            },
        )

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool:
        if session is None or topic is None:
            return False
        if action == Action.RECEIVE:
            return True  # EMQX authorises publish and subscribe, not each delivery
        verb = "publish" if action == Action.PUBLISH else "subscribe"
        body = {
            "clientid": session.client_id,
            "username": session.username or "",
            "topic": topic,
            "action": verb,
        }
        return await self._ask("/xiaozhi/mqtt/acl", body)

    async def on_broker_client_connected(self, *, client_id: str, client_session: Any) -> None:
        username = client_session.username or ""
        await self.context.add_subscription(client_id, f"devices/p2p/{username}", 0)  # auto_subscribe
        event = {"clientid": client_id, "username": username}
        await self.context.broadcast_message(
            f"$SYS/brokers/emqx@test/clients/{client_id}/connected", json.dumps(event).encode()
        )

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Any) -> None:
        event = {"clientid": client_id}
        await self.context.broadcast_message(
            f"$SYS/brokers/emqx@test/clients/{client_id}/disconnected", json.dumps(event).encode()
        )


async def start_emqx_like() -> tuple[Broker, int]:
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}},
            "plugins": {f"{__name__}.EmqxLike": {}},
        }
    )
    await broker.start()
    port = broker._servers["default"].instance.sockets[0].getsockname()[1]
    return broker, port
