"""Who the owners are and where their logs come from.

The default owner (embedded defaults) reads the local sample logs. Enrolled owners read their own COS
bucket with the keys bound in the vault; keys are decrypted only to build a client and never leave it.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from agents.records import LogKind
from agents.sources.base import KeyTemplate, LogSource, SourceConfig
from server.cases.fsm import Risk
from server.cases.store import ApproverRights
from server.config import Settings
from server.vault.store import CredentialVault, OwnerCredentials
from server.voiceprint.store import OwnerError, VoiceprintStore

log = logging.getLogger(__name__)

KIND_KEYS = {"business": LogKind.BUSINESS, "event": LogKind.EVENT, "audit": LogKind.AUDIT}


def source_config(creds: OwnerCredentials, timezone: str) -> SourceConfig:
    """Owner key templates: a value with strftime directives is a full pattern, otherwise a prefix."""
    config = SourceConfig.with_prefixes(timezone=timezone)
    for name, value in (creds.key_templates or {}).items():
        kind = KIND_KEYS.get(name)
        if kind is None or not value:
            continue
        if "%" in value:
            config.templates[kind] = KeyTemplate("", value)
        else:
            config.templates[kind] = KeyTemplate(value, config.templates[kind].pattern)
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
