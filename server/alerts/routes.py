"""Alert webhooks on the HTTP app (:8003).

Neither Tencent Cloud Monitor nor Alertmanager signs its callbacks, so a request is accepted when it carries the
configured BasicAuth credentials (Tencent: put them in the callback URL's userinfo) and/or the secret path token.
With neither configured every webhook is refused: no address is trusted (the service generates a path
token at first run, <data dir>/webhook.token, see server/auth/tokens.py). A reply of 200 goes out only after the notification is
committed to the database; when it cannot be (disk full, database down, shutting down) the answer is 503 and the
sender retries (Tencent waits 5 s and retries up to 3 times reusing the sessionId; Alertmanager retries 5xx, never 4xx).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from server.alerts.alertmanager import parse_alertmanager
from server.alerts.models import AlertValidationError
from server.alerts.service import AlertService, IntakeUnavailable
from server.alerts.tencent import is_probe, parse_tencent, session_id_of

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024


def setup_alert_routes(app: web.Application, settings: Any, service: AlertService) -> None:
    """Register POST /webhooks/tencent[/{path_token}] and /webhooks/alertmanager[/{path_token}] and tie the
    service's worker to the app's start-up/clean-up."""
    handlers = _Handlers(settings, service)
    for name, handler in (("tencent", handlers.tencent), ("alertmanager", handlers.alertmanager)):
        app.router.add_post(f"/webhooks/{name}", handler)
        app.router.add_post(f"/webhooks/{name}/{{path_token}}", handler)

    async def _start(_app: web.Application) -> None:
        await service.start()

    async def _stop(_app: web.Application) -> None:
        await service.stop()

    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)


class _Handlers:
    def __init__(self, settings: Any, service: AlertService) -> None:
        self.service = service
        self.tz = getattr(settings, "timezone", "Asia/Shanghai") or "Asia/Shanghai"
        self.user = settings.alert_basic_user or ""
        self.password = (
            settings.alert_basic_password.get_secret_value() if settings.alert_basic_password else ""
        )
        self.token = settings.alert_path_token or ""
        self.basic_required = bool(self.user or self.password)
        if not (self.token or self.basic_required):
            log.warning(
                "alert webhooks have no BasicAuth or path token configured: refusing every webhook "
                "(set XOPS_ALERT_BASIC_USER/PASSWORD and/or XOPS_ALERT_PATH_TOKEN)"
            )

    # -- auth ---------------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        token_ok = basic_ok = True
        if self.token:
            given = request.match_info.get("path_token", "")
            token_ok = hmac.compare_digest(given.encode(), self.token.encode())
        elif request.match_info.get("path_token"):
            token_ok = False  # a token in the path when none is configured: a misconfigured sender
        if self.basic_required:
            basic_ok = self._basic_ok(request.headers.get("Authorization", ""))
        if self.token or self.basic_required:
            return token_ok and basic_ok
        return False  # nothing configured: nobody is trusted for where they connect from

    def _basic_ok(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        # evaluate both comparisons every time: no early exit that leaks which half was wrong
        user_ok = hmac.compare_digest(user.encode(), self.user.encode())
        pass_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok & pass_ok

    def _unauthorised(self) -> web.Response:
        headers = {"WWW-Authenticate": 'Basic realm="xiaozhi-ops alerts"'} if self.basic_required else None
        return web.json_response({"error": "unauthorised"}, status=401, headers=headers)

    # -- handlers -----------------------------------------------------------------------------------

    async def tencent(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        body, error = await _read_json(request)
        if error is not None:
            return error
        if isinstance(body, dict) and is_probe(body):
            log.info("tencent callback connectivity check received")
            return web.json_response({"sessionId": session_id_of(body), "retCode": 0})
        try:
            alert = parse_tencent(body, tz=self.tz)
        except AlertValidationError as exc:
            return _bad_request(f"invalid Tencent alarm: {exc}")
        refused = await _commit(self.service, [alert], "tencent", alert.session_id)
        if refused is not None:
            return refused
        return web.json_response({"sessionId": alert.session_id, "retCode": 0})

    async def alertmanager(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        body, error = await _read_json(request)
        if error is not None:
            return error
        try:
            alerts = parse_alertmanager(body)
        except AlertValidationError as exc:
            return _bad_request(f"invalid Alertmanager webhook: {exc}")
        refused = await _commit(self.service, alerts, "alertmanager", None)
        if refused is not None:
            return refused
        return web.json_response({"status": "accepted", "alerts": len(alerts)})


async def _commit(
    service: AlertService, alerts: list[Any], source: str, session_id: str | None
) -> web.Response | None:
    """Answer only after the notification is committed; None means "stored" (or already stored)."""
    try:
        status = await service.accept(alerts, source=source, session_id=session_id)
    except IntakeUnavailable as exc:
        return web.json_response(
            {"error": f"alert not stored, retry later: {exc}"}, status=503, headers={"Retry-After": "30"}
        )
    if status == "busy":
        return web.json_response(
            {"error": "intake busy or shutting down, retry"}, status=503, headers={"Retry-After": "5"}
        )
    return None


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The whole request body (however many TCP segments it arrives in), or None when it exceeds ``limit``.

    ``StreamReader.read(n)`` returns what has arrived so far, not the body: read until EOF, chunk by chunk."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


async def _read_json(request: web.Request) -> tuple[Any, web.Response | None]:
    raw = await read_body(request, MAX_BODY_BYTES)
    if raw is None:
        return None, _too_large()
    if not raw.strip():
        return None, _bad_request("empty body: expected a JSON object")
    try:
        return json.loads(raw), None
    except UnicodeDecodeError:
        return None, _bad_request("body is not UTF-8 text")
    except json.JSONDecodeError as exc:
        return None, _bad_request(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _too_large() -> web.Response:
    return web.json_response({"error": f"body larger than {MAX_BODY_BYTES} bytes"}, status=413)
