"""GA / PA / FGA / FTA on hand-made cases whose answers are worked out by hand."""

import pytest

from agents.mining.evaluate import (
    grouping_accuracy,
    normalise_template,
    parsing_accuracy,
    score,
    template_f1,
)

TRUTH = ["A <*>", "A <*>", "B <*>", "B <*>", "C"]


def test_perfect_grouping_is_one_whatever_the_labels():
    assert grouping_accuracy(TRUTH, [7, 7, 3, 3, 9]) == 1.0


def test_merging_two_true_groups_loses_both():
    # lines 0-3 in one predicted group: neither A nor B is reproduced, only C (1 of 5) is right
    assert grouping_accuracy(TRUTH, [1, 1, 1, 1, 2]) == pytest.approx(1 / 5)


def test_splitting_a_group_loses_only_that_group():
    assert grouping_accuracy(TRUTH, [1, 2, 3, 3, 4]) == pytest.approx(3 / 5)


def test_parsing_accuracy_normalises_space_and_adjacent_wildcards():
    assert normalise_template("  a   <*><*>  b ") == "a <*> b"
    assert parsing_accuracy(["a <*> b", "x <*>"], ["a  <*><*> b", "x <*> <*>"]) == 0.5


def test_template_f1_counts_groups_and_templates():
    fga, fta = template_f1(TRUTH, [1, 1, 2, 2, 3], ["A <*>", "A <*>", "B x", "B x", "C"])
    # all 3 groups right (FGA 1); 2 of 3 templates right: P = R = 2/3
    assert fga == 1.0
    assert fta == pytest.approx(2 / 3)


def test_template_f1_with_extra_predicted_groups():
    fga, _ = template_f1(TRUTH, [1, 2, 3, 3, 4], TRUTH)
    # 2 correct groups (B, C) of 4 predicted and 3 true: P = 1/2, R = 2/3
    assert fga == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))


def test_score_bundles_metrics_and_rejects_length_mismatch():
    s = score(TRUTH, [1, 1, 2, 2, 3], TRUTH, seconds=0.5)
    assert (s.ga, s.pa, s.templates, s.lines, s.lines_per_s) == (1.0, 1.0, 3, 5, 10.0)
    with pytest.raises(ValueError):
        grouping_accuracy(TRUTH, [1, 2])
