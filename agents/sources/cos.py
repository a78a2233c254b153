"""Tencent COS source (cos-python-sdk-v5), one client per owner with the owner's own keys.

* Listing: ``list_objects`` pages while ``IsTruncated == "true"`` with ``NextMarker`` (else the last key).
* Reading: the GET body is streamed (``StreamBody`` raw stream) through ``text_lines``, which gunzips
  incrementally; memory stays bounded. A connection dropped mid-body is resumed with a ``Range`` GET
  from the last byte received.
* Retries: 5xx and connection errors only, with exponential backoff (``RetryPolicy``); the SDK's own
  retry (fixed 1 s, 2 s … sleeps) is disabled. 4xx raise ``SourceError`` at once with the COS code.
* Secrets: never in messages; the SDK's own INFO/DEBUG logging (which prints request headers, the
  security token and the derived signing key) is capped at WARNING.

For tests point it at a local server with ``CosCredentials(ip="127.0.0.1", port=..., scheme="http")``:
the SDK then connects to IP:port but still sends (and signs) ``Host: <bucket>.cos.<region>.myqcloud.com``.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosClientError, CosServiceError

from agents.records import LogKind
from agents.sources.base import (
    LogSource,
    ObjectRef,
    RetryPolicy,
    SourceConfig,
    SourceError,
    as_date,
    resolve_day,
    text_lines,
    utc_epoch,
)

log = logging.getLogger(__name__)
# The SDK logs request headers (incl. x-cos-security-token) at INFO/DEBUG and the signing key at DEBUG.
logging.getLogger("qcloud_cos").setLevel(logging.WARNING)

T = TypeVar("T")
PAGE_SIZE = 1000  # COS maximum for max-keys


@dataclass(frozen=True)
class CosCredentials:
    """One owner's bucket and keys. ``secret_key``/``token`` are excluded from repr."""

    secret_id: str
    secret_key: str = field(repr=False)
    region: str
    bucket: str  # "<name>-<appid>"
    token: str | None = field(default=None, repr=False)
    scheme: str = "https"
    endpoint: str | None = None  # e.g. "cos.ap-guangzhou.myqcloud.com"
    ip: str | None = None  # connect here instead of resolving the bucket domain (tests, private links)
    port: int | None = None

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.secret_key, self.token or "") if s)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, CosServiceError):
        status: int = exc.get_status_code()
        return status >= 500
    return isinstance(exc, CosClientError)  # connection refused/reset, timeouts


class CosSource(LogSource):
    def __init__(
        self,
        creds: CosCredentials,
        config: SourceConfig | None = None,
        retry: RetryPolicy | None = None,
        timeout: int = 30,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.creds = creds
        self.config = config or SourceConfig()
        self.retry = retry or RetryPolicy()
        self.page_size = max(1, min(PAGE_SIZE, page_size))
        kwargs: dict[str, Any] = {
            "Region": creds.region,
            "SecretId": creds.secret_id,
            "SecretKey": creds.secret_key,
            "Token": creds.token,
            "Scheme": creds.scheme,
            "Timeout": timeout,
        }
        if creds.endpoint:
            kwargs["Endpoint"] = creds.endpoint
        if creds.ip:
            kwargs["IP"] = creds.ip
            if creds.port:
                kwargs["Port"] = creds.port
        try:
            self.client = CosS3Client(CosConfig(**kwargs), retry=0)
        except CosClientError as exc:
            raise SourceError(
                f"invalid COS configuration for bucket {creds.bucket}: {self._clean(str(exc))}",
                code="InvalidConfig",
            ) from None

    # ------------------------------------------------------------ LogSource

    def list_objects(self, kind: LogKind | str, day: date | str) -> list[ObjectRef]:
        kind = LogKind(kind)
        template = self.config.template(kind)
        return resolve_day(
            lambda prefix: self.iter_prefix(prefix, kind), template, as_date(day), self.config.tz, self.config
        )

    def open_lines(self, ref: ObjectRef) -> Iterator[str]:
        body = _ResumableBody(self, ref.key)
        body.open()  # errors such as NoSuchKey surface here, not on first iteration
        return text_lines(io.BufferedReader(body, 256 * 1024), ref.key)

    # ------------------------------------------------------------ COS calls

    def iter_prefix(self, prefix: str, kind: LogKind = LogKind.BUSINESS) -> Iterator[ObjectRef]:
        """Every object whose key starts with ``prefix``, following ListBucket pagination."""
        marker = ""
        while True:
            page = self._call(
                "ListBucket",
                prefix,
                functools.partial(
                    self.client.list_objects,
                    Bucket=self.creds.bucket,
                    Prefix=prefix,
                    Marker=marker,
                    MaxKeys=self.page_size,
                ),
            )
            contents = page.get("Contents") or []
            for item in contents:
                yield ObjectRef(
                    key=item["Key"],
                    kind=kind,
                    size=int(item.get("Size") or 0),
                    last_modified=utc_epoch(item.get("LastModified") or ""),
                    etag=str(item.get("ETag") or "").strip('"'),
                )
            if str(page.get("IsTruncated", "false")).lower() != "true":
                return
            nxt = page.get("NextMarker") or (contents[-1]["Key"] if contents else "")
            if not nxt or nxt <= marker:
                raise SourceError(
                    f"COS ListBucket {self.creds.bucket}/{prefix}: truncated listing without a usable marker",
                    code="BadListing",
                    key=prefix,
                )
            marker = nxt

    def get(self, key: str, start: int = 0, end: int | None = None) -> Any:
        """GET one object (optionally a byte range) and return the SDK response dict (``Body`` streamed)."""
        kwargs: dict[str, Any] = {}
        if start or end is not None:
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        return self._call(
            "GetObject", key, lambda: self.client.get_object(Bucket=self.creds.bucket, Key=key, **kwargs)
        )

    def head(self, key: str) -> dict[str, str]:
        return self._call(
            "HeadObject", key, lambda: self.client.head_object(Bucket=self.creds.bucket, Key=key)
        )

    def _call(self, op: str, key: str, fn: Callable[[], T]) -> T:
        attempts = max(1, self.retry.attempts)
        for attempt in range(attempts):
            try:
                return fn()
            except (CosServiceError, CosClientError) as exc:
                if not _retryable(exc) or attempt == attempts - 1:
                    raise self._error(op, key, exc) from None
                delay = self.retry.delay(attempt)
                log.warning(
                    "COS %s %s/%s failed (%s), retry %d/%d in %.2fs",
                    op,
                    self.creds.bucket,
                    key,
                    self._describe(exc),
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                self.retry.sleep(delay)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ errors

    def _clean(self, text: str) -> str:
        for secret in self.creds.secrets():
            text = text.replace(secret, "***")
        return text

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, CosServiceError):
            return f"{exc.get_error_code()} {exc.get_status_code()}"
        return self._clean(type(exc).__name__ + ": " + str(exc))[:300]

    def _error(self, op: str, key: str, exc: Exception) -> SourceError:
        where = f"{self.creds.bucket}/{key}"
        if isinstance(exc, CosServiceError):
            code = str(exc.get_error_code() or "Unknown")
            status = int(exc.get_status_code() or 0)
            rid = str(exc.get_request_id() or "")
            detail = str(exc.get_error_msg() or "")
            msg = f"COS {op} {where}: {code} (HTTP {status})"
            if detail and detail != "Unknown":
                msg += f": {detail}"
            if rid and rid != "Unknown":
                msg += f" [request {rid}]"
            return SourceError(self._clean(msg), code=code, status=status, key=key, request_id=rid)
        return SourceError(
            self._clean(f"COS {op} {where}: connection failed ({str(exc)[:200]})"),
            code="ConnectionError",
            key=key,
        )


class _ResumableBody(io.RawIOBase):
    """The raw bytes of one object; resumes with a Range GET when the connection drops mid-body."""

    def __init__(self, source: CosSource, key: str) -> None:
        super().__init__()
        self.source = source
        self.key = key
        self.pos = 0
        self.size: int | None = None
        self._raw: Any = None
        self.resumes = 0

    def open(self) -> None:
        resp = self.source.get(self.key)
        self.size = _int(resp.get("Content-Length"))
        self._raw = resp["Body"].get_raw_stream()

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._raw is None:
            self.open()
        attempts = max(1, self.source.retry.attempts)
        while True:
            try:
                data = self._raw.read(len(buf))
            except Exception as exc:  # urllib3 ProtocolError/IncompleteRead/ReadTimeout: resume below
                data = None
                failure = exc
            if data:
                n = len(data)
                buf[:n] = data
                self.pos += n
                return n
            if data is not None and (self.size is None or self.pos >= self.size):
                return 0  # clean end of body
            if data is not None:
                failure = EOFError(f"body ended at byte {self.pos} of {self.size}")
            if self.resumes >= attempts - 1:
                raise SourceError(
                    f"COS GetObject {self.source.creds.bucket}/{self.key}: body interrupted at byte {self.pos}"
                    f" of {self.size} after {self.resumes} resumes ({type(failure).__name__})",
                    code="ReadInterrupted",
                    key=self.key,
                )
            self.source.retry.sleep(self.source.retry.delay(self.resumes))
            self.resumes += 1
            self._reopen_at(self.pos)

    def _reopen_at(self, offset: int) -> None:
        self._close_raw()
        resp = self.source.get(self.key, start=offset)
        raw = resp["Body"].get_raw_stream()
        content_range = str(resp.get("Content-Range") or "")
        if not content_range.startswith(f"bytes {offset}-"):
            # The server ignored Range and sent the whole object: skip what we already have.
            remaining = offset
            while remaining:
                chunk = raw.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
        self._raw = raw

    def _close_raw(self) -> None:
        if self._raw is not None:
            try:
                self._raw.close()
            except Exception:
                log.debug("closing COS body failed", exc_info=True)
            self._raw = None

    def close(self) -> None:
        self._close_raw()
        super().close()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
