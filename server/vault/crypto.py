"""Vault cipher: AES-256-GCM with the master key from settings or a generated 0600 key file.

Each ciphertext is bound to its owner row through GCM associated data, so a ciphertext copied onto another
owner's row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

KEY_FILE_NAME = "vault.key"
_VERSION = b"\x01"
_NONCE = 12


class VaultKeyError(RuntimeError):
    """The master key is missing, unreadable or too exposed."""


class DecryptError(RuntimeError):
    """Ciphertext does not decrypt with this key (wrong key, tampered, or moved to another owner)."""


def _decode_key(text: str) -> bytes:
    """A 32-byte key as urlsafe base64 (what we generate, Fernet-style) or, failing that, SHA-256 of the text
    so an operator may set a passphrase."""
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text.encode())
        if len(raw) == 32:
            return raw
    except ValueError:
        pass
    return hashlib.sha256(text.encode()).digest()


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, or create it with mode 0600 (atomically: O_EXCL, never world-readable in between).
    Refuses a key file that group or others can read or write."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = base64.urlsafe_b64encode(secrets.token_bytes(32))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key_file(path)  # another process created it first
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
        log.info("vault: generated a new master key file %s (mode 0600); back it up", path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultKeyError(
            f"vault key file {path} has mode {mode:04o}; it must be readable by its owner only. "
            f"Fix with: chmod 600 {path}"
        )
    text = path.read_text().strip()
    if not text:
        raise VaultKeyError(f"vault key file {path} is empty")
    return _decode_key(text)


def master_key(master_key_setting: str, data_dir: Path) -> bytes:
    """settings.master_key if set, else <data_dir>/vault.key (generated on first use)."""
    if master_key_setting.strip():
        return _decode_key(master_key_setting)
    return load_or_create_key_file(Path(data_dir) / KEY_FILE_NAME)


class VaultCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise VaultKeyError("vault key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "VaultCipher(<key hidden>)"

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _VERSION + context)

    def decrypt(self, blob: bytes, context: bytes) -> bytes:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
            raise DecryptError("not a vault ciphertext")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], _VERSION + context)
        except InvalidTag as exc:
            raise DecryptError("vault ciphertext does not decrypt with this key/owner") from exc
