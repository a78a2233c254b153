"""Local stand-ins for the WeCom, Feishu and DingTalk robot webhooks and a generic JSON receiver.

Each checks what the real service checks and answers the way it does: Feishu and DingTalk verify the request
signature and the timestamp (±1 h) and report a bad one with HTTP **200** and an error code in the body (Feishu
``code 19021``, DingTalk ``errcode 310000``); WeCom checks the key and the 2048-byte text limit. The signature is
recomputed here from the services' documentation, independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web


@dataclass
class Received:
    service: str
    text: str
    body: dict[str, Any]


@dataclass
class ChatBots:
    wecom_key: str = "wk-123"
    feishu_secret: str = "fs-secret"
    dingtalk_secret: str = "SEC-dt-secret"
    dingtalk_token: str = "dt-token"
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    # per service: "ok" | "http500" | "body_error"
    mode: dict[str, str] = field(default_factory=dict)

    def texts(self, service: str) -> list[str]:
        return [r.text for r in self.received if r.service == service]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/webhook/send", self._wecom)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self._feishu)
        app.router.add_post("/robot/send", self._dingtalk)
        app.router.add_post("/hook", self._generic)
        return app

    def _forced(self, service: str) -> web.Response | None:
        mode = self.mode.get(service, "ok")
        if mode == "http500":
            return web.Response(status=500, text="upstream broke")
        return None

    async def _wecom(self, request: web.Request) -> web.Response:
        if forced := self._forced("wecom"):
            return forced
        body = await request.json()
        if request.query.get("key") != self.wecom_key:
            self.refused.append(("wecom", "bad key"))
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        content = body.get("text", {}).get("content", "")
        if len(content.encode()) > 2048:
            return web.json_response({"errcode": 40058, "errmsg": "content exceed max length"})
        if self.mode.get("wecom") == "body_error":
            return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        self.received.append(Received("wecom", content, body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _feishu(self, request: web.Request) -> web.Response:
        if forced := self._forced("feishu"):
            return forced
        body = await request.json()
        ts = str(body.get("timestamp", ""))
        string_to_sign = ts + "\n" + self.feishu_secret
        want = base64.b64encode(hmac.digest(string_to_sign.encode("utf-8"), b"", "sha256")).decode()
        fresh = ts.isdigit() and abs(int(ts) - time.time()) < 3600
        if not fresh or body.get("sign") != want:
            self.refused.append(("feishu", "sign"))
            return web.json_response(
                {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
            )
        if self.mode.get("feishu") == "body_error":
            return web.json_response({"code": 9499, "msg": "Bad Request"})
        self.received.append(Received("feishu", body.get("content", {}).get("text", ""), body))
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def _dingtalk(self, request: web.Request) -> web.Response:
        if forced := self._forced("dingtalk"):
            return forced
        body = await request.json()
        q = request.query
        ts = q.get("timestamp", "")
        digest = hmac.new(
            self.dingtalk_secret.encode("utf-8"), f"{ts}\n{self.dingtalk_secret}".encode(), hashlib.sha256
        ).digest()
        sign_ok = (
            unquote_plus(request.rel_url.raw_query_string.split("sign=")[-1])
            == base64.b64encode(digest).decode()
        )
        fresh = ts.isdigit() and abs(int(ts) / 1000 - time.time()) < 3600
        if q.get("access_token") != self.dingtalk_token or not fresh or not sign_ok:
            self.refused.append(("dingtalk", "sign"))
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        if self.mode.get("dingtalk") == "body_error":
            return web.json_response({"errcode": 130101, "errmsg": "send too fast"})
        self.received.append(Received("dingtalk", body.get("text", {}).get("content", ""), body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _generic(self, request: web.Request) -> web.Response:
        if forced := self._forced("webhook"):
            return forced
        body = await request.json()
        self.received.append(Received("webhook", str(body.get("text", "")), body))
        return web.json_response({"ok": True})
