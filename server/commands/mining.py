"""`xiaozhi-ops mining eval DIR... [--json]`: template-mining accuracy on labelled logs, ours vs Drain3."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mining", help="log template mining")
    msub = p.add_subparsers(dest="mining_cmd", required=True)
    e = msub.add_parser(
        "eval",
        help="GA/PA/FGA/FTA on Loghub-style datasets (ours and Drain3)",
        description="Each DIR is a dataset directory (holding *_structured_corrected.csv or *_structured.csv) "
        "or a parent of several.",
    )
    e.add_argument("dirs", nargs="+", metavar="DIR")
    e.add_argument("--json", action="store_true", help="print machine-readable results")
    e.add_argument("--no-drain3", action="store_true", help="skip the Drain3 comparison")
    e.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    import json
    import sys

    from agents.mining.evaluate import average, evaluate, format_table

    try:
        results = evaluate(args.dirs, with_drain3=not args.no_drain3)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mining eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = {
            "datasets": [
                {
                    "name": r.name,
                    "truth_templates": r.truth_templates,
                    "ours": r.ours.as_dict(),
                    "drain3": r.drain3.as_dict() if r.drain3 else None,
                }
                for r in results
            ],
            "average": {
                "ours": average([r.ours for r in results]).as_dict(),
                "drain3": average([r.drain3 for r in results if r.drain3]).as_dict()
                if not args.no_drain3
                else None,
            },
        }
        print(json.dumps(out, indent=2))
    else:
        print(format_table(results))
    return 0
