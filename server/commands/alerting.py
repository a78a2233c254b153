"""`xiaozhi-ops silences …` and `xiaozhi-ops channels …`: silences and notification channels from the shell.

They work on the service's database directly, like `cases`; the actor recorded is the local OS user.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from server.commands.common import cli_actor

if TYPE_CHECKING:
    from server.notify.store import ChannelStore
    from server.storage.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("silences", help="silences and maintenance windows (alerts recorded, not spoken)")
    ssub = s.add_subparsers(dest="silences_cmd", required=True)
    ls = ssub.add_parser("list", help="silences in force or still to come")
    ls.add_argument("--owner", default=None)
    ls.set_defaults(func=_silence_list)
    add = ssub.add_parser(
        "add",
        help="add a silence, e.g. silences add --owner alice --for 2h workload=order-api",
        description="Matchers as in Alertmanager: name=value, name!=value, name=~regex, name!~regex "
        "(names: alertname, severity, namespace, workload, pod, resource, account, or any alert label). "
        "No matcher silences every alert of the owner.",
    )
    add.add_argument("--owner", required=True)
    add.add_argument("--for", dest="duration", default=None, help="how long from now: 30m, 2h, 1d")
    add.add_argument("--start", default=None, help="ISO time with offset, e.g. 2026-11-27T22:00:00+08:00")
    add.add_argument("--end", default=None, help="ISO time with offset")
    add.add_argument("--comment", default="")
    add.add_argument("matchers", nargs="*")
    add.set_defaults(func=_silence_add)
    rm = ssub.add_parser("expire", help="end a silence now")
    rm.add_argument("silence_id", type=int)
    rm.set_defaults(func=_silence_expire)

    c = sub.add_parser(
        "channels", help="notification channels for escalation (WeCom, Feishu, DingTalk, webhook, SMS)"
    )
    csub = c.add_subparsers(dest="channels_cmd", required=True)
    cl = csub.add_parser("list", help="configured channels (secrets never shown)")
    cl.set_defaults(func=_channel_list)
    cadd = csub.add_parser(
        "add",
        help="add or replace a channel; the secret fields are read as JSON from stdin",
        description='Example: echo \'{"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…"}\' | '
        'xiaozhi-ops channels add ops-group --kind wecom. Feishu/DingTalk also need "secret"; SMS needs '
        'secret_id, secret, sdk_app_id, sign_name, template_id and phone_numbers ["+86…"].',
    )
    cadd.add_argument("name")
    cadd.add_argument("--kind", required=True, choices=["wecom", "feishu", "dingtalk", "webhook", "sms"])
    cadd.add_argument("--owner", default="", help="only for this owner's cases (default: every owner)")
    cadd.set_defaults(func=_channel_add)
    crm = csub.add_parser("remove", help="remove a channel")
    crm.add_argument("name")
    crm.set_defaults(func=_channel_remove)
    ctest = csub.add_parser("test", help="send a test message on a channel")
    ctest.add_argument("name")
    ctest.set_defaults(func=_channel_test)


def _db() -> Database:
    from server.config import get_settings
    from server.storage.db import Database

    settings = get_settings()
    return Database.configured(settings.database_url, settings.db_path)


def _local_tz() -> ZoneInfo:
    from server.config import get_settings

    return ZoneInfo(get_settings().timezone)


def _duration(text: str) -> timedelta:
    units = {"m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"--for takes a duration like 30m, 2h or 1d (got {text!r})")
    return timedelta(seconds=float(text[:-1]) * units[text[-1]])


def _silence_list(args: argparse.Namespace) -> int:
    from server.silences.store import SilenceStore

    found = SilenceStore(_db()).list(args.owner)
    tz = _local_tz()
    if not found:
        print("no silences")
    for s in found:
        print(f"#{s.id:<4} {s.owner:<12} {s.describe_zh(tz)}  by {s.created_by}  {s.comment}")
    return 0


def _silence_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from server.silences.models import SilenceIn, parse_matcher
    from server.silences.store import SilenceStore

    try:
        matchers = [parse_matcher(m) for m in args.matchers]
        if args.duration:
            start = datetime.now(UTC)
            end = start + _duration(args.duration)
        elif args.start and args.end:
            start, end = datetime.fromisoformat(args.start), datetime.fromisoformat(args.end)
        else:
            raise ValueError("give --for DURATION, or --start and --end")
        data = SilenceIn(
            owner=args.owner, matchers=matchers, starts_at=start, ends_at=end, comment=args.comment
        )
    except (ValueError, ValidationError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    s = SilenceStore(_db()).add(data, created_by=cli_actor())
    print(f"silence #{s.id}: {s.describe_zh(_local_tz())}")
    return 0


def _silence_expire(args: argparse.Namespace) -> int:
    from server.silences.store import SilenceStore

    if not SilenceStore(_db()).expire(args.silence_id):
        print(f"error: no active silence #{args.silence_id}", file=sys.stderr)
        return 1
    print(f"silence #{args.silence_id} expired")
    return 0


def _channels() -> ChannelStore:
    from server.config import get_settings
    from server.notify.store import ChannelStore
    from server.vault.crypto import VaultCipher, master_key

    settings = get_settings()
    return ChannelStore(
        _db(), VaultCipher(master_key(settings.master_key.get_secret_value(), settings.data_dir))
    )


def _channel_list(_args: argparse.Namespace) -> int:
    found = _channels().all()
    if not found:
        print("no channels")
    for spec in found:
        m = spec.masked()
        print(f"{m['name']:<16} {m['kind']:<9} {m['host'] or '-':<28} owner={m['owner'] or '*'}")
    return 0


def _channel_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from server.notify.models import ChannelSpec

    raw = sys.stdin.read() if not sys.stdin.isatty() else "{}"
    try:
        fields = json.loads(raw or "{}")
        if not isinstance(fields, dict):
            raise ValueError("stdin must hold a JSON object")
        spec = ChannelSpec.model_validate(
            {**fields, "name": args.name, "kind": args.kind, "owner": args.owner}
        )
        _channels().put(spec)
    except (ValueError, ValidationError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    print(f"channel {spec.name} ({spec.kind.value}) saved")
    return 0


def _channel_remove(args: argparse.Namespace) -> int:
    if not _channels().remove(args.name):
        print(f"error: no channel {args.name!r}", file=sys.stderr)
        return 1
    print(f"channel {args.name} removed")
    return 0


def _channel_test(args: argparse.Namespace) -> int:
    import asyncio

    import aiohttp

    from server.notify.channels import build_channel
    from server.notify.models import Notification, SendStatus

    spec = _channels().get(args.name)
    if spec is None:
        print(f"error: no channel {args.name!r}", file=sys.stderr)
        return 1

    async def send() -> int:
        async with aiohttp.ClientSession() as http:
            note = Notification(
                case_id=0, owner=spec.owner or "-", severity="info", title="测试消息（命令行）"
            )
            outcome = await build_channel(spec, http).send(note)
        print(f"{outcome.channel}: {outcome.status.value} {outcome.detail}")
        return 0 if outcome.status is SendStatus.SENT else 1

    return asyncio.run(send())
