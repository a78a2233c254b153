"""`xiaozhi-ops serve`: run the device server, HTTP API and scheduler on embedded defaults.

SIGTERM and SIGINT stop the service cleanly: it stops accepting (new webhooks get 503, the listening sockets close),
drains what is in flight (every alert already received is committed and answered), then closes the database.
A second signal while draining exits at once: whatever was acknowledged is already on disk.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the service (WebSocket :8000, HTTP :8003)")
    p.add_argument("--ws-port", type=int, default=None, help="device WebSocket port (default 8000)")
    p.add_argument("--http-port", type=int, default=None, help="HTTP port: OTA, webhooks, API (default 8003)")
    p.add_argument("--mcp-port", type=int, default=None, help="MCP over HTTP port (default 8004; 0 = any)")
    p.add_argument("--data-dir", default=None, help="runtime state directory (default ./data)")
    p.add_argument("--results-dir", default=None, help="analysis results (default ./analysis_results)")
    p.set_defaults(func=_serve)


async def run_until_signalled(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """``await start()``, wait for SIGTERM/SIGINT, then ``await stop()``. A second signal exits immediately."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stopping.is_set():
            log.warning("second %s while draining: exiting now", signal.Signals(signum).name)
            os._exit(128 + signum)
        log.info("%s received: draining and shutting down", signal.Signals(signum).name)
        stopping.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await start()
        await stopping.wait()
    finally:
        try:
            await stop()
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
    log.info("shut down cleanly")


def _serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.app import run_forever
    from server.config import get_settings

    overrides: dict[str, object] = {}
    if args.ws_port is not None:
        overrides["ws_port"] = args.ws_port
    if args.http_port is not None:
        overrides["http_port"] = args.http_port
    if args.mcp_port is not None:
        overrides["mcp_port"] = args.mcp_port
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    if args.results_dir:
        overrides["results_dir"] = Path(args.results_dir)
    settings = get_settings().model_copy(update=overrides)
    asyncio.run(run_forever(settings))
    return 0
