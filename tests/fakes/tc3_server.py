"""A local Tencent Cloud API 3.0 endpoint that verifies TC3-HMAC-SHA256 and serves CLS ``SearchLog``.

Signature check follows the SDK exactly (abstract_client._get_tc3_signature / Sign.sign_tc3): canonical
request over the received method, path, query, signed headers (``host`` *with* port, as the SDK sends
it) and the body hash; scope ``<date>/<service>/tc3_request``; key chain ``"TC3"+SecretKey → date →
service → "tc3_request"``. Replies use ``Content-Type: application/json`` exactly: the SDK only reads
errors from bodies with that exact type.

SearchLog implements TopicId, From/To (ms, [From, To)), QueryString (``*``/empty, ``key:value`` and bare
terms, all must match), Sort, Limit (≤ 1000) and opaque ``Context`` paging with ``ListOver``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

API_VERSION = "2020-10-16"
API_VERSIONS = {"cls": "2020-10-16", "sms": "2021-01-11"}


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    def h(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    k = h(h(h(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class FakeLog:
    time_ms: int
    fields: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    source: str = "10.0.0.5"
    filename: str = "/var/log/app.log"
    hostname: str = "node-1"

    def matches(self, query: str) -> bool:
        text = json.dumps(self.fields, ensure_ascii=False) + self.raw
        for term in query.split():
            if term in ("*", "AND", "and"):
                continue
            key, sep, value = term.partition(":")
            if sep and key in self.fields:
                if str(self.fields[key]).strip('"') != value.strip('"'):
                    return False
            elif term.strip('"') not in text:
                return False
        return True


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeTc3Server:
    def __init__(self, service: str = "cls", host: str = "127.0.0.1") -> None:
        self.service = service
        self.users: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.topics: dict[str, list[FakeLog]] = {}
        self.requests: list[dict[str, Any]] = []
        self.max_skew = 300
        self.api_version = API_VERSIONS.get(service, API_VERSION)
        self.actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "SearchLog": self.search_log,
            "SendSms": self.send_sms,
        }
        self.sms_sent: list[dict[str, Any]] = []
        self._httpd = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"{self._httpd.server_address[0]}:{self.port}"

    def add_user(self, secret_id: str, secret_key: str, token: str | None = None) -> None:
        self.users[secret_id] = secret_key
        if token:
            self.tokens[secret_id] = token

    def add_topic(self, topic_id: str, logs: list[FakeLog]) -> None:
        self.topics[topic_id] = sorted(logs, key=lambda entry: entry.time_ms)

    def start(self) -> FakeTc3Server:
        threading.Thread(target=self._httpd.serve_forever, name="fake-tc3", daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeTc3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ verification

    def verify(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> str:
        auth = headers.get("authorization", "")
        algo, _, rest = auth.partition(" ")
        parts = dict(p.strip().split("=", 1) for p in rest.split(",") if "=" in p)
        if algo != "TC3-HMAC-SHA256" or not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
            raise ApiError("AuthFailure.InvalidAuthorization", "Authorization header is malformed.")
        try:
            secret_id, date, service, terminator = parts["Credential"].split("/")
        except ValueError:
            raise ApiError("AuthFailure.InvalidAuthorization", "Credential is malformed.") from None
        if terminator != "tc3_request" or service != self.service:
            raise ApiError(
                "AuthFailure.InvalidAuthorization",
                f"Credential scope must be <date>/{self.service}/tc3_request.",
            )
        secret_key = self.users.get(secret_id)
        if secret_key is None:
            raise ApiError("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        try:
            ts = int(headers.get("x-tc-timestamp", ""))
        except ValueError:
            raise ApiError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing.") from None
        if abs(time.time() - ts) > self.max_skew:
            raise ApiError("AuthFailure.SignatureExpire", "Signature expired.")
        signed = parts["SignedHeaders"].split(";")
        if "host" not in signed or "content-type" not in signed:
            raise ApiError(
                "AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host."
            )
        canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed)
        payload = b"UNSIGNED-PAYLOAD" if headers.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD" else body
        if method == "GET":
            payload = b""
        canonical = "\n".join(
            [
                method,
                path,
                query,
                canonical_headers,
                parts["SignedHeaders"],
                hashlib.sha256(payload).hexdigest(),
            ]
        )
        scope = f"{date}/{service}/tc3_request"
        string_to_sign = f"TC3-HMAC-SHA256\n{ts}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = tc3_signature(secret_key, date, service, string_to_sign)
        date_ok = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") == date
        if not date_ok or not hmac.compare_digest(expected, parts["Signature"]):
            raise ApiError("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        token = self.tokens.get(secret_id)
        if token is not None and headers.get("x-tc-token") != token:
            raise ApiError("AuthFailure.TokenFailure", "Token verification failed.")
        return secret_id

    # ------------------------------------------------------------ actions

    def search_log(self, params: dict[str, Any]) -> dict[str, Any]:
        topic_id = params.get("TopicId")
        if not topic_id:
            raise ApiError("MissingParameter", "TopicId is required.")
        logs = self.topics.get(topic_id)
        if logs is None:
            raise ApiError("ResourceNotFound.TopicNotExist", "topic not exist")
        try:
            start, end = int(params["From"]), int(params["To"])
        except (KeyError, TypeError, ValueError):
            raise ApiError("MissingParameter", "From and To are required.") from None
        limit = int(params.get("Limit") or 100)
        if not 1 <= limit <= 1000:
            raise ApiError("InvalidParameterValue", "Limit must be within [1, 1000].")
        query = str(params.get("QueryString") or params.get("Query") or "*")
        sort = str(params.get("Sort") or "desc")
        hits = [entry for entry in logs if start <= entry.time_ms < end and entry.matches(query)]
        if sort == "desc":
            hits.reverse()
        offset = 0
        if params.get("Context"):
            try:
                state = json.loads(base64.b64decode(params["Context"]))
                offset = int(state["offset"])
                if state["topic"] != topic_id:
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                raise ApiError("InvalidParameterValue", "Context is invalid.") from None
        page = hits[offset : offset + limit]
        nxt = offset + len(page)
        over = nxt >= len(hits)
        context = (
            "" if over else base64.b64encode(json.dumps({"topic": topic_id, "offset": nxt}).encode()).decode()
        )
        results = [
            {
                "Time": entry.time_ms,
                "TopicId": topic_id,
                "TopicName": topic_id,
                "Source": entry.source,
                "FileName": entry.filename,
                "PkgId": f"{entry.time_ms:X}",
                "PkgLogId": str(i),
                "HighLights": [],
                "LogJson": json.dumps(entry.fields, ensure_ascii=False) if entry.fields else "",
                "HostName": entry.hostname,
                "RawLog": entry.raw,
                "IndexStatus": "",
            }
            for i, entry in enumerate(page, offset)
        ]
        return {
            "Context": context,
            "ListOver": over,
            "Analysis": False,
            "ColNames": [],
            "Results": results,
            "AnalysisResults": [],
            "AnalysisRecords": [],
            "Columns": [],
            "SamplingRate": 1,
        }

    def send_sms(self, params: dict[str, Any]) -> dict[str, Any]:
        """SMS ``SendSms`` (2021-01-11): required fields checked, one ``Ok`` status per number."""
        for name in ("PhoneNumberSet", "SmsSdkAppId", "SignName", "TemplateId"):
            if not params.get(name):
                raise ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
        phones = params["PhoneNumberSet"]
        self.sms_sent.append(params)
        return {
            "SendStatusSet": [
                {
                    "SerialNo": uuid.uuid4().hex,
                    "PhoneNumber": p,
                    "Fee": 1,
                    "Code": "Ok",
                    "Message": "send success",
                }
                for p in phones
            ]
        }


def _make_handler(server: FakeTc3Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out as separate writes; without this, delayed ACKs add ~40 ms per request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            self._handle("POST")

        def do_GET(self) -> None:
            self._handle("GET")

        def _handle(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            split = urlsplit(self.path)
            request_id = str(uuid.uuid4())
            action = headers.get("x-tc-action", "")
            entry = {"action": action, "secret_id": "", "params": {}}
            server.requests.append(entry)
            try:
                entry["secret_id"] = server.verify(method, split.path or "/", split.query, headers, body)
                if headers.get("x-tc-version") != server.api_version:
                    raise ApiError(
                        "NoSuchVersion", f"The API version {headers.get('x-tc-version')} does not exist."
                    )
                try:
                    params = json.loads(body or b"{}")
                except ValueError:
                    raise ApiError("InvalidParameter", "Body is not JSON.") from None
                entry["params"] = params
                if action not in server.actions:
                    raise ApiError("InvalidAction", f"The action {action} does not exist.")
                response = server.actions[action](params)
            except ApiError as err:
                response = {"Error": {"Code": err.code, "Message": err.message}}
            response["RequestId"] = request_id
            data = json.dumps({"Response": response}, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
