"""A local COS-compatible HTTP server that verifies the SDK's real request signature.

Speaks the COS XML API subset the log source uses: ListBucket (``GET /`` with prefix, marker, max-keys,
delimiter, encoding-type=url, IsTruncated/NextMarker), GetObject (Content-Length, ``Range`` → 206),
HeadObject, and the real error XML (Code/Message/Resource/RequestId). Every request must carry a valid
``q-sign-algorithm=sha1`` Authorization (cos_auth.py recipe: per-user keys, host without port, decoded
path, URL params including empty ones, time window). Buckets are addressed by the ``Host`` header the
SDK sends when configured with ``IP``/``Port`` (``<bucket>.cos.<region>.myqcloud.com``).

Fault injection: ``fail(key, status, times)`` answers the next N requests for a key with an error,
``truncate(key, after, times)`` sends the headers of the full body but closes after ``after`` bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

SIGNED_HEADER_NAMES = frozenset(
    [
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-type",
        "content-md5",
        "content-length",
        "expect",
        "expires",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-unmodified-since",
        "origin",
        "range",
        "transfer-encoding",
        "pic-operations",
    ]
)


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def cos_signature(
    secret_key: str, method: str, path: str, params: dict[str, str], headers: dict[str, str], sign_time: str
) -> str:
    """The q-signature of cos_auth.py: ``params``/``headers`` are the raw (decoded) signed items."""
    enc_params = sorted((_enc(k).lower(), _enc(v)) for k, v in params.items())
    enc_headers = sorted((_enc(k).lower(), _enc(v)) for k, v in headers.items())
    http_string = "\n".join(
        [
            method.lower(),
            path,
            "&".join(f"{k}={v}" for k, v in enc_params),
            "&".join(f"{k}={v}" for k, v in enc_headers),
            "",
        ]
    )
    string_to_sign = f"sha1\n{sign_time}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n"
    sign_key = hmac.new(secret_key.encode(), sign_time.encode(), hashlib.sha1).hexdigest()
    return hmac.new(sign_key.encode(), string_to_sign.encode(), hashlib.sha1).hexdigest()


@dataclass
class FakeObject:
    data: bytes | Path
    last_modified: float = field(default_factory=time.time)

    def read(self) -> bytes:
        return self.data.read_bytes() if isinstance(self.data, Path) else self.data

    @property
    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)

    @property
    def etag(self) -> str:
        return hashlib.md5(self.read()).hexdigest()


@dataclass
class Fault:
    bucket: str | None
    key: str
    times: int
    status: int = 0  # error status to answer with
    code: str = ""
    truncate_after: int | None = None  # send only this many body bytes, then drop the connection


@dataclass
class RequestRecord:
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    range: str
    status: int
    secret_id: str


class CosError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeCosServer:
    """``with FakeCosServer() as cos: cos.add_user(...); cos.add_bucket(...); cos.put(...)``."""

    def __init__(self, region: str = "ap-guangzhou", host: str = "127.0.0.1") -> None:
        self.region = region
        self.users: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.buckets: dict[str, dict[str, FakeObject]] = {}
        self.acl: dict[str, set[str]] = {}
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.omit_next_marker = False  # to exercise the client's last-key fallback
        self.max_keys_cap = 1000
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ setup

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def ip(self) -> str:
        return self._httpd.server_address[0]

    def add_user(self, secret_id: str, secret_key: str, token: str | None = None) -> None:
        self.users[secret_id] = secret_key
        if token:
            self.tokens[secret_id] = token

    def add_bucket(self, bucket: str, owners: Iterable[str]) -> None:
        self.buckets.setdefault(bucket, {})
        self.acl[bucket] = set(owners)

    def put(self, bucket: str, key: str, data: bytes | Path, last_modified: float | None = None) -> None:
        self.buckets[bucket][key] = FakeObject(data, time.time() if last_modified is None else last_modified)

    def put_dir(self, bucket: str, directory: Path, prefix: str = "") -> int:
        """Serve every file under ``directory`` as ``prefix + relative path``; returns the count."""
        n = 0
        for path in sorted(Path(directory).rglob("*")):
            if path.is_file():
                key = prefix + path.relative_to(directory).as_posix()
                self.put(bucket, key, path, path.stat().st_mtime)
                n += 1
        return n

    def fail(
        self, key: str, status: int = 503, times: int = 1, code: str = "", bucket: str | None = None
    ) -> None:
        """The next ``times`` requests for ``key`` ("" = bucket-level requests) answer ``status``."""
        code = code or {500: "InternalError", 503: "ServiceUnavailable", 403: "AccessDenied"}.get(
            status, "Error"
        )
        self.faults.append(Fault(bucket, key, times, status=status, code=code))

    def truncate(self, key: str, after: int, times: int = 1, bucket: str | None = None) -> None:
        self.faults.append(Fault(bucket, key, times, truncate_after=after))

    def requests_for(self, key: str, method: str = "GET") -> list[RequestRecord]:
        return [r for r in self.requests if r.key == key and r.method == method]

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeCosServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-cos", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeCosServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ request logic (called by the handler)

    def take_fault(self, bucket: str, key: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.key == key and fault.bucket in (None, bucket) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def bucket_of(self, host: str) -> str:
        name = host.split(":", 1)[0]
        marker = ".cos."
        return name.split(marker, 1)[0] if marker in name else ""

    def authenticate(
        self, method: str, raw_path: str, query: list[tuple[str, str]], headers: dict[str, str]
    ) -> str:
        """Verify the Authorization header; returns the caller's SecretId or raises CosError."""
        auth = headers.get("authorization", "")
        if not auth:
            raise CosError(403, "AccessDenied", "Access Denied. Missing Authorization header.")
        parts = dict(item.split("=", 1) for item in auth.split("&") if "=" in item)
        needed = (
            "q-sign-algorithm",
            "q-ak",
            "q-sign-time",
            "q-key-time",
            "q-header-list",
            "q-url-param-list",
        )
        if any(k not in parts for k in (*needed, "q-signature")) or parts["q-sign-algorithm"] != "sha1":
            raise CosError(403, "AccessDenied", "Authorization header is invalid.")
        secret_id = parts["q-ak"]
        secret_key = self.users.get(secret_id)
        if secret_key is None:
            raise CosError(403, "InvalidAccessKeyId", "The access key Id format you provided is invalid.")
        try:
            t0, t1 = (int(x) for x in parts["q-sign-time"].split(";"))
        except ValueError:
            raise CosError(403, "AccessDenied", "q-sign-time is invalid.") from None
        now = time.time()
        if not t0 <= now <= t1:
            raise CosError(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
            )
        signed_headers = {}
        for name in filter(None, parts["q-header-list"].split(";")):
            value = headers.get(unquote(name), "")
            if name == "host":
                value = value.split(":", 1)[0]  # the SDK signs urlparse(url).hostname: no port
            signed_headers[name] = value
        received = {_enc(k).lower(): v for k, v in query}
        signed_params = {}
        for name in filter(None, parts["q-url-param-list"].split(";")):
            if name not in received:
                raise CosError(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.")
            signed_params[name] = received[name]
        expected = cos_signature(
            secret_key, method, unquote(raw_path), signed_params, signed_headers, parts["q-sign-time"]
        )
        if parts["q-key-time"] != parts["q-sign-time"] or not hmac.compare_digest(
            expected, parts["q-signature"]
        ):
            raise CosError(403, "SignatureDoesNotMatch", "The Signature you specified is invalid.")
        token = self.tokens.get(secret_id)
        if token is not None:
            sent = headers.get("x-cos-security-token")
            if sent != token or "x-cos-security-token" not in signed_headers:
                raise CosError(403, "InvalidAccessKeyId", "The security token is invalid.")
        return secret_id

    def list_xml(self, bucket: str, query: dict[str, str]) -> str:
        objects = self.buckets[bucket]
        prefix = query.get("prefix", "")
        marker = query.get("marker", "")
        delimiter = query.get("delimiter", "")
        try:
            max_keys = int(query.get("max-keys") or 1000)
        except ValueError:
            raise CosError(400, "InvalidArgument", "max-keys is invalid.") from None
        max_keys = max(0, min(max_keys, self.max_keys_cap))
        url = query.get("encoding-type") == "url"

        def enc(text: str) -> str:
            return escape(quote(text, safe="") if url else text)

        contents: list[tuple[str, FakeObject]] = []
        prefixes: list[str] = []
        truncated = False
        last = ""
        for key in sorted(objects):
            if not key.startswith(prefix) or key <= marker:
                continue
            entry = key
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    entry = key[: cut + len(delimiter)]
                    if entry in prefixes or entry <= marker:
                        continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = True
                break
            if entry != key:
                prefixes.append(entry)
            else:
                contents.append((key, objects[key]))
            last = entry
        out = [
            "<?xml version='1.0' encoding='utf-8' ?>",
            "<ListBucketResult>",
            f"<Name>{escape(bucket)}</Name>",
            "<EncodingType>url</EncodingType>" if url else "",
            f"<Prefix>{enc(prefix)}</Prefix><Marker>{enc(marker)}</Marker>",
            f"<MaxKeys>{max_keys}</MaxKeys><Delimiter>{enc(delimiter)}</Delimiter>",
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        if truncated and not self.omit_next_marker:
            out.append(f"<NextMarker>{enc(last)}</NextMarker>")
        for p in prefixes:
            out.append(f"<CommonPrefixes><Prefix>{enc(p)}</Prefix></CommonPrefixes>")
        for key, obj in contents:
            modified = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(obj.last_modified))
            out.append(
                f"<Contents><Key>{enc(key)}</Key><LastModified>{modified}</LastModified>"
                f"<ETag>&quot;{obj.etag}&quot;</ETag><Size>{obj.size}</Size>"
                "<Owner><ID>1250000000</ID><DisplayName>1250000000</DisplayName></Owner>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        out.append("</ListBucketResult>")
        return "".join(out)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single ``bytes=`` range, or None if unsatisfiable/invalid."""
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(0, size - n), size - 1) if n > 0 and size else None
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _make_handler(server: FakeCosServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tencent-cos"

        def setup(self) -> None:
            super().setup()
            # headers and body go out as separate writes; without this, delayed ACKs add ~40 ms per request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output quiet
            return

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            split = urlsplit(self.path)
            query_pairs = parse_qsl(split.query, keep_blank_values=True)
            query = dict(query_pairs)
            headers = {k.lower(): v for k, v in self.headers.items()}
            host = headers.get("host", "")
            bucket = server.bucket_of(host)
            key = unquote(split.path)[1:]
            record = RequestRecord(method, bucket, key, query, headers.get("range", ""), 0, "")
            server.requests.append(record)
            request_id = uuid.uuid4().hex
            try:
                if bucket not in server.buckets:
                    raise CosError(404, "NoSuchBucket", "The specified bucket does not exist.")
                record.secret_id = server.authenticate(method, split.path, query_pairs, headers)
                if record.secret_id not in server.acl.get(bucket, set()):
                    raise CosError(403, "AccessDenied", "Access Denied.")
                fault = server.take_fault(bucket, key)
                if fault is not None and fault.status:
                    raise CosError(fault.status, fault.code, "Injected fault.")
                if method == "GET" and key == "":
                    body = server.list_xml(bucket, query).encode()
                    self._send(200, body, "application/xml", request_id, record)
                    return
                if method not in ("GET", "HEAD"):
                    raise CosError(405, "MethodNotAllowed", "The specified method is not allowed.")
                obj = server.buckets[bucket].get(key)
                if obj is None:
                    raise CosError(404, "NoSuchKey", "The specified key does not exist.")
                self._object(method, obj, headers.get("range", ""), fault, request_id, record)
            except CosError as err:
                resource = f"{host.split(':', 1)[0]}/{quote(key)}"
                body = (
                    "<?xml version='1.0' encoding='utf-8' ?>\n<Error>\n"
                    f"  <Code>{escape(err.code)}</Code>\n  <Message>{escape(err.message)}</Message>\n"
                    f"  <Resource>{escape(resource)}</Resource>\n  <RequestId>{request_id}</RequestId>\n"
                    f"  <TraceId>{uuid.uuid4().hex}</TraceId>\n</Error>"
                ).encode()
                self._send(err.status, body, "application/xml", request_id, record)

        def _object(
            self,
            method: str,
            obj: FakeObject,
            range_header: str,
            fault: Fault | None,
            rid: str,
            record: RequestRecord,
        ) -> None:
            data = obj.read()
            status, extra = 200, {}
            if range_header:
                span = _parse_range(range_header, len(data))
                if span is None:
                    raise CosError(416, "InvalidRange", "The requested range is not satisfiable.")
                start, end = span
                data = data[start : end + 1]
                status = 206
                extra["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
            extra["ETag"] = f'"{hashlib.md5(obj.read()).hexdigest()}"'
            extra["Last-Modified"] = formatdate(obj.last_modified, usegmt=True)
            extra["Accept-Ranges"] = "bytes"
            if method == "HEAD":
                self._send(status, b"", "application/octet-stream", rid, record, extra, length=len(data))
                return
            if fault is not None and fault.truncate_after is not None:
                self._send(
                    status,
                    data[: fault.truncate_after],
                    "application/octet-stream",
                    rid,
                    record,
                    extra,
                    length=len(data),
                )
                self.close_connection = True  # the client sees a body shorter than Content-Length
                return
            self._send(status, data, "application/octet-stream", rid, record, extra)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            rid: str,
            record: RequestRecord,
            extra: dict[str, str] | None = None,
            length: int | None = None,
        ) -> None:
            record.status = status
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.send_header("x-cos-request-id", rid)
            self.send_header("x-cos-bucket-region", server.region)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)
            self.wfile.flush()

    return Handler
