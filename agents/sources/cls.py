"""On-demand search of a CLS topic (``SearchLog``, cls v20201016) → LogRecords via the parsers.

Used by the alert tracer to pull the lines around an incident without waiting for the COS delivery.
``Context`` paging continues a query (CLS caps one query at 10,000 logs); each ``LogInfo`` becomes the
same CLS-shipped object the COS files hold (``__TIMESTAMP__``/``__TAG__``… + the log's fields), so the
parsers treat both paths identically. For tests: ``ClsCredentials(endpoint="127.0.0.1:PORT", scheme="http")``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from tencentcloud.cls.v20201016 import cls_client, models
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from agents.parsers.stream import ParseStats, parse_object
from agents.records import LogKind, LogRecord
from agents.sources.base import RetryPolicy, SourceError

log = logging.getLogger(__name__)

MAX_PAGE = 1000  # CLS Limit maximum
MAX_PER_QUERY = 10_000  # CLS: a Context chain returns at most this many logs
_TRANSIENT = (
    "InternalError",
    "RequestLimitExceeded",
    "ClientNetworkError",
    "ServerNetworkError",
    "FailedOperation.QueryError",
)


@dataclass(frozen=True)
class ClsCredentials:
    secret_id: str
    secret_key: str = field(repr=False)
    region: str
    token: str | None = field(default=None, repr=False)
    endpoint: str | None = None  # default cls.tencentcloudapi.com
    scheme: str = "https"
    timeout: int = 30


class ClsSearch:
    def __init__(self, creds: ClsCredentials, tz: tzinfo = UTC, retry: RetryPolicy | None = None) -> None:
        self.creds = creds
        self.tz = tz
        self.retry = retry or RetryPolicy()
        hp = HttpProfile(protocol=creds.scheme, reqTimeout=creds.timeout)
        if creds.endpoint:
            hp.endpoint = creds.endpoint
        cred = credential.Credential(creds.secret_id, creds.secret_key, creds.token)
        self.client = cls_client.ClsClient(cred, creds.region, ClientProfile(httpProfile=hp))

    def search(
        self,
        topic_id: str,
        query: str,
        from_ms: int,
        to_ms: int,
        limit: int = 1000,
        *,
        kind: LogKind | str = LogKind.BUSINESS,
        sort: str = "asc",
        page_size: int = MAX_PAGE,
        stats: ParseStats | None = None,
    ) -> list[LogRecord]:
        """Up to ``limit`` records of ``topic_id`` matching ``query`` (CQL) in [from_ms, to_ms)."""
        return list(
            self.iter_search(
                topic_id, query, from_ms, to_ms, limit, kind=kind, sort=sort, page_size=page_size, stats=stats
            )
        )

    def iter_search(
        self,
        topic_id: str,
        query: str,
        from_ms: int,
        to_ms: int,
        limit: int = 1000,
        *,
        kind: LogKind | str = LogKind.BUSINESS,
        sort: str = "asc",
        page_size: int = MAX_PAGE,
        stats: ParseStats | None = None,
    ) -> Iterator[LogRecord]:
        kind = LogKind(kind)
        stats = stats if stats is not None else ParseStats()
        limit = max(0, min(limit, MAX_PER_QUERY))
        context = ""
        returned = 0
        while returned < limit:
            req = models.SearchLogRequest()
            params: dict[str, Any] = {
                "TopicId": topic_id,
                "From": int(from_ms),
                "To": int(to_ms),
                "QueryString": query or "*",
                "Limit": max(1, min(page_size, MAX_PAGE, limit - returned)),
                "Sort": sort,
            }
            if context:
                params["Context"] = context
            req.from_json_string(json.dumps(params))
            resp = self._call(topic_id, req)
            for info in resp.Results or []:
                stats.lines += 1
                got = self._records(kind, info)
                if not got:
                    stats.add_bad(
                        stats.lines,
                        f"no {kind.value} record in this JSON",
                        info.RawLog or info.LogJson or "",
                        topic_id,
                    )
                    continue
                for rec in got:
                    stats.records += 1
                    returned += 1
                    yield rec
            context = resp.Context or ""
            if resp.ListOver or not context or not resp.Results:
                return

    def _records(self, kind: LogKind, info: models.LogInfo) -> list[LogRecord] | None:
        obj: dict[str, Any] = {}
        if info.LogJson:
            try:
                decoded = json.loads(info.LogJson)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                obj.update(decoded)
        if not obj and info.RawLog:
            obj["__CONTENT__"] = info.RawLog
        if not obj:
            return None
        if info.Time:
            obj["__TIMESTAMP__"] = info.Time
        for key, value in (
            ("__SOURCE__", info.Source),
            ("__FILENAME__", info.FileName),
            ("__HOSTNAME__", info.HostName),
        ):
            if value:
                obj.setdefault(key, value)
        raw = info.RawLog or info.LogJson or ""
        try:
            return parse_object(kind, obj, raw, self.tz)
        except Exception:  # one odd result must not end the search
            log.debug("CLS result not parseable", exc_info=True)
            return None

    def _call(self, topic_id: str, req: models.SearchLogRequest) -> models.SearchLogResponse:
        attempts = max(1, self.retry.attempts)
        for attempt in range(attempts):
            try:
                return self.client.SearchLog(req)
            except TencentCloudSDKException as exc:
                code = str(exc.get_code() or "")
                if not code.startswith(_TRANSIENT) or attempt == attempts - 1:
                    raise self._error(topic_id, exc) from None
                delay = self.retry.delay(attempt)
                log.warning(
                    "CLS SearchLog %s failed (%s), retry %d in %.2fs", topic_id, code, attempt + 1, delay
                )
                self.retry.sleep(delay)
        raise AssertionError("unreachable")

    def _error(self, topic_id: str, exc: TencentCloudSDKException) -> SourceError:
        code = str(exc.get_code() or "Unknown")
        rid = str(exc.get_request_id() or "")
        msg = f"CLS SearchLog topic {topic_id}: {code}: {exc.get_message()}"
        if rid:
            msg += f" [request {rid}]"
        for secret in (self.creds.secret_key, self.creds.token or ""):
            if secret:
                msg = msg.replace(secret, "***")
        return SourceError(msg, code=code, request_id=rid, key=topic_id)
