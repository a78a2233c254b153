"""`xiaozhi-ops cases list|show ID`: read cases and their audit timeline from the database."""

from __future__ import annotations

import argparse


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


def _service(url: str | None):
    from server.cases.service import CaseService
    from server.config import get_settings
    from server.storage.db import Database

    settings = get_settings()
    if url:
        db = Database(url)
    elif settings.database_url:
        db = Database(settings.database_url)
    else:
        db = Database.sqlite(settings.db_path)
    db.create_all()
    return CaseService(db)


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
        print(
            f"  plan:     {case.plan.get('summary')} (risk {case.plan_risk}, by {case.plan.get('proposed_by')})"
        )
    if case.reason:
        print(f"  reason:   {case.reason}")
    print("timeline:")
    for t in service.timeline(case.id):
        move = f"{t.from_state or ''}→{t.to_state}" if t.to_state else ""
        detail = ", ".join(f"{k}={v}" for k, v in t.detail.items() if v not in (None, "", [], {}))
        print(f"  {t.at:%Y-%m-%d %H:%M:%S} {t.kind:<10} {t.event:<20} {move:<22} {t.actor}  {detail}")
    return 0
