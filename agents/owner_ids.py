"""Owner names: one validator for every script, and a stable id for file paths.

People name owners the way they call each other — ``张三``, ``Li Lei``, ``alice`` — and every part of the product
must accept the same set of names: the CLI, the REST API, the nightly pipeline, the evidence store, the reports.
Names go into directory names (``analysis_results/<day>/<owner>/``, ``data/pipeline/evidence/<owner>/``), so each
name has one *path id*: a plain ASCII name is its own id (existing directories keep working), any other name maps
to ``u-`` + 16 hex digits of its SHA-256 — stable across runs and machines, safe on every file system.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_OWNER_NAME = 64
# letters of any script (\w), digits, and . _ @ - and inner spaces; no path separators, no control characters
_NAME = re.compile(r"^\w(?:[\w.@ -]{0,62}[\w.@-])?$")
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")  # used verbatim as its own path id
# the form of a derived id: reserved, so a name never collides with one
_HASHED = re.compile(r"^u-[0-9a-f]{16}$")


class InvalidOwnerName(ValueError):
    """An owner name that cannot be used; the message says what is allowed."""


def validate_owner_name(name: str) -> str:
    """The normalised name (NFC, surrounding spaces removed) or InvalidOwnerName."""
    if not isinstance(name, str):
        raise InvalidOwnerName(f"owner name must be text, got {type(name).__name__}")
    norm = unicodedata.normalize("NFC", name).strip()
    if not _NAME.match(norm) or len(norm) > MAX_OWNER_NAME:
        raise InvalidOwnerName(
            f"invalid owner name {name!r}: use 1-{MAX_OWNER_NAME} letters (any language, e.g. 张三), digits, "
            "spaces, '.', '_', '@' or '-', starting with a letter or digit"
        )
    if _HASHED.match(norm):
        raise InvalidOwnerName(
            f"invalid owner name {name!r}: names of the form u-<16 hex digits> are reserved"
        )
    return norm


def owner_path_id(name: str) -> str:
    """The directory name for an owner: the name itself when plain ASCII, else ``u-<sha256[:16]>``."""
    norm = validate_owner_name(name)
    if _PLAIN.match(norm):
        return norm
    return "u-" + hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]
