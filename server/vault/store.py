"""Owner credentials encrypted at rest: the whole JSON blob is one AES-GCM ciphertext per owner.

``OwnerCredentials`` masks its secrets in repr/str, so logging or a traceback shows ``AKID****abcd`` only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Column, DateTime, ForeignKey, Integer, LargeBinary, Table, insert, select, update

from server.storage.db import Database, metadata
from server.vault.crypto import VaultCipher
from server.voiceprint import store as _owners_table  # noqa: F401 - declares "owners", the FK target

log = logging.getLogger(__name__)

owner_credentials = Table(
    "owner_credentials",
    metadata,
    Column("owner_id", Integer, ForeignKey("owners.id", ondelete="CASCADE"), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def mask(secret: str, keep_prefix: int = 0, keep_suffix: int = 4) -> str:
    """'AKIDxxxxxxxxabcd' -> 'AKID****abcd'. At least half of the characters (and never fewer than 4) stay
    hidden: a short secret shows less of its ends instead of nothing at all, so a bound key is still
    recognisable."""
    if not secret:
        return ""
    shown = max(0, len(secret) - max(4, len(secret) // 2))
    while keep_prefix + keep_suffix > shown:
        if keep_suffix >= keep_prefix:
            keep_suffix -= 1
        else:
            keep_prefix -= 1
    return secret[:keep_prefix] + "****" + (secret[-keep_suffix:] if keep_suffix else "")


class CredentialsIn(BaseModel):
    """What the console/CLI submits. Unknown fields are rejected so typos don't silently drop data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)

    secret_id: str = Field(min_length=8, max_length=128)
    secret_key: str = Field(min_length=8, max_length=256)
    region: str = Field(pattern=r"^[a-z]{2,4}-[a-z0-9-]+$", max_length=64)  # e.g. ap-guangzhou
    bucket: str = Field(default="", pattern=r"^$|^[a-z0-9][a-z0-9-]*-\d+$", max_length=64)  # name-appid
    key_templates: dict[str, str] = Field(default_factory=dict)  # log kind -> COS key/prefix template
    cls_topics: dict[str, str] = Field(default_factory=dict)  # log kind -> CLS topic id

    @field_validator("key_templates")
    @classmethod
    def _known_kinds(cls, v: dict[str, str]) -> dict[str, str]:
        """Kinds as CLS names them (business, k8s-event, k8s-audit; short event/audit); valid templates.
        An unknown kind used to be stored and silently ignored (0 objects read)."""
        from agents.sources.base import KeyTemplateError, kind_from_name, parse_key_template

        try:
            for name, template in v.items():
                parse_key_template(template, kind_from_name(name))
        except KeyTemplateError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("secret_id", "secret_key")
    @classmethod
    def _no_spaces(cls, v: str) -> str:
        if any(c.isspace() for c in v):
            raise ValueError("must not contain whitespace")
        return v


@dataclass(frozen=True)
class OwnerCredentials:
    secret_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = ""
    bucket: str = ""
    key_templates: dict[str, str] = field(default_factory=dict)
    cls_topics: dict[str, str] = field(default_factory=dict)

    def masked(self) -> dict:
        return {
            "secret_id": mask(self.secret_id, keep_prefix=4),
            "secret_key": mask(self.secret_key),
            "region": self.region,
            "bucket": self.bucket,
            "key_templates": dict(self.key_templates),
            "cls_topics": dict(self.cls_topics),
        }

    def __repr__(self) -> str:
        m = self.masked()
        return (
            f"OwnerCredentials(secret_id={m['secret_id']!r}, secret_key={m['secret_key']!r}, "
            f"region={self.region!r}, bucket={self.bucket!r})"
        )

    __str__ = __repr__

    # refuse pickling: it would copy the secrets out of the vault in clear text
    def __reduce__(self):
        raise TypeError("OwnerCredentials cannot be pickled")

    @classmethod
    def from_input(cls, data: CredentialsIn) -> OwnerCredentials:
        return cls(**data.model_dump())


class CredentialsNotFound(KeyError):
    pass


class CredentialVault:
    def __init__(self, db: Database, cipher: VaultCipher) -> None:
        self.db = db
        self.cipher = cipher

    @staticmethod
    def _context(owner_id: int) -> bytes:
        return f"owner:{owner_id}".encode()

    def bind(self, owner_id: int, creds: OwnerCredentials | CredentialsIn) -> None:
        if isinstance(creds, CredentialsIn):
            creds = OwnerCredentials.from_input(creds)
        blob = self.cipher.encrypt(json.dumps(asdict(creds)).encode(), self._context(owner_id))
        row = {"ciphertext": blob, "updated_at": datetime.now(UTC)}
        with self.db.engine.begin() as conn:
            exists = conn.execute(
                select(owner_credentials.c.owner_id).where(owner_credentials.c.owner_id == owner_id)
            ).first()
            if exists:
                conn.execute(
                    update(owner_credentials).where(owner_credentials.c.owner_id == owner_id).values(**row)
                )
            else:
                conn.execute(insert(owner_credentials).values(owner_id=owner_id, **row))
        log.info("vault: credentials bound for owner %s (%s)", owner_id, creds.masked()["secret_id"])

    def get(self, owner_id: int) -> OwnerCredentials:
        with self.db.engine.connect() as conn:
            row = conn.execute(
                select(owner_credentials.c.ciphertext).where(owner_credentials.c.owner_id == owner_id)
            ).first()
        if row is None:
            raise CredentialsNotFound(owner_id)
        return OwnerCredentials(**json.loads(self.cipher.decrypt(row.ciphertext, self._context(owner_id))))

    def has(self, owner_id: int) -> bool:
        with self.db.engine.connect() as conn:
            return (
                conn.execute(
                    select(owner_credentials.c.owner_id).where(owner_credentials.c.owner_id == owner_id)
                ).first()
                is not None
            )

    def masked(self, owner_id: int) -> dict | None:
        """Masked view for API responses; None when the owner has no credentials."""
        try:
            return self.get(owner_id).masked()
        except CredentialsNotFound:
            return None

    def remove(self, owner_id: int) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(owner_credentials.delete().where(owner_credentials.c.owner_id == owner_id))
