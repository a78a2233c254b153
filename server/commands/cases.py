"""`xiaozhi-ops cases list|show ID|ack ID|snooze ID`: cases, their audit timeline, and acknowledging them."""

from __future__ import annotations

import argparse
import sys

from server.commands.common import cli_actor


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cases", help="alert cases and their timelines")
    csub = p.add_subparsers(dest="cases_cmd", required=True)
    ls = csub.add_parser("list", help="list recent cases")
    ls.add_argument("--owner", default=None)
    ls.add_argument("--status", default=None, help="NEW, ANALYZING, ..., CLOSED, PARKED")
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--database-url", default=None, help="default: XOPS_DATABASE_URL or the SQLite file")
    ls.set_defaults(func=_list)
    show = csub.add_parser("show", help="one case with its timeline")
    show.add_argument("case_id", type=int)
    show.add_argument("--database-url", default=None)
    show.set_defaults(func=_show)
    ack = csub.add_parser("ack", help="acknowledge a case (stops its escalation); recorded as cli:<user>")
    ack.add_argument("case_id", type=int)
    ack.add_argument("--database-url", default=None)
    ack.set_defaults(func=_ack)
    snooze = csub.add_parser("snooze", help="pause a case's escalation for a while")
    snooze.add_argument("case_id", type=int)
    snooze.add_argument("--minutes", type=float, default=10.0)
    snooze.add_argument("--database-url", default=None)
    snooze.set_defaults(func=_snooze)


def _service(url: str | None):
    from server.cases.service import CaseService
    from server.config import get_settings
    from server.storage.db import Database

    settings = get_settings()
    return CaseService(Database.configured(settings.database_url, settings.db_path, override=url))


def _list(args: argparse.Namespace) -> int:
    service = _service(args.database_url)
    cases = service.list_cases(owner=args.owner, status=args.status, limit=args.limit)
    if not cases:
        print("no cases")
        return 0
    for c in cases:
        print(
            f"#{c.id:<5} {c.status.value:<10} v{c.version:<3} {c.created_at:%Y-%m-%d %H:%M} {c.owner:<12} {c.title}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    service = _service(args.database_url)
    case = service.get_case(args.case_id)
    if case is None:
        print(f"case {args.case_id} not found")
        return 1
    print(f"case #{case.id}  {case.status.value}  version {case.version}")
    print(f"  title:    {case.title}")
    print(f"  owner:    {case.owner}   account: {case.account or '-'}   severity: {case.severity}")
    print(f"  resource: {case.resource or '-'}   alert group: {case.alert_group_id or '-'}")
    if case.plan:
        print(f"  plan:     {case.plan.summary} (risk {case.plan_risk}, by {case.plan.proposed_by})")
    elif case.plan_error:
        print(f"  plan:     ({case.plan_error})")
    if case.reason:
        print(f"  reason:   {case.reason}")
    print("timeline:")
    for t in service.timeline(case.id):
        move = f"{t.from_state or ''}→{t.to_state}" if t.to_state else ""
        detail = ", ".join(f"{k}={v}" for k, v in t.detail.items() if v not in (None, "", [], {}))
        print(f"  {t.at:%Y-%m-%d %H:%M:%S} {t.kind:<10} {t.event:<20} {move:<22} {t.actor}  {detail}")
    return 0


def _ack(args: argparse.Namespace) -> int:
    from server.notify.escalation import AttentionStore

    service = _service(args.database_url)
    if service.get_case(args.case_id) is None:
        print(f"case {args.case_id} not found", file=sys.stderr)
        return 1
    actor = cli_actor()
    if not AttentionStore(service.store.db).acknowledge(args.case_id, actor):
        print(f"case {args.case_id} was already acknowledged")
        return 0
    service.store.add_note(args.case_id, actor=actor, text="已确认（收到）")
    print(f"case {args.case_id} acknowledged by {actor}: its escalation stops")
    return 0


def _snooze(args: argparse.Namespace) -> int:
    from server.notify.escalation import AttentionStore

    if not 0 < args.minutes <= 24 * 60:
        print("error: --minutes must be between 0 and 1440", file=sys.stderr)
        return 2
    service = _service(args.database_url)
    if service.get_case(args.case_id) is None:
        print(f"case {args.case_id} not found", file=sys.stderr)
        return 1
    until = AttentionStore(service.store.db).snooze(args.case_id, args.minutes)
    service.store.add_note(args.case_id, actor=cli_actor(), text=f"稍后提醒：{args.minutes:g} 分钟后")
    print(f"case {args.case_id}: escalation paused until {until:%Y-%m-%d %H:%M} UTC")
    return 0
