"""Per-device WebSocket tokens, handed out by OTA only to activated devices, and revocable.

A device is *activated* when its Device-Id is on the allow-list (``XOPS_DEVICE_ALLOWLIST``) or when an admin
entered the 6-digit code the device speaks (the firmware's activation flow, reference §5): the admin hears the
code from the robot on the desk, so the activation binds to the physical device. Tokens are stored as SHA-256
hashes; the plaintext exists only in the OTA answer. Each OTA check rotates the device's token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Integer, String, Table, and_, select, update

from server.storage.db import Database, metadata

log = logging.getLogger(__name__)

TOKEN_PREFIX = "xdt_"
MAX_PENDING = 1000  # devices waiting for activation; the oldest are forgotten beyond this

device_tokens = Table(
    "device_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", String(64), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

device_activations = Table(
    "device_activations",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("code", String(6), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("activated_at", DateTime(timezone=True)),
    Column("activated_by", String(128)),
)


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_device_id(device_id: str) -> str:
    return device_id.strip().lower()[:64]


@dataclass(frozen=True)
class DeviceStatus:
    device_id: str
    activated: bool
    allow_listed: bool
    active_tokens: int
    pending_code: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "device_id": self.device_id,
            "activated": self.activated,
            "allow_listed": self.allow_listed,
            "active_tokens": self.active_tokens,
            "pending_activation": self.pending_code,
        }


class DeviceCredentials:
    def __init__(self, db: Database, allowlist: str | frozenset[str] = frozenset()) -> None:
        self.db = db
        items = allowlist.split(",") if isinstance(allowlist, str) else allowlist
        self.allowlist = frozenset(normalise_device_id(d) for d in items if d.strip())

    # -- activation
    def is_activated(self, device_id: str) -> bool:
        device_id = normalise_device_id(device_id)
        if not device_id:
            return False
        if device_id in self.allowlist:
            return True
        with self.db.engine.connect() as c:
            row = c.execute(
                select(device_activations.c.activated_at).where(device_activations.c.device_id == device_id)
            ).first()
        return row is not None and row.activated_at is not None

    def activation_code(self, device_id: str) -> str:
        """The pending 6-digit code for this device (created on first ask, stable until activated)."""
        device_id = normalise_device_id(device_id)
        with self.db.engine.begin() as c:
            row = c.execute(
                select(device_activations).where(device_activations.c.device_id == device_id)
            ).first()
            if row is not None and row.activated_at is None:
                return str(row.code)
            pending = {
                str(r.code)
                for r in c.execute(
                    select(device_activations.c.code).where(device_activations.c.activated_at.is_(None))
                )
            }
            code = f"{secrets.randbelow(10**6):06d}"
            while code in pending:  # a code names exactly one waiting device
                code = f"{secrets.randbelow(10**6):06d}"
            if len(pending) >= MAX_PENDING:  # OTA is unauthenticated: bound what unknown Device-Ids can store
                oldest = select(device_activations.c.device_id).where(
                    device_activations.c.activated_at.is_(None)
                )
                oldest = oldest.order_by(device_activations.c.created_at).limit(
                    len(pending) - MAX_PENDING + 1
                )
                stale = [r.device_id for r in c.execute(oldest)]
                c.execute(device_activations.delete().where(device_activations.c.device_id.in_(stale)))
            if row is None:
                c.execute(
                    device_activations.insert().values(device_id=device_id, code=code, created_at=_now())
                )
            else:
                c.execute(
                    update(device_activations)
                    .where(device_activations.c.device_id == device_id)
                    .values(code=code, created_at=_now(), activated_at=None, activated_by=None)
                )
            return code

    def activate(self, code: str, *, actor: str) -> str | None:
        """Activate the device waiting with ``code``; returns its id, or None when no device waits with it."""
        code = code.strip()
        if not (len(code) == 6 and code.isdigit()):
            return None
        with self.db.engine.begin() as c:
            rows = c.execute(
                select(device_activations.c.device_id).where(
                    and_(device_activations.c.code == code, device_activations.c.activated_at.is_(None))
                )
            ).all()
            if len(rows) != 1:  # none, or an (unlikely) collision: refuse rather than guess
                return None
            device_id = str(rows[0].device_id)
            c.execute(
                update(device_activations)
                .where(device_activations.c.device_id == device_id)
                .values(activated_at=_now(), activated_by=actor[:128])
            )
        log.info("device %s activated by %s", device_id, actor)
        return device_id

    # -- tokens
    def issue(self, device_id: str) -> str:
        """A new token for an activated device; its earlier tokens are revoked."""
        device_id = normalise_device_id(device_id)
        if not self.is_activated(device_id):
            raise PermissionError(f"device {device_id or '?'} is not activated")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now()
        with self.db.engine.begin() as c:
            c.execute(
                update(device_tokens)
                .where(and_(device_tokens.c.device_id == device_id, device_tokens.c.revoked_at.is_(None)))
                .values(revoked_at=now)
            )
            c.execute(
                device_tokens.insert().values(device_id=device_id, token_hash=_hash(token), created_at=now)
            )
        return token

    def verify(self, token: str, device_id: str) -> bool:
        """True for an unrevoked token issued to exactly this device."""
        if not token.startswith(TOKEN_PREFIX) or not device_id:
            return False
        with self.db.engine.connect() as c:
            row = c.execute(
                select(device_tokens.c.device_id).where(
                    and_(device_tokens.c.token_hash == _hash(token), device_tokens.c.revoked_at.is_(None))
                )
            ).first()
        return row is not None and hmac.compare_digest(str(row.device_id), normalise_device_id(device_id))

    def revoke(self, device_id: str, *, deactivate: bool = True) -> int:
        """Revoke the device's tokens (and its activation: it must be activated again). Returns tokens revoked.
        An allow-listed device gets a new token at its next OTA check; take it off the list to shut it out."""
        device_id = normalise_device_id(device_id)
        with self.db.engine.begin() as c:
            n = c.execute(
                update(device_tokens)
                .where(and_(device_tokens.c.device_id == device_id, device_tokens.c.revoked_at.is_(None)))
                .values(revoked_at=_now())
            ).rowcount
            if deactivate:
                c.execute(device_activations.delete().where(device_activations.c.device_id == device_id))
        log.info(
            "device %s: %d token(s) revoked%s", device_id, n, ", activation removed" if deactivate else ""
        )
        return int(n or 0)

    def devices(self) -> list[DeviceStatus]:
        with self.db.engine.connect() as c:
            acts = {r.device_id: r for r in c.execute(select(device_activations)).all()}
            toks: dict[str, int] = {}
            for r in c.execute(select(device_tokens.c.device_id).where(device_tokens.c.revoked_at.is_(None))):
                toks[r.device_id] = toks.get(r.device_id, 0) + 1
        out = []
        for dev in sorted(set(acts) | set(toks) | set(self.allowlist)):
            act = acts.get(dev)
            out.append(
                DeviceStatus(
                    device_id=dev,
                    activated=dev in self.allowlist or (act is not None and act.activated_at is not None),
                    allow_listed=dev in self.allowlist,
                    active_tokens=toks.get(dev, 0),
                    pending_code=act is not None and act.activated_at is None,
                )
            )
        return out
