"""`xiaozhi-ops voiceprint eval DIR... [--json]`: enrol every speaker, identify every probe, leave-one-out."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("voiceprint", help="voiceprint tools")
    vsub = p.add_subparsers(dest="voiceprint_cmd", required=True)
    e = vsub.add_parser(
        "eval", help="evaluate identification on speaker directories (enroll_*.wav + probe_*.wav)"
    )
    e.add_argument("dirs", nargs="+", help="speaker directories, or directories of speaker directories")
    e.add_argument("--json", action="store_true", help="print the full report as JSON")
    e.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from server.voiceprint.audio import AudioError
    from server.voiceprint.encoder import get_encoder
    from server.voiceprint.evaluation import evaluate, find_speakers, format_report

    try:
        speakers = find_speakers([Path(d) for d in args.dirs])
    except (AudioError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not speakers:
        print("error: no speaker directories (with enroll_*.wav) found", file=sys.stderr)
        return 2
    encoder = get_encoder()
    encoder.warmup()
    report = evaluate(speakers, encoder)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_report(report))
    return 0
