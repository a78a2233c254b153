"""`xiaozhi-ops serve`: run the device server, HTTP API and scheduler on embedded defaults."""

from __future__ import annotations

import argparse
import contextlib


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the service (WebSocket :8000, HTTP :8003)")
    p.add_argument("--ws-port", type=int, default=None, help="device WebSocket port (default 8000)")
    p.add_argument("--http-port", type=int, default=None, help="HTTP port: OTA, webhooks, API (default 8003)")
    p.add_argument("--data-dir", default=None, help="runtime state directory (default ./data)")
    p.add_argument("--results-dir", default=None, help="analysis results (default ./analysis_results)")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from server.app import run_forever
    from server.config import get_settings

    overrides: dict[str, object] = {}
    if args.ws_port is not None:
        overrides["ws_port"] = args.ws_port
    if args.http_port is not None:
        overrides["http_port"] = args.http_port
    if args.data_dir:
        overrides["data_dir"] = Path(args.data_dir)
    if args.results_dir:
        overrides["results_dir"] = Path(args.results_dir)
    settings = get_settings().model_copy(update=overrides)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_forever(settings))
    return 0
