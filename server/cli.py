"""`xiaozhi-ops` command line. Each sub-command lives in its own module exposing ``register(subparsers)``.

Modules are imported when the CLI starts, so they must keep heavy imports (torch, whisper, chromadb)
inside their handler functions.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# module path -> registers one or more sub-commands
COMMAND_MODULES = (
    "server.commands.serve",
    "server.commands.models",
    "server.commands.device",
    "server.commands.pipeline",
    "server.commands.mining",
    "server.commands.voiceprint",
    "server.commands.owners",
    "server.commands.cases",
    "server.commands.mcp",
    "server.commands.tokens",
    "server.commands.alerting",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xiaozhi-ops", description="Voice AIOps companion for xiaozhi robots"
    )
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING (default from XOPS_LOG_LEVEL)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside the module
                raise
            continue  # sub-command not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from server.config import get_settings

    level = args.log_level or get_settings().log_level
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `xiaozhi-ops cases list | head`: the reader left; exit quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not raise again
        return 0
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
