"""`xiaozhi-ops mcp`: the MCP tool server on stdin/stdout, for external MCP clients (IDEs, agents).

Reads the same data as the service (XOPS_DATA_DIR, XOPS_RESULTS_DIR, the database). There is no device
socket in this process, so device tools answer "no device is connected". Logs go to stderr: stdout
carries only MCP messages.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.alerts.service import AlertService
    from server.cases.service import CaseService
    from server.config import Settings
    from server.storage.db import Database


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", help="serve the MCP tools over stdio (logs, alerts, cases, health)")
    p.add_argument(
        "--data-dir", default=None, help="runtime state directory (default XOPS_DATA_DIR or ./data)"
    )
    p.add_argument("--results-dir", default=None, help="analysis results (default XOPS_RESULTS_DIR)")
    p.add_argument("--no-db", action="store_true", help="serve without the alert/case database")
    p.set_defaults(func=_mcp)


def _mcp(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    from pathlib import Path

    from server.config import get_settings
    from server.tools.context import ToolContext
    from server.tools.mcp_server import run_stdio

    overrides: dict[str, object] = {}
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    if args.results_dir:
        overrides["results_dir"] = Path(args.results_dir)
    settings = get_settings().model_copy(update=overrides)
    ctx = ToolContext.from_settings(settings)
    db = None
    if not args.no_db:
        try:
            db, ctx.cases, ctx.alerts = open_services(settings)
        except Exception as exc:  # tools over reports still work without the database
            logging.getLogger(__name__).warning("alert/case database unavailable: %s", exc)
    try:
        asyncio.run(run_stdio(ctx))
    except KeyboardInterrupt:
        pass
    finally:
        if db is not None:
            db.dispose()
    return 0


def open_services(settings: Settings) -> tuple[Database, CaseService, AlertService]:
    """(Database, CaseService, AlertService) for the configured database."""
    from server.alerts.service import AlertService
    from server.cases.service import CaseService
    from server.storage.db import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.configured(settings.database_url, settings.db_path)
    cases = CaseService.from_settings(db, settings)
    alerts = AlertService(db, cases, default_owner=settings.default_owner)
    return db, cases, alerts
