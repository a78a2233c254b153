"""`xiaozhi-ops owners add|list|enrol|bind-keys`: manage owners, voiceprints and their vaulted cloud keys.

Secrets are read from stdin or a hidden prompt, never from argv (argv shows up in `ps` and shell history).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("owners", help="owners, voiceprints and credentials")
    osub = p.add_subparsers(dest="owners_cmd", required=True)
    a = osub.add_parser("add", help="create an owner")
    a.add_argument("name")
    a.add_argument("--can-approve", action="store_true", help="may approve sensitive actions")
    a.set_defaults(func=_add)
    ls = osub.add_parser("list", help="list owners (credentials masked)")
    ls.set_defaults(func=_list)
    e = osub.add_parser("enrol", help="enrol an owner's voiceprint from ≥3 WAV clips")
    e.add_argument("owner", help="owner id or name")
    e.add_argument("wavs", nargs="+")
    e.set_defaults(func=_enrol)
    b = osub.add_parser(
        "bind-keys",
        help="store Tencent Cloud credentials for an owner (encrypted)",
        description="Store an owner's SecretId/SecretKey (read from stdin or a hidden prompt, never argv), "
        "the COS bucket CLS delivers their logs to, and where each kind of log lies in it.",
        epilog=BIND_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    b.add_argument("owner", help="owner id or name")
    b.add_argument(
        "--secret-id-stdin", action="store_true", help="read SecretId then SecretKey from stdin lines"
    )
    b.add_argument("--region", required=True, help="e.g. ap-guangzhou")
    b.add_argument("--bucket", default="", help="COS bucket, name-appid")
    b.add_argument(
        "--key-template",
        action="append",
        default=[],
        metavar="KIND=TEMPLATE",
        help="where CLS delivers one kind of log; KIND is business, k8s-event or k8s-audit (short: event, "
        "audit); TEMPLATE is a directory (CLS's default hourly partitions %%Y/%%m/%%d/%%H/ below it) or a "
        "full pattern with %%Y %%m %%d %%H directives. Repeat per kind",
    )
    b.add_argument(
        "--prefix",
        default="",
        help="common key prefix of the CLS deliveries, e.g. cls/ (kinds without --key-template then read "
        "<prefix>business/, <prefix>k8s-event/, <prefix>k8s-audit/)",
    )
    b.add_argument(
        "--check",
        metavar="DAY",
        default=None,
        help="after binding, list the objects DAY would read (YYYY-MM-DD, today or yesterday) and say "
        "clearly which kinds match nothing",
    )
    b.add_argument("--cls-topic", action="append", default=[], metavar="KIND=TOPIC_ID")
    b.add_argument(
        "--uin", action="append", default=[], help="Tencent Cloud account uin whose alerts are this owner's"
    )
    b.add_argument(
        "--app-id", action="append", default=[], help="Tencent Cloud APPID whose alerts are this owner's"
    )
    b.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="KIND:VALUE",
        help="another alert account: receiver:<Alertmanager receiver>, account:<label value>",
    )
    b.set_defaults(func=_bind)
    acc = osub.add_parser(
        "accounts", help="bind cloud accounts to an owner (alert routing) or list the bindings"
    )
    acc.add_argument("owner", nargs="?", help="owner id or name (omit to list every binding)")
    acc.add_argument("--uin", action="append", default=[])
    acc.add_argument("--app-id", action="append", default=[])
    acc.add_argument("--account", action="append", default=[], metavar="KIND:VALUE")
    acc.set_defaults(func=_accounts)


BIND_EPILOG = """\
key layout (CLS "ship to COS" writes <directory>/<partition>/<yyyyMMddHHmm>_<id>.gz):
  default                      business/%Y/%m/%d/%H/  k8s-event/%Y/%m/%d/%H/  k8s-audit/%Y/%m/%d/%H/
  --prefix cls/                cls/business/%Y/%m/%d/%H/ ... (all three under cls/)
  --key-template k8s-audit=audit/%Y%m%d/
                               a full pattern: audit/20261126/...
examples:
  printf '%s\\n%s\\n' "$SECRET_ID" "$SECRET_KEY" | xiaozhi-ops owners bind-keys alice \\
      --region ap-guangzhou --bucket ops-logs-1250000000 --prefix cls/ --check yesterday
"""


def _open():
    from server import owners as _account_tables  # noqa: F401 - registers tables
    from server.config import get_settings
    from server.storage.db import Database
    from server.vault import store as _vault_tables  # noqa: F401 - registers tables
    from server.voiceprint import store as _owner_tables  # noqa: F401

    settings = get_settings()
    db = Database.configured(settings.database_url, settings.db_path)
    return settings, db


def _vault(settings, db):
    from server.vault.crypto import VaultCipher, master_key
    from server.vault.store import CredentialVault

    return CredentialVault(
        db, VaultCipher(master_key(settings.master_key.get_secret_value(), settings.data_dir))
    )


def _owner_store(db, encoder=None):
    from server.voiceprint.store import VoiceprintStore

    return VoiceprintStore(db, encoder)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"{flag} expects KIND=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _add(args: argparse.Namespace) -> int:
    import sys

    from server.voiceprint.store import OwnerError

    _, db = _open()
    try:
        owner = _owner_store(db).create_owner(args.name, can_approve=args.can_approve)
    except OwnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"owner {owner.id}: {owner.name}")
    return 0


def _list(_args: argparse.Namespace) -> int:
    settings, db = _open()
    vault = _vault(settings, db)
    for o in _owner_store(db).list_owners():
        creds = vault.masked(o.id)
        voice = f"voiceprint thr={o.threshold:.3f}" if o.enrolled else "no voiceprint"
        keys = f"keys {creds['secret_id']} {creds['region']} {creds['bucket']}" if creds else "no keys"
        print(f"{o.id:>3}  {o.name:<20} {'approver' if o.can_approve else 'owner':<8} {voice:<22} {keys}")
    return 0


def _enrol(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from server.voiceprint.audio import AudioError, decode_wav
    from server.voiceprint.encoder import get_encoder
    from server.voiceprint.store import OwnerError

    _, db = _open()
    try:
        clips = [decode_wav(Path(w).read_bytes(), w) for w in args.wavs]
        store = _owner_store(db, get_encoder())
        owner = store.get_owner(args.owner)
        result = store.enrol(owner.id, clips)
    except (AudioError, OwnerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"enrolled {owner.name}: {result.n_samples} clips, threshold {result.threshold:.3f}")
    return 0


def _bind(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from pydantic import ValidationError

    from agents.sources.base import KeyTemplateError, owner_templates, template_text
    from server.commands.days import DayError, resolve_day
    from server.vault.store import CredentialsIn
    from server.voiceprint.store import OwnerError

    settings, db = _open()
    try:
        owner = _owner_store(db).get_owner(args.owner)
    except OwnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:  # everything checkable is checked before the secrets are asked for
        pairs = _pairs(args.key_template, "--key-template")
        templates = owner_templates(pairs, args.prefix)
        check_day = resolve_day(args.check, settings.timezone) if args.check else None
    except (KeyTemplateError, DayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check and not args.bucket:
        print("error: --check needs --bucket (the COS bucket CLS delivers the logs to)", file=sys.stderr)
        return 2
    stored = {CANONICAL[k]: template_text(t) for k, t in templates.items()} if pairs or args.prefix else {}
    if args.secret_id_stdin or not sys.stdin.isatty():
        lines = sys.stdin.read().splitlines()
        if len(lines) < 2:
            print("error: stdin must hold two lines: SecretId, then SecretKey", file=sys.stderr)
            return 1
        secret_id, secret_key = lines[0].strip(), lines[1].strip()
    else:
        secret_id = getpass.getpass("SecretId: ").strip()
        secret_key = getpass.getpass("SecretKey: ").strip()
    try:
        accounts = _account_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        creds = CredentialsIn(
            secret_id=secret_id,
            secret_key=secret_key,
            region=args.region,
            bucket=args.bucket,
            key_templates=stored,
            cls_topics=_pairs(args.cls_topic, "--cls-topic"),
        )
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        print(f"error: {errors}", file=sys.stderr)
        return 1
    vault = _vault(settings, db)
    vault.bind(owner.id, creds)
    print(f"bound keys for {owner.name}: {vault.masked(owner.id)['secret_id']}")
    for kind, template in templates.items():
        print(f"  {CANONICAL[kind]:<10} {template_text(template)}")
    if accounts:
        bound = _directory(settings, db).bind(owner.name, accounts)
        print(f"alerts from {', '.join(bound)} now go to {owner.name}")
    if check_day is not None:
        return _check(settings, db, owner.name, check_day)
    return 0


CANONICAL = {"business": "business", "event": "k8s-event", "audit": "k8s-audit"}


def _check(settings, db, owner: str, day: str) -> int:
    """List what the pipeline would read for ``day``, per kind; 1 when any kind matches nothing."""
    from agents.records import LogKind
    from agents.sources.base import SourceError
    from server.owners import OwnerDirectory

    source = OwnerDirectory(settings, _owner_store(db), _vault(settings, db)).source_for(owner)
    assert source is not None  # keys were just bound
    print(f"check {day} ({settings.timezone}):")
    missing = []
    for kind in LogKind:
        name = CANONICAL[kind.value]
        template = source.config.template(kind)
        try:
            refs = source.list_objects(kind, day)
        except SourceError as exc:
            print(f"  {name:<10} cannot list the bucket: {exc.code or 'error'}: {exc}")
            missing.append(name)
            continue
        if not refs:
            prefixes = template.day_prefixes(_date(day), source.config.tz) or [template.list_root]
            where = prefixes[0] if len(prefixes) == 1 else f"{prefixes[0]} … {prefixes[-1]}"
            print(f"  {name:<10} NOTHING for this day: no object under {where}, nor any key "
                  f"under {template.list_root or '(bucket root)'} dated {day}")  # fmt: skip
            missing.append(name)
            continue
        size = sum(max(r.size, 0) for r in refs)
        print(f"  {name:<10} {len(refs)} objects, {size / 1e6:.1f} MB: {refs[0].key} … {refs[-1].key}")
    if missing:
        print(
            f"no {', '.join(missing)} logs would be read for {day}: check --prefix/--key-template against the "
            "CLS shipping task's COS directory and partition format"
        )
        return 1
    return 0


def _date(day: str):
    from datetime import date

    return date.fromisoformat(day)


def _account_args(args: argparse.Namespace) -> list[str]:
    """--uin/--app-id/--account → canonical account keys (raises AccountError, a ValueError)."""
    from server.owners import account_key, parse_account

    keys = [account_key("uin", v) for v in args.uin] + [account_key("appid", v) for v in args.app_id]
    return keys + [parse_account(v) for v in args.account]


def _directory(settings, db):
    from server.owners import AccountDirectory

    return AccountDirectory(db, settings.alert_account_owners, default_owner=settings.default_owner)


def _accounts(args: argparse.Namespace) -> int:
    import sys

    from server.owners import AccountError
    from server.voiceprint.store import OwnerError

    settings, db = _open()
    try:
        directory = _directory(settings, db)
        if args.owner is None:
            for b in directory.bindings():
                print(f"{b.account:<40} {b.owner}")
            return 0
        owner = _owner_store(db).get_owner(args.owner)
        keys = _account_args(args)
        if not keys:
            for b in directory.bindings(owner.name):
                print(f"{b.account:<40} {b.owner}")
            return 0
        directory.bind(owner.name, keys)
    except (AccountError, OwnerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"alerts from {', '.join(keys)} now go to {owner.name}")
    return 0
