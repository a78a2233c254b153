"""Loghub-2k (9 sets, 18k lines): all-in and leave-one-dataset-out accuracy, the CLI, Drain3 as an extra.

The miner has no per-dataset rules; the ground truth is read only to score. Precise numbers (and the full
threshold grid) are in bench/RESULTS.md; these margins hold with room to spare (the miner is deterministic).
"""

import json
import subprocess
import sys

import pytest

from agents.mining import evaluate as ev
from agents.mining.evaluate import (
    DEFAULT_CONFIG,
    PRIOR_CONFIG,
    MinerConfig,
    average,
    evaluate,
    find_datasets,
    leave_one_out,
    load_dataset,
)
from server.cli import main
from tests.paths import DATASETS

LOGHUB = DATASETS / "loghub2k"
pytestmark = pytest.mark.skipif(not LOGHUB.is_dir(), reason="shared Loghub-2k data not present")


def test_average_accuracy_on_all_nine_datasets_meets_the_targets():
    results = evaluate([LOGHUB], with_drain3=False)
    assert len(results) == 9
    avg = average([r.ours for r in results])
    per_set = {r.name: (round(r.ours.ga, 3), round(r.ours.pa, 3)) for r in results}
    assert avg.ga >= 0.95, per_set
    assert avg.pa >= 0.80, per_set
    assert min(r.ours.ga for r in results) >= 0.85, per_set  # no dataset left behind


def test_leave_one_dataset_out_chooses_on_the_other_sets_and_clears_the_targets():
    """A small grid (the full one runs in `mining eval --loo` and bench/mining.py). Each fold's choice must
    be the best on the *other* sets, and the held-out scores must still clear the issue's targets."""
    datasets = [load_dataset(p) for p in find_datasets([LOGHUB])]
    grid = (PRIOR_CONFIG, DEFAULT_CONFIG, MinerConfig(k_rare=0), MinerConfig(k_word=4, min_spread=0.5))
    folds = leave_one_out(datasets, grid)
    assert [f.held_out for f in folds] == [d.name for d in datasets]
    for fold, held in zip(folds, datasets, strict=True):
        others = [d for d in datasets if d is not held]
        chosen = sum(s.ga + s.pa for s in (ev.run(fold.config.parser(), d) for d in others))
        for cfg in grid:  # nothing on the other sets beats the chosen config
            assert sum(s.ga + s.pa for s in (ev.run(cfg.parser(), d) for d in others)) <= chosen + 1e-9
        break  # one fold re-checked in full is enough to keep the test quick
    loo = average([f.test for f in folds])
    per_set = {f.held_out: (round(f.test.ga, 3), round(f.test.pa, 3)) for f in folds}
    assert loo.ga >= 0.93, per_set
    assert loo.pa >= 0.90, per_set


def test_leave_one_out_needs_two_datasets():
    with pytest.raises(ValueError, match="at least two"):
        leave_one_out([load_dataset(LOGHUB / "HDFS")])


def test_find_datasets_accepts_a_parent_or_dataset_dirs(tmp_path):
    assert len(find_datasets([LOGHUB])) == 9
    assert [p.parent.name for p in find_datasets([LOGHUB / "HDFS", LOGHUB / "Apache"])] == ["HDFS", "Apache"]
    with pytest.raises(FileNotFoundError):
        find_datasets([tmp_path])


def test_cli_mining_eval_json_on_two_datasets_with_loo(capsys):
    args = ["mining", "eval", str(LOGHUB / "Apache"), str(LOGHUB / "OpenSSH"), "--json", "--loo"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in out["datasets"]] == ["Apache", "OpenSSH"]
    whos = ("ours", "drain3") if ev.drain3_available() else ("ours",)
    for d in out["datasets"]:
        for who in whos:
            s = d[who]
            assert 0.0 <= s["ga"] <= 1.0 and 0.0 <= s["pa"] <= 1.0
            assert s["lines"] == 2000 and s["lines_per_s"] > 0
    mean_ga = sum(d["ours"]["ga"] for d in out["datasets"]) / 2
    assert out["average"]["ours"]["ga"] == pytest.approx(mean_ga)
    loo = out["leave_one_out"]
    assert [f["held_out"] for f in loo["folds"]] == ["Apache", "OpenSSH"]
    assert loo["average"]["ga"] == pytest.approx(sum(f["test"]["ga"] for f in loo["folds"]) / 2)


def test_cli_mining_eval_table_and_bad_directory(capsys, tmp_path):
    assert main(["mining", "eval", str(LOGHUB / "HDFS"), "--no-drain3"]) == 0
    table = capsys.readouterr().out
    assert "HDFS" in table and "average" in table
    assert main(["mining", "eval", str(tmp_path / "missing")]) == 2
    assert "no such dataset directory" in capsys.readouterr().err


def test_cli_mining_eval_without_drain3_says_so_and_still_scores_ours(capsys, monkeypatch):
    monkeypatch.setattr(ev, "drain3_available", lambda: False)
    assert main(["mining", "eval", str(LOGHUB / "Apache"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "drain3 is not installed" in captured.err and "[eval]" in captured.err
    out = json.loads(captured.out)
    assert out["datasets"][0]["drain3"] is None and out["datasets"][0]["ours"]["ga"] > 0.9


def test_drain3_is_imported_only_when_compared():
    code = (
        "import sys, agents.mining, agents.mining.evaluate, server.commands.mining; "
        "assert 'drain3' not in sys.modules, 'drain3 imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
