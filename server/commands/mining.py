"""`xiaozhi-ops mining eval DIR... [--loo] [--json] [--no-drain3]`: template-mining accuracy on labelled logs.

Ours (default thresholds) next to Drain3 when the optional extra ``eval`` is installed; ``--loo`` adds the
leave-one-dataset-out estimate: for each dataset the thresholds are chosen on the others only.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mining", help="log template mining")
    msub = p.add_subparsers(dest="mining_cmd", required=True)
    e = msub.add_parser(
        "eval",
        help="GA/PA/FGA/FTA on Loghub-style datasets (ours, Drain3 and leave-one-dataset-out)",
        description="Each DIR is a dataset directory (holding *_structured_corrected.csv or *_structured.csv) "
        "or a parent of several. Drain3 is compared when installed (pip install -e '.[eval]').",
    )
    e.add_argument("dirs", nargs="+", metavar="DIR")
    e.add_argument("--json", action="store_true", help="print machine-readable results")
    e.add_argument("--no-drain3", action="store_true", help="skip the Drain3 comparison")
    e.add_argument(
        "--loo",
        action="store_true",
        help="also evaluate leave-one-dataset-out (thresholds chosen without the held-out set; needs ≥ 2 sets)",
    )
    e.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    import json
    import sys

    from agents.mining.evaluate import (
        DRAIN3_MISSING,
        average,
        drain3_available,
        evaluate,
        find_datasets,
        format_loo,
        format_table,
        leave_one_out,
        load_dataset,
    )

    with_drain3 = not args.no_drain3
    if with_drain3 and not drain3_available():
        print(f"mining eval: {DRAIN3_MISSING}", file=sys.stderr)
        with_drain3 = False
    try:
        results = evaluate(args.dirs, with_drain3=with_drain3)
        folds = None
        if args.loo:
            folds = leave_one_out([load_dataset(f) for f in find_datasets(args.dirs)])
    except (FileNotFoundError, ValueError) as exc:
        print(f"mining eval: {exc}", file=sys.stderr)
        return 2
    ours_avg = average([r.ours for r in results])
    drain_avg = average([r.drain3 for r in results if r.drain3]) if with_drain3 else None
    if args.json:
        out: dict[str, object] = {
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
                "ours": ours_avg.as_dict(),
                "drain3": drain_avg.as_dict() if drain_avg else None,
            },
        }
        if folds is not None:
            out["leave_one_out"] = {
                "folds": [
                    {
                        "held_out": f.held_out,
                        "config": f.config.label(),
                        "train": f.train.as_dict(),
                        "test": f.test.as_dict(),
                    }
                    for f in folds
                ],
                "average": average([f.test for f in folds]).as_dict(),
            }
        print(json.dumps(out, indent=2))
    else:
        print(format_table(results))
        if drain_avg is not None and drain_avg.lines_per_s > 0:
            print(f"\nspeed: ours {ours_avg.lines_per_s / drain_avg.lines_per_s:.1f}x Drain3 (same run)")
        if folds is not None:
            print("\nleave one dataset out (thresholds chosen on the other sets):")
            print(format_loo(folds, ours_avg))
    return 0
