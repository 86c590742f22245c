"""bench.against's bookkeeping on known numbers: turns, figures per side, after ÷ before."""

from __future__ import annotations

import pytest

from bench import against


def result(figures: dict[str, float], error: str | None = None) -> dict:
    body = {"figures": {label: {"unit": "s", "median": value, "min": value, "max": value,
                                "n": 1, "samples": [value]}
                        for label, value in figures.items()},
            "details": {"run": 1}}
    if error:
        body["error"] = error
    return {"measurements": {"pipeline": body}}


def test_each_turn_is_paired_with_the_before_of_the_same_turn():
    before = [result({"dag_s": 40.0, "gap_s": 2.0}), result({"dag_s": 60.0, "gap_s": 2.0})]
    after = [result({"dag_s": 20.0, "gap_s": 1.0}), result({"dag_s": 45.0, "gap_s": 3.0})]
    compared = against.comparison(before, after)
    dag = compared["pipeline.dag_s"]
    assert dag["before"]["samples"] == [40.0, 60.0] and dag["after"]["samples"] == [20.0, 45.0]
    assert dag["after_over_before"]["samples"] == [0.5, 0.75]
    assert compared["pipeline.gap_s"]["after_over_before"]["samples"] == [0.5, 1.5]


def test_a_figure_missing_from_a_turn_is_not_compared():
    before = [result({"dag_s": 40.0, "new_s": 1.0}), result({"dag_s": 50.0})]
    after = [result({"dag_s": 20.0, "new_s": 1.0}), result({"dag_s": 25.0, "new_s": 2.0})]
    assert set(against.comparison(before, after)) == {"pipeline.dag_s"}


def test_a_zero_before_gives_no_ratio():
    compared = against.comparison([result({"x": 0.0})], [result({"x": 1.0})])
    assert "after_over_before" not in compared["pipeline.x"]


def test_one_side_merges_its_turns_and_keeps_their_errors():
    merged = against.merged([result({"dag_s": 10.0}), result({"dag_s": 30.0}, error="boom")])
    fig = merged["pipeline"]["figures"]["dag_s"]
    assert (fig["median"], fig["n"], fig["samples"]) == (20.0, 2, [10.0, 30.0])
    assert merged["pipeline"]["errors"] == ["boom"]
    assert len(merged["pipeline"]["details"]["turns"]) == 2


def test_an_unknown_revision_is_named(capsys):
    with pytest.raises(SystemExit) as stopped:
        against.checkout("no-such-revision-anywhere")
    assert "'no-such-revision-anywhere' is not a revision" in str(stopped.value)


def test_repeat_must_be_positive():
    with pytest.raises(SystemExit):
        against.parse_args(["HEAD", "--repeat", "0"])
    assert against.parse_args(["HEAD"]).only == "stack,memory,pipeline,ids"
