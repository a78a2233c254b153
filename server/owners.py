"""Who the owners are, where their logs come from, and which cloud accounts are theirs.

The default owner (embedded defaults) reads the local sample logs. Enrolled owners read their own COS
bucket with the keys bound in the vault; keys are decrypted only to build a client and never leave it.

Alert routing: alert → cloud account → owner. An account is a typed id — ``uin:<n>`` / ``appid:<n>`` (Tencent Cloud
Monitor callbacks carry both), ``account:<v>`` (an Alertmanager ``account``/``tenant`` label), ``receiver:<name>``
(the Alertmanager receiver). Bindings are stored when keys are bound (``owners bind-keys --uin/--app-id``, the
accounts API) or configured (``XOPS_ALERT_ACCOUNT_OWNERS``). An alert no binding claims belongs to the default owner.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Column, DateTime, String, Table, delete, insert, select

from agents.sources.base import (
    KeyTemplateError,
    LogSource,
    SourceConfig,
    kind_from_name,
    parse_key_template,
)
from server.cases.fsm import Risk
from server.cases.store import ApproverRights
from server.config import Settings
from server.storage.db import Database, metadata
from server.vault.store import CredentialVault, OwnerCredentials
from server.voiceprint.store import OwnerError, VoiceprintStore

if TYPE_CHECKING:
    from server.alerts.models import Alert

log = logging.getLogger(__name__)

owner_accounts = Table(
    "owner_accounts",
    metadata,
    Column("account", String(160), primary_key=True),  # typed id, e.g. "uin:100001" — one owner per account
    Column("owner", String(128), nullable=False, index=True),
    Column("bound_at", DateTime(timezone=True), nullable=False),
)

ACCOUNT_KINDS = ("uin", "appid", "account", "receiver")
_ACCOUNT_VALUE = re.compile(r"^[\w.@:-]{1,128}$")


class AccountError(ValueError):
    """An account id or binding that cannot be used; the message says which and why."""


def account_key(kind: str, value: str) -> str:
    """The one spelling of an account id: ``<kind>:<value>`` (kind lower-case, value trimmed)."""
    kind, value = kind.strip().lower().replace("_", "").replace("-", ""), str(value).strip()
    if kind not in ACCOUNT_KINDS:
        raise AccountError(f"account kind {kind!r} is not one of {', '.join(ACCOUNT_KINDS)}")
    if not _ACCOUNT_VALUE.match(value):
        raise AccountError(f"account {kind} {value!r} must be 1-128 letters, digits or . _ @ : -")
    if kind in ("uin", "appid") and not value.isdigit():
        raise AccountError(f"Tencent Cloud {kind} must be a number, got {value!r}")
    return f"{kind}:{value}"


def parse_account(text: str) -> str:
    """``"uin:100001"`` → the canonical key (raises AccountError)."""
    kind, sep, value = text.partition(":")
    if not sep:
        raise AccountError(
            f"account {text!r} must look like KIND:VALUE (KIND one of {', '.join(ACCOUNT_KINDS)})"
        )
    return account_key(kind, value)


def alert_accounts(alert: Alert) -> list[str]:
    """Every account id an alert names, most specific first."""
    raw = alert.raw if isinstance(alert.raw, dict) else {}
    found: list[tuple[str, object]] = []
    if alert.source == "tencent":  # Cloud Monitor puts the account in alarmObjInfo (older bodies: top level)
        info = raw.get("alarmObjInfo")
        obj: dict[str, object] = info if isinstance(info, dict) else {}
        for src in (obj, raw):
            found += [("appid", src.get("appId")), ("uin", src.get("uin"))]
    labels = alert.labels or {}
    found += [
        ("appid", labels.get("appid") or labels.get("app_id")),
        ("uin", labels.get("uin")),
        ("account", labels.get("account") or labels.get("tenant")),
        ("receiver", labels.get("receiver")),
    ]
    if alert.account and alert.source != "tencent":  # Tencent's account is its appId/uin, named above
        found.append(("account", alert.account))
    keys: list[str] = []
    for kind, value in found:
        if value is None or str(value).strip() == "":
            continue
        try:
            key = account_key(kind, str(value))
        except AccountError:
            continue
        if key not in keys:
            keys.append(key)
    return keys


@dataclass(frozen=True)
class AccountBinding:
    account: str
    owner: str


class AccountDirectory:
    """Account → owner bindings (database) plus configured ones (``XOPS_ALERT_ACCOUNT_OWNERS``).

    A stored binding wins over configuration: it was made by binding that owner's keys."""

    def __init__(self, db: Database, configured: str = "", *, default_owner: str = "default") -> None:
        self.db = db
        self.default_owner = default_owner
        self.configured = parse_account_owners(configured)

    def bind(self, owner: str, accounts: Iterable[str]) -> list[str]:
        """Bind each account (canonical keys or KIND:VALUE text) to ``owner``; rebinding moves it. Returns the keys."""
        keys = [parse_account(a) for a in accounts]
        now = datetime.now(UTC)
        with self.db.engine.begin() as conn:
            for key in keys:
                conn.execute(delete(owner_accounts).where(owner_accounts.c.account == key))
                conn.execute(insert(owner_accounts).values(account=key, owner=owner, bound_at=now))
        if keys:
            log.info("accounts %s bound to owner %s", ", ".join(keys), owner)
        return keys

    def unbind(self, accounts: Iterable[str]) -> None:
        keys = [parse_account(a) for a in accounts]
        with self.db.engine.begin() as conn:
            conn.execute(delete(owner_accounts).where(owner_accounts.c.account.in_(keys)))

    def bindings(self, owner: str | None = None) -> list[AccountBinding]:
        q = select(owner_accounts).order_by(owner_accounts.c.account)
        if owner is not None:
            q = q.where(owner_accounts.c.owner == owner)
        with self.db.engine.connect() as conn:
            stored = [AccountBinding(r.account, r.owner) for r in conn.execute(q)]
        known = {b.account for b in stored}
        extra = [
            AccountBinding(k, o)
            for k, o in self.configured.items()
            if k not in known and (owner is None or o == owner)
        ]
        return stored + extra

    def owner_of(self, accounts: list[str]) -> str | None:
        if not accounts:
            return None
        with self.db.engine.connect() as conn:
            rows = {
                r.account: r.owner
                for r in conn.execute(select(owner_accounts).where(owner_accounts.c.account.in_(accounts)))
            }
        for key in accounts:  # most specific first
            if key in rows:
                return rows[key]
            if key in self.configured:
                return self.configured[key]
        return None

    def resolve(self, alert: Alert) -> str:
        """``AlertService.owner_resolver``: the owner whose account raised the alert, else the default owner."""
        accounts = alert_accounts(alert)
        owner = self.owner_of(accounts)
        if owner is None:
            if accounts:
                log.info("alert from unbound account(s) %s: routed to the default owner", ", ".join(accounts))
            return self.default_owner
        return owner


def parse_account_owners(text: str) -> dict[str, str]:
    """``"uin:100001=alice, receiver:team-b=bob"`` → {"uin:100001": "alice", "receiver:team-b": "bob"}."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        account, sep, owner = item.rpartition("=")
        if not sep or not owner.strip():
            raise AccountError(f"XOPS_ALERT_ACCOUNT_OWNERS entry {item!r} must be KIND:VALUE=OWNER")
        out[parse_account(account)] = owner.strip()
    return out


def source_config(creds: OwnerCredentials, timezone: str) -> SourceConfig:
    """Owner key templates (``bind-keys`` stores full patterns under ``business``/``k8s-event``/``k8s-audit``;
    older bindings used ``event``/``audit`` and bare prefixes: both still read)."""
    config = SourceConfig.with_prefixes(timezone=timezone)
    for name, value in (creds.key_templates or {}).items():
        try:
            kind = kind_from_name(name)
            template = parse_key_template(value, kind) if value else None
        except KeyTemplateError as exc:
            log.warning("owner key template ignored: %s", exc)
            continue
        if template is not None:
            config.templates[kind] = template
    return config


class OwnerDirectory:
    def __init__(
        self, settings: Settings, voiceprints: VoiceprintStore | None, vault: CredentialVault | None
    ):
        self.settings = settings
        self.voiceprints = voiceprints
        self.vault = vault

    def enrolled_names(self) -> list[str]:
        if self.voiceprints is None:
            return []
        return [o.name for o in self.voiceprints.list_owners() if o.enrolled]

    def names(self) -> list[str]:
        """Everyone the nightly pipeline runs for: the default owner plus owners with bound keys."""
        names = [self.settings.default_owner]
        if self.voiceprints is not None and self.vault is not None:
            names += [o.name for o in self.voiceprints.list_owners() if self.vault.has(o.id)]
        return list(dict.fromkeys(names))

    def owner_id(self, name: str) -> int | None:
        if self.voiceprints is None:
            return None
        try:
            return self.voiceprints.get_owner(name).id
        except OwnerError:
            return None

    def has_keys(self, name: str) -> bool:
        oid = self.owner_id(name)
        return oid is not None and self.vault is not None and self.vault.has(oid)

    def source_for(self, name: str) -> LogSource | None:
        oid = self.owner_id(name)
        if oid is not None and self.vault is not None and self.vault.has(oid):
            return self._cos_source(self.vault.get(oid))
        if name == self.settings.default_owner and self.settings.log_source == "local":
            from agents.sources.local import LocalSource

            return LocalSource(self.settings.logs_path, name, SourceConfig(timezone=self.settings.timezone))
        return None

    def _cos_source(self, creds: OwnerCredentials) -> LogSource:
        from agents.sources.cos import CosCredentials, CosSource

        scheme, ip, port = "https", None, None
        if self.settings.cos_endpoint:  # a COS-compatible endpoint (private link, local stand-in)
            url = urlsplit(self.settings.cos_endpoint)
            scheme, ip, port = url.scheme or "http", url.hostname, url.port
        cos = CosCredentials(
            secret_id=creds.secret_id,
            secret_key=creds.secret_key,
            region=creds.region,
            bucket=creds.bucket,
            scheme=scheme,
            ip=ip,
            port=port,
        )
        return CosSource(cos, source_config(creds, self.settings.timezone))


class OwnerApprovers:
    """Approval rights for the case FSM: ``owner:<name>`` of an owner marked can_approve may approve any risk."""

    def __init__(self, voiceprints: VoiceprintStore) -> None:
        self.voiceprints = voiceprints

    def rights(self, approver: str) -> ApproverRights | None:
        if not approver.startswith("owner:"):
            return None
        try:
            owner = self.voiceprints.get_owner(approver.removeprefix("owner:"))
        except OwnerError:
            return None
        return ApproverRights(True, Risk.HIGH) if owner.can_approve else None


def setup_account_routes(
    app: Any, *, accounts: AccountDirectory, store: VoiceprintStore, admin_token: str = ""
) -> None:
    """PUT/GET /api/owners/{owner_id}/accounts — the cloud accounts whose alerts belong to an owner.

    PUT body: ``{"uin": ["100001"], "app_id": ["1250000001"], "accounts": ["receiver:team-b"]}`` (any subset)."""
    import json

    from aiohttp import web

    from server.vault.auth import admin_only

    guard = admin_only(admin_token)

    def owner_or_404(request: web.Request) -> str:
        try:
            return store.get_owner(int(request.match_info["owner_id"])).name
        except (OwnerError, ValueError) as exc:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "unknown owner"}), content_type="application/json"
            ) from exc

    def listing(owner: str) -> list[dict[str, str]]:
        return [{"account": b.account, "owner": b.owner} for b in accounts.bindings(owner)]

    @guard
    async def put_accounts(request: web.Request) -> web.Response:
        owner = owner_or_404(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict) or set(body) - {"uin", "app_id", "accounts"}:
            return web.json_response(
                {"error": "body must be a JSON object with uin, app_id and/or accounts lists"}, status=400
            )
        try:
            keys = [account_key("uin", str(v)) for v in _as_list(body.get("uin"), "uin")]
            keys += [account_key("appid", str(v)) for v in _as_list(body.get("app_id"), "app_id")]
            keys += [parse_account(str(v)) for v in _as_list(body.get("accounts"), "accounts")]
        except AccountError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if not keys:
            return web.json_response({"error": "no account given"}, status=400)
        accounts.bind(owner, keys)
        return web.json_response({"owner": owner, "accounts": listing(owner)})

    @guard
    async def get_accounts(request: web.Request) -> web.Response:
        owner = owner_or_404(request)
        return web.json_response({"owner": owner, "accounts": listing(owner)})

    app.router.add_put("/api/owners/{owner_id}/accounts", put_accounts)
    app.router.add_get("/api/owners/{owner_id}/accounts", get_accounts)


def _as_list(value: object, name: str) -> list[object]:
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
        return list(value)
    raise AccountError(f"{name} must be a string or a list of strings")
