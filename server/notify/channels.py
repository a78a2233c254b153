"""One sender per channel kind. Each returns a typed ``SendOutcome`` and never raises for a failed send.

A channel that answers HTTP 200 with an error in its body (Feishu ``code``, DingTalk and WeCom ``errcode``) has
failed. Network errors, timeouts, HTTP 5xx and 429 are retryable; anything else is final for that channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from abc import ABC, abstractmethod
from typing import Protocol
from urllib.parse import quote_plus

import aiohttp

from server.notify.models import ChannelKind, ChannelSpec, Notification, SendOutcome, SendStatus
from server.notify.signing import dingtalk_sign, feishu_sign

log = logging.getLogger(__name__)

WECOM_MAX_BYTES = 2048  # WeCom text content limit
TIMEOUT_S = 10.0


class Channel(Protocol):
    spec: ChannelSpec

    async def send(self, note: Notification) -> SendOutcome: ...


def _outcome(spec: ChannelSpec, ok: bool, detail: str, *, retryable: bool = False) -> SendOutcome:
    return SendOutcome(
        channel=spec.name,
        kind=spec.kind,
        status=SendStatus.SENT if ok else SendStatus.FAILED,
        detail=detail[:300],
        retryable=retryable,
    )


def _clip_utf8(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[: limit - 3].decode(errors="ignore") + "…"


class _HttpChannel(ABC):
    """POSTs JSON and judges the answer; subclasses build the request and read the body's error field."""

    def __init__(self, spec: ChannelSpec, session: aiohttp.ClientSession) -> None:
        self.spec = spec
        self._session = session

    @abstractmethod
    def request(self, note: Notification) -> tuple[str, dict[str, object]]:
        """The URL and JSON body for this notification."""

    def body_error(self, body: object) -> str | None:
        """The service's own error in a 200 answer, or None when it accepted the message."""
        return None

    async def send(self, note: Notification) -> SendOutcome:
        url, payload = self.request(note)
        try:
            async with self._session.post(
                url, json=payload, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)
            ) as resp:
                raw = await resp.content.read(64 * 1024)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return _outcome(self.spec, False, f"unreachable: {type(exc).__name__}", retryable=True)
        if status >= 500 or status == 429:
            return _outcome(self.spec, False, f"HTTP {status}", retryable=True)
        if status >= 300:
            return _outcome(self.spec, False, f"HTTP {status}")
        try:
            body: object = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = raw.decode(errors="replace")
        error = self.body_error(body)
        if error is not None:
            return _outcome(self.spec, False, error)
        return _outcome(self.spec, True, f"HTTP {status}")


def _errcode(body: object, field: str = "errcode") -> str | None:
    if not isinstance(body, dict):
        return "answer is not JSON"
    code = body.get(field)
    if code in (0, "0"):
        return None
    msg = body.get("errmsg") or body.get("msg") or ""
    return f"{field} {code}: {msg}"


class WeComChannel(_HttpChannel):
    def request(self, note: Notification) -> tuple[str, dict[str, object]]:
        content = _clip_utf8(note.text(), WECOM_MAX_BYTES)
        return self.spec.url, {"msgtype": "text", "text": {"content": content}}

    def body_error(self, body: object) -> str | None:
        return _errcode(body)


class FeishuChannel(_HttpChannel):
    def request(self, note: Notification) -> tuple[str, dict[str, object]]:
        ts = int(time.time())
        return self.spec.url, {
            "timestamp": str(ts),
            "sign": feishu_sign(self.spec.secret, ts),
            "msg_type": "text",
            "content": {"text": note.text()},
        }

    def body_error(self, body: object) -> str | None:
        if isinstance(body, dict) and body.get("StatusCode") in (0, "0") and "code" not in body:
            return None  # the older answer shape
        return _errcode(body, "code")


class DingTalkChannel(_HttpChannel):
    def request(self, note: Notification) -> tuple[str, dict[str, object]]:
        ts = int(time.time() * 1000)
        sep = "&" if "?" in self.spec.url else "?"
        url = f"{self.spec.url}{sep}timestamp={ts}&sign={quote_plus(dingtalk_sign(self.spec.secret, ts))}"
        return url, {"msgtype": "text", "text": {"content": note.text()}}

    def body_error(self, body: object) -> str | None:
        return _errcode(body)


class WebhookChannel(_HttpChannel):
    def request(self, note: Notification) -> tuple[str, dict[str, object]]:
        return self.spec.url, {
            "case_id": note.case_id,
            "owner": note.owner,
            "severity": note.severity,
            "title": note.title,
            "cause": note.cause,
            "fix": note.fix,
            "rung": note.rung,
            "text": note.text(),
        }


class TencentSmsChannel:
    """Tencent Cloud SMS ``SendSms`` (2021-01-11) through the official SDK; the SDK signs with TC3-HMAC-SHA256.

    ``spec.url`` may point the SDK at another endpoint (``http://127.0.0.1:PORT`` for the local stand-in)."""

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec

    async def send(self, note: Notification) -> SendOutcome:
        return await asyncio.to_thread(self._send, note)

    def _send(self, note: Notification) -> SendOutcome:
        from tencentcloud.common import credential
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import models, sms_client

        scheme, _, rest = self.spec.url.partition("://")
        hp = HttpProfile(protocol=scheme or "https", reqTimeout=int(TIMEOUT_S))
        if rest:
            hp.endpoint = rest.rstrip("/")
        client = sms_client.SmsClient(
            credential.Credential(self.spec.secret_id, self.spec.secret),
            self.spec.region,
            ClientProfile(httpProfile=hp),
        )
        req = models.SendSmsRequest()
        req.PhoneNumberSet = list(self.spec.phone_numbers)
        req.SmsSdkAppId = self.spec.sdk_app_id
        req.SignName = self.spec.sign_name
        req.TemplateId = self.spec.template_id
        # SMS templates take short variables: the case number and a clipped title.
        req.TemplateParamSet = [str(note.case_id), note.title[:20]]
        try:
            resp = client.SendSms(req)
        except TencentCloudSDKException as exc:
            code = str(exc.code or "")
            retryable = code.startswith(("InternalError", "RequestLimitExceeded")) or code in (
                "",
                "ClientNetworkError",
            )
            return _outcome(self.spec, False, f"{code}: {exc.message}", retryable=retryable)
        bad = [s for s in (resp.SendStatusSet or []) if s.Code != "Ok"]
        if not resp.SendStatusSet or bad:
            detail = "; ".join(f"{s.Code}: {s.Message}" for s in bad) or "no send status"
            return _outcome(self.spec, False, detail)
        return _outcome(self.spec, True, f"{len(resp.SendStatusSet)} sent")


def build_channel(spec: ChannelSpec, session: aiohttp.ClientSession) -> Channel:
    spec.check_complete()
    if spec.kind is ChannelKind.WECOM:
        return WeComChannel(spec, session)
    if spec.kind is ChannelKind.FEISHU:
        return FeishuChannel(spec, session)
    if spec.kind is ChannelKind.DINGTALK:
        return DingTalkChannel(spec, session)
    if spec.kind is ChannelKind.WEBHOOK:
        return WebhookChannel(spec, session)
    return TencentSmsChannel(spec)
