"""The alert intake as its own process, for the kill -9 / SIGTERM tests: the production pieces (Database with its
pragmas, CaseService, AlertService, the webhook routes) behind aiohttp, run by ``serve``'s signal handling.
It is what ``xiaozhi-ops serve`` runs for webhooks, without loading speech models (which the test cannot afford).

    python -m tests.alerts.intake_server --db PATH --port-file PATH [--token T]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aiohttp import web

from server.alerts.routes import setup_alert_routes
from server.alerts.service import AlertService
from server.cases.service import CaseService
from server.commands.serve import run_until_signalled
from server.config import Settings
from server.storage.db import Database


async def main(args: argparse.Namespace) -> None:
    db = Database.sqlite(Path(args.db))
    db.create_all()
    settings = Settings(_env_file=None, data_dir=Path(args.db).parent, alert_path_token=args.token)
    cases = CaseService(db)
    service = AlertService(db, cases)
    app = web.Application()
    setup_alert_routes(app, settings, service)
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        tmp = Path(args.port_file + ".tmp")
        tmp.write_text(str(port))
        tmp.rename(args.port_file)

    async def stop() -> None:
        service.stop_accepting()
        await runner.cleanup()  # closes the listener, waits for in-flight requests, then drains the intake
        db.dispose()

    await run_until_signalled(start, stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--token", default="kill-test-token")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(parser.parse_args()))
