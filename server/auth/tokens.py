"""API bearer tokens: the admin token (configured, or generated at first run into the data dir) and an optional
operator token, checked in constant time.

Generated tokens live in ``<data_dir>/admin.token`` (mode 0600) and are printed once, when generated.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.auth.principal import Principal, Role

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"


def load_or_create_secret_file(path: Path) -> tuple[str, bool]:
    """The secret stored at ``path``, or a new random one written there (0600, fsync'd, atomically: when two
    processes race, both end up with the one that was linked first). Returns (secret, created by this call)."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if secret:
        return secret, False
    secret = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(secret + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # atomic, and fails if another process created the file first
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip(), False
    finally:
        tmp.unlink(missing_ok=True)
    return secret, True


def load_or_create_token(path: Path, *, announce: str) -> str:
    """The token stored at ``path``; on first run a new one is written (0600) and shown once on stderr + log."""
    token, created = load_or_create_secret_file(path)
    if created:
        message = f"{announce}: {token} (stored in {path}, mode 0600; shown only this once)"
        print(message, file=sys.stderr, flush=True)
        log.warning("%s", message)
    return token


def admin_token(configured: str, data_dir: Path) -> str:
    """``XOPS_ADMIN_TOKEN`` when set; otherwise the generated one under the data dir."""
    if configured.strip():
        return configured.strip()
    return load_or_create_token(
        Path(data_dir) / ADMIN_TOKEN_FILE, announce="generated admin API token (XOPS_ADMIN_TOKEN unset)"
    )


@dataclass(frozen=True)
class ApiTokens:
    """Bearer tokens and the principal each one stands for. An empty token never matches."""

    admin: str
    operator: str = ""

    def principal_for(self, supplied: str) -> Principal | None:
        if not supplied:
            return None
        found: Principal | None = None
        # compare against every token, no early exit
        for token, role in ((self.admin, Role.ADMIN), (self.operator, Role.OPERATOR)):
            if token and hmac.compare_digest(supplied.encode(), token.encode()) and found is None:
                found = Principal(name="token", role=role)
        return found

    def __repr__(self) -> str:
        return "ApiTokens(<hidden>)"


WEBHOOK_TOKEN_FILE = "webhook.token"


def with_webhook_token(settings: Any) -> Any:
    """The settings for the alert webhooks: when neither BasicAuth nor a path token is configured, a path token
    generated at first run (``<data_dir>/webhook.token``, printed once), so no webhook is ever open."""
    basic = settings.alert_basic_user or settings.alert_basic_password.get_secret_value()
    if settings.alert_path_token or basic:
        return settings
    token = load_or_create_token(
        Path(settings.data_dir) / WEBHOOK_TOKEN_FILE,
        announce="generated alert webhook path token (POST /webhooks/tencent/<token> or /webhooks/alertmanager/<token>)",
    )
    return settings.model_copy(update={"alert_path_token": token})
