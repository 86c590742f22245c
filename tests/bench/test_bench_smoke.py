"""The benchmark's statistics and result file, on known numbers: no stack, no real benchmark."""

from __future__ import annotations

import json
import threading
import time

import pytest

from bench import report
from bench.__main__ import parse_args
from bench.measure import (
    SCHEMA_VERSION,
    PeakSampler,
    figure,
    percentile,
    ratio_figure,
    schema_problems,
    write_result,
)


def test_figure_is_median_and_spread_of_its_samples():
    odd = figure([3.0, 1.0, 2.0], "s")
    assert (odd["median"], odd["min"], odd["max"], odd["n"]) == (2.0, 1.0, 3.0, 3)
    assert odd["samples"] == [3.0, 1.0, 2.0] and odd["unit"] == "s"
    even = figure([10, 1, 3, 2], "MiB")
    assert even["median"] == 2.5 and (even["min"], even["max"]) == (1, 10)
    with pytest.raises(ValueError):
        figure([], "s")


def test_ratio_pairs_each_repetition_with_its_own_baseline():
    ratio = ratio_figure([30.0, 20.0, 60.0], [10.0, 10.0, 20.0])
    assert ratio["samples"] == [3.0, 2.0, 3.0]
    assert (ratio["median"], ratio["min"], ratio["max"], ratio["unit"]) == (3.0, 2.0, 3.0, "x")
    with pytest.raises(ValueError):
        ratio_figure([1.0, 2.0], [1.0])


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([7.0], 99) == 7.0


def test_peak_sampler_keeps_the_highest_value_and_the_growth():
    values = iter([100.0, 180.0, 150.0, 120.0])
    lock = threading.Lock()

    def sample() -> dict[str, float]:
        with lock:
            return {"server": next(values, 120.0)}

    with PeakSampler(sample, interval=0.01) as sampler:
        deadline = time.monotonic() + 2
        while sampler.count < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert sampler.baseline == {"server": 100.0}
    assert sampler.peak["server"] == 180.0
    assert sampler.growth("server") == 80.0


def _tiny_result(cold_start: float) -> dict:
    measurements = {
        "stack_start": {"figures": {"cold.total_s": figure([cold_start, cold_start + 2, cold_start - 1],
                                                           "s")}},
        "serving": {"figures": {f"ratio.{cell}.rps_ours_over_mlflow": figure([1.2, 1.1, 0.9], "x")
                                for cell in report.SERVING_CELLS}},
    }
    return {
        "schema_version": SCHEMA_VERSION, "started": "2026-11-27T00:00:00+00:00",
        "finished": "2026-11-27T00:01:00+00:00", "options": {"only": ["stack"], "repeat": 3},
        "machine": {"cores_logical": 2, "memory_gib": 24.0, "cpu_model": "test CPU",
                    "python": "3.11", "versions": {"mlflow": "3.17.2"}, "load_average": [0.5]},
        "measurements": measurements,
        "targets": report.judge(measurements),
    }


def test_targets_are_met_missed_or_not_measured():
    fast = {t["name"]: t["met"] for t in _tiny_result(15.0)["targets"]}
    slow = {t["name"]: t["met"] for t in _tiny_result(25.0)["targets"]}
    assert fast["stack cold start"] is True and slow["stack cold start"] is False
    assert fast["serving throughput vs mlflow models serve"] is True  # medians 1.1 in every cell
    assert fast["idle stack PSS"] is None  # memory was not measured in this result


def test_a_valid_result_is_written_and_reads_back(tmp_path):
    result = _tiny_result(15.0)
    assert schema_problems(result) == []
    path = tmp_path / "results" / "latest.json"
    write_result(result, path)
    assert json.loads(path.read_text())["measurements"]["stack_start"]["figures"]["cold.total_s"][
        "median"] == 15.0
    assert "cold.total_s" in report.table(result)


def test_a_malformed_result_is_refused(tmp_path):
    result = _tiny_result(15.0)
    del result["measurements"]["stack_start"]["figures"]["cold.total_s"]["median"]
    result["targets"][0]["met"] = "yes"
    problems = schema_problems(result)
    assert any("cold.total_s: missing median" in p for p in problems)
    assert any("met must be" in p for p in problems)
    with pytest.raises(ValueError):
        write_result(result, tmp_path / "latest.json")
    assert not (tmp_path / "latest.json").exists()
    assert schema_problems({"schema_version": SCHEMA_VERSION}) != []


def test_options_quick_means_one_repetition_and_only_is_checked():
    assert parse_args(["--quick"]).repeat == 1
    assert parse_args([]).repeat == 3
    assert parse_args(["--only", "pipeline,serving"]).only == ["pipeline", "serving"]
    with pytest.raises(SystemExit):
        parse_args(["--only", "warp-drive"])
