"""`xiaozhi-ops tokens list|activate CODE|revoke DEVICE_ID`: per-device WebSocket tokens (token mode).

A device that is not activated speaks a 6-digit code at boot; `tokens activate <code>` activates it, and its next
OTA check gets a token. `tokens revoke` voids the device's tokens and its activation.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help="per-device tokens: list, activate by spoken code, revoke")
    tsub = p.add_subparsers(dest="tokens_cmd", required=True)
    ls = tsub.add_parser("list", help="devices, whether activated, how many live tokens")
    ls.set_defaults(func=_list)
    act = tsub.add_parser("activate", help="activate the device that speaks this 6-digit code")
    act.add_argument("code")
    act.set_defaults(func=_activate)
    rev = tsub.add_parser("revoke", help="revoke a device's tokens and activation")
    rev.add_argument("device_id")
    rev.set_defaults(func=_revoke)
    for parser in (ls, act, rev):
        parser.add_argument(
            "--database-url", default=None, help="default: XOPS_DATABASE_URL or the SQLite file"
        )


def _store(url: str | None):
    from server.auth.devices import DeviceCredentials
    from server.config import get_settings
    from server.storage.db import Database

    settings = get_settings()
    db = Database.configured(settings.database_url, settings.db_path, override=url)
    return DeviceCredentials(db, settings.device_allowlist)


def _list(args: argparse.Namespace) -> int:
    devices = _store(args.database_url).devices()
    if not devices:
        print("no devices")
        return 0
    for d in devices:
        state = (
            "activated" if d.activated else ("waiting for its code" if d.pending_code else "not activated")
        )
        extra = " (allow-list)" if d.allow_listed else ""
        print(f"{d.device_id:<20} {state}{extra}, {d.active_tokens} live token(s)")
    return 0


def _activate(args: argparse.Namespace) -> int:
    device_id = _store(args.database_url).activate(args.code, actor="cli")
    if device_id is None:
        print(f"no device is waiting with code {args.code}")
        return 1
    print(f"device {device_id} activated: its next OTA check gets a token")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    n = _store(args.database_url).revoke(args.device_id)
    print(f"device {args.device_id.lower()}: {n} token(s) revoked, activation removed")
    return 0
