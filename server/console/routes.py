"""Console pages and login: GET /console/ (the app shell), /console/login, POST /console/login|logout, static.

Login exchanges the admin (or operator) token for a session cookie; the session plugs into the HTTP guard
(``HttpPolicy.sessions``), so the pages call the same /api routes, under the same roles, as REST clients.
Failed logins are throttled per source address (server.auth.throttle). Every console answer carries a strict
Content-Security-Policy: scripts only from this origin, so text that slips into markup still cannot run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from server.console.api import setup_console_api
from server.console.services import ConsoleServices
from server.console.sessions import ConsoleSessions
from server.http.guard import Handler, HttpPolicy

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
PAGES = HERE / "templates"
MAX_TOKEN_CHARS = 512

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(name: str) -> web.Response:
    body = (PAGES / name).read_text(encoding="utf-8")
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


def setup_console(
    app: web.Application,
    services: ConsoleServices,
    policy: HttpPolicy,
    sessions: ConsoleSessions,
) -> ConsoleSessions:
    """Mount the console on an app built by ``build_http_app`` (its guard uses ``policy``); ``sessions`` are in
    the service database (``ConsoleSessions.from_settings(db, settings)``)."""
    policy.sessions = sessions
    throttle = policy.throttle

    async def index(request: web.Request) -> web.StreamResponse:
        if sessions.session_of(request) is None:
            raise web.HTTPFound("/console/login")
        return _page("index.html")

    async def to_index(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    async def login_page(_request: web.Request) -> web.Response:
        return _page("login.html")

    async def login(request: web.Request) -> web.Response:
        source = request.remote or "?"
        wait = throttle.retry_after(source)
        if wait > 0:
            return web.json_response(
                {"error": "too many failed logins; try again later"},
                status=429,
                headers={"Retry-After": str(int(wait) + 1)},
            )
        token = ""
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("token"), str):
                token = body["token"]
        else:
            form = await request.post()
            value = form.get("token")
            token = value if isinstance(value, str) else ""
        principal = policy.tokens.principal_for(token.strip()[:MAX_TOKEN_CHARS])
        if principal is None:
            throttle.failed(source, "the console login")
            return web.json_response({"error": "wrong token"}, status=401)
        throttle.succeeded(source)
        sid, session = sessions.create(principal)
        log.info("console login: %s from %s", session.principal.actor, source)
        response = web.json_response({"ok": True, "role": principal.role.value, "csrf": session.csrf})
        sessions.set_cookie(response, sid, over_tls=request.secure)
        return response

    async def logout(request: web.Request) -> web.Response:
        session = sessions.session_of(request)
        if session is None:
            return web.json_response({"error": "not logged in"}, status=401)
        if not sessions.csrf_ok(request):
            return web.json_response({"error": "missing or wrong CSRF token"}, status=403)
        sessions.logout(request)
        response = web.json_response({"ok": True})
        sessions.clear_cookie(response)
        return response

    @web.middleware
    async def console_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.startswith("/console/") or request.path.startswith("/api/console/"):
            for k, v in SECURITY_HEADERS.items():
                if k == "Cache-Control" and request.path.startswith("/console/static/"):
                    continue
                response.headers.setdefault(k, v)
        return response

    app.middlewares.append(console_headers)
    r = app.router
    r.add_get("/console", to_index)
    r.add_get("/console/", index)
    r.add_get("/console/login", login_page)
    r.add_post("/console/login", login)
    r.add_post("/console/logout", logout)
    r.add_static("/console/static/", STATIC, follow_symlinks=False, append_version=False)
    setup_console_api(app, services, sessions)
    return sessions
