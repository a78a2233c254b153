"""Configured channels, encrypted at rest with the vault's cipher (a webhook URL carries its key, so the whole
spec is sealed). Only ``ChannelSpec.masked()`` ever leaves this module for display."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, LargeBinary, String, Table, delete, insert, select, update

from server.notify.models import ChannelSpec
from server.storage.db import Database, metadata
from server.vault.crypto import VaultCipher

log = logging.getLogger(__name__)

notify_channels = Table(
    "notify_channels",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("owner", String(128), nullable=False, default=""),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class ChannelStore:
    def __init__(self, db: Database, cipher: VaultCipher) -> None:
        self.db = db
        self.cipher = cipher

    @staticmethod
    def _context(name: str) -> bytes:
        return f"channel:{name}".encode()

    def put(self, spec: ChannelSpec) -> None:
        """Create or replace (rotate) a channel; raises ValueError when the spec is incomplete."""
        spec.check_complete()
        blob = self.cipher.encrypt(spec.model_dump_json().encode(), self._context(spec.name))
        row = {
            "kind": spec.kind.value,
            "owner": spec.owner,
            "ciphertext": blob,
            "updated_at": datetime.now(UTC),
        }
        with self.db.engine.begin() as conn:
            found = conn.execute(
                select(notify_channels.c.name).where(notify_channels.c.name == spec.name)
            ).first()
            if found:
                conn.execute(update(notify_channels).where(notify_channels.c.name == spec.name).values(**row))
            else:
                conn.execute(insert(notify_channels).values(name=spec.name, **row))
        log.info("channel %s (%s) saved", spec.name, spec.kind.value)

    def get(self, name: str) -> ChannelSpec | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(notify_channels.c.ciphertext).where(notify_channels.c.name == name)
            ).first()
        if row is None:
            return None
        return ChannelSpec.model_validate_json(self.cipher.decrypt(row.ciphertext, self._context(name)))

    def all(self, owner: str | None = None) -> list[ChannelSpec]:
        """Every channel, or those of `owner` plus the shared ones (no owner), in name order."""
        q = select(notify_channels.c.name).order_by(notify_channels.c.name)
        if owner is not None:
            q = q.where(notify_channels.c.owner.in_(["", owner]))
        with self.db.engine.connect() as conn:
            names = [r.name for r in conn.execute(q)]
        return [spec for n in names if (spec := self.get(n)) is not None]

    def remove(self, name: str) -> bool:
        with self.db.engine.begin() as conn:
            return conn.execute(delete(notify_channels).where(notify_channels.c.name == name)).rowcount > 0
