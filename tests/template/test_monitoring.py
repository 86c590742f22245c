"""The monitoring check's parts: Evidently's per-column verdicts (under pandas 3), the dataset-drift
rule, the window of served inputs, the champion's lineage, and what asks for retraining."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from conftest import ELASTIC_NET, EXAMPLE_CSV, MEAN_ONLY, run_lifecycle

from project_template import config
from project_template.Data.read_data import DataSource
from project_template.mlops_platform.dataset_store import load_frame
from project_template.mlops_platform.description import ColumnSpec, Schema
from project_template.mlops_platform.drift import ColumnDrift, DriftResult, comparable, compare, parse_drift
from project_template.mlops_platform.labeled_batch import newer_labeled_batch, performance_drop
from project_template.mlops_platform.lineage import champion_lineage
from project_template.mlops_platform.retraining import retraining_reason
from project_template.mlops_platform.served_inputs import Window, in_window

LOCAL = DataSource("local", str(EXAMPLE_CSV))

# Numeric and categorical columns, as Evidently tests each kind differently (K-S, chi-square/Z).
MIXED = Schema(ColumnSpec("y", "numeric"), (
    ColumnSpec("a", "numeric"), ColumnSpec("b", "numeric"), ColumnSpec("c", "numeric"),
    ColumnSpec("d", "numeric"), ColumnSpec("colour", "categorical", categories=("red", "blue")),
    ColumnSpec("size", "categorical", categories=("s", "m", "l"))))


def _mixed(rows: int, seed: int, shift: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in "abcd"})
    frame["colour"] = rng.choice(["red", "blue"], rows, p=[0.5, 0.5])
    frame["size"] = rng.choice(["s", "m", "l"], rows, p=[0.3, 0.4, 0.3])
    for name in shift:
        if name == "colour":
            frame[name] = rng.choice(["red", "blue"], rows, p=[0.9, 0.1])
        else:
            frame[name] = frame[name] + 1.5
    return frame


def test_samples_of_the_reference_distribution_never_pass_the_default_threshold(tmp_path):
    # Each column is tested at 5 %, so a column drifts by chance now and then (Evidently's
    # chi-square test more often: measured 4 verdicts of 60 here, 2 of them `size`). The rule
    # at the default share, half the columns, never fired on these ten seeds.
    reference = _mixed(400, 1)
    shares = [compare(reference, _mixed(200, seed), MIXED, tmp_path / "report.html").share
              for seed in range(2, 12)]
    assert max(shares) < config.MONITORING.drift_share_threshold == 0.5
    assert sum(shares) / len(shares) < 0.1
    assert "<html" in (tmp_path / "report.html").read_text()[:2000].lower()


def test_evidently_names_exactly_the_shifted_columns_numeric_and_categorical(tmp_path):
    drift = compare(_mixed(400, 1), _mixed(200, 3, shift=("a", "b", "colour")), MIXED,
                    tmp_path / "report.html")
    assert drift.drifted_columns == ["a", "b", "colour"]
    assert drift.share == pytest.approx(0.5)
    assert drift.passes(0.5) and not drift.passes(0.6)
    assert drift.columns["a"].method.startswith("K-S") and drift.columns["a"].score < 0.05
    assert "colour" in drift.columns and drift.columns["size"].drifted is False


def test_the_pandas_3_shim_raises_a_clear_error_if_evidently_ever_calls_the_removed_function():
    import os

    import pandas.core.dtypes.common as pandas_dtypes

    from project_template.mlops_platform import evidently_compat  # noqa: F401

    assert os.environ["DO_NOT_TRACK"]  # no usage events to Evidently's server
    with pytest.raises(NotImplementedError, match="pandas 3 removed"):
        pandas_dtypes.infer_dtype_from_object(int)


def test_served_json_values_compare_as_the_stored_copy_types():
    served = pd.DataFrame({"a": [1, "2", 3.0], "b": [0, 0, 0], "c": [0] * 3, "d": [0] * 3,
                           "colour": ["red", "blue", "red"], "size": ["s", "m", "l"],
                           "prediction": [1, 2, 3]})
    typed = comparable(served, MIXED)
    assert list(typed.columns) == ["a", "b", "c", "d", "colour", "size"]
    assert typed["a"].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"lack the feature column\(s\) colour"):
        comparable(served.drop(columns="colour"), MIXED)


def test_parse_drift_needs_a_verdict_for_every_score():
    metric = {"config": {"type": "evidently:metric_v2:ValueDrift", "column": "a",
                         "method": "K-S p_value"}, "value": 0.01}
    verdict = {"metric_config": {"params": {"type": "evidently:metric_v2:ValueDrift",
                                            "column": "a"}}, "status": "FAIL"}
    assert parse_drift({"metrics": [metric], "tests": [verdict]}).drifted_columns == ["a"]
    with pytest.raises(ValueError, match="include_tests=True"):
        parse_drift({"metrics": [metric], "tests": []})


@pytest.mark.parametrize("drifted, threshold, passes", [
    (0, 0.5, False), (4, 0.5, False), (5, 0.5, True), (10, 0.5, True), (1, 0.1, True)])
def test_the_dataset_drift_rule_is_a_share_at_least_the_threshold(drifted, threshold, passes):
    columns = {f"x{i}": ColumnDrift(0.0 if i < drifted else 1.0, "K-S p_value", i < drifted)
               for i in range(10)}
    assert DriftResult(columns).passes(threshold) is passes
    assert not DriftResult({}).passes(threshold)


def test_the_window_is_the_last_hours_or_since_a_moment_and_names_its_date_partitions():
    end = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    window = Window.ending(end, hours=3)
    assert window.start == datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    assert [day.isoformat() for day in window.dates()] == ["2026-03-01", "2026-03-02"]
    since = end - timedelta(minutes=5)
    assert Window.ending(end, hours=3, since=since).start == since
    with pytest.raises(ValueError, match="timezone-aware"):
        Window.ending(end.replace(tzinfo=None), hours=1)


def test_only_rows_served_inside_the_window_by_the_champion_count():
    end = datetime(2026, 3, 2, 12, tzinfo=UTC)
    rows = pd.DataFrame({
        "timestamp": pd.to_datetime([end - timedelta(hours=2), end - timedelta(minutes=30),
                                     end - timedelta(minutes=10), end], utc=True),
        "model_version": ["3", "3", "2", "3"], "age": [1, 2, 3, 4]})
    window = Window.ending(end, hours=1)
    assert in_window(rows, window)["age"].tolist() == [2, 3]  # the end itself is outside
    assert in_window(rows, window, model_version="3")["age"].tolist() == [2]


@pytest.mark.parametrize("metric, recorded, new, drop", [
    ("r2_test", 0.5, 0.4, 0.2), ("r2_test", 0.5, 0.6, -0.2),
    ("rmse_test", 50.0, 60.0, 0.2), ("rmse_test", 50.0, 40.0, -0.2)])
def test_a_performance_drop_is_relative_and_knows_which_way_is_better(metric, recorded, new, drop):
    assert performance_drop(recorded, new, metric) == pytest.approx(drop)


def test_an_undefined_score_is_no_evidence_of_a_drop():
    assert math.isnan(performance_drop(0.5, math.nan, "r2_test"))


def test_the_retraining_reason_names_what_passed_its_threshold():
    assert retraining_reason(False, False) is None
    assert retraining_reason(True, False) == "drift"
    assert retraining_reason(False, True) == "performance"
    assert retraining_reason(True, True) == "drift+performance"


def test_lineage_leads_from_the_champion_to_its_training_split(experiment):
    model = f"{experiment}-model"
    assert champion_lineage(model, "champion") is None
    run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])
    result = run_lifecycle(LOCAL, experiment, model, [MEAN_ONLY])  # a challenger, not champion
    champion = champion_lineage(model, "champion")
    assert champion.version == "1"
    assert champion.run_id != result["best"]["run_id"]
    assert champion.data_version == result["data"]["data_version"]
    training = load_frame(champion.training_data_uri)
    assert len(training) == len(load_frame(result["splits"]["train"]))
    assert list(training.columns) == [*config.FEATURE_COLUMNS, config.TARGET_COLUMN]
    assert champion.recorded_scores["r2_test"] > 0.3


def test_a_labeled_batch_counts_only_when_it_is_not_the_champions_training_data(tmp_path):
    from project_template.mlops_platform.dataset_store import data_version

    trained_on = data_version(EXAMPLE_CSV.read_bytes())
    assert newer_labeled_batch(trained_on, LOCAL) is None
    newer = tmp_path / "newer.csv"
    newer.write_bytes(EXAMPLE_CSV.read_bytes().rstrip(b"\n").rsplit(b"\n", 20)[0] + b"\n")
    batch = newer_labeled_batch(trained_on, DataSource("local", str(newer)))
    assert batch is not None and batch.data_version != trained_on
    assert len(batch.frame) == len(pd.read_csv(EXAMPLE_CSV, sep=";")) - 20
    assert newer_labeled_batch(trained_on, DataSource("local", str(tmp_path / "gone.csv"))) is None


@pytest.fixture
def monitored(experiment, tmp_path, monkeypatch):
    """The template's config pointed at this test's model and a monitoring experiment of its own,
    with a champion trained by the lifecycle's steps on the example data."""
    from mlflow.tracking import MlflowClient

    from project_template.mlops_platform import monitoring

    model = f"{experiment}-model"
    run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])
    monitoring_experiment = f"{experiment}-monitoring"
    MlflowClient().create_experiment(monitoring_experiment,
                                     artifact_location=(tmp_path / "monitoring").as_uri())
    monkeypatch.setattr(config, "REGISTERED_MODEL_NAME", model)
    monkeypatch.setattr(config, "MONITORING_EXPERIMENT_NAME", monitoring_experiment)
    return monitoring


def _serving(monkeypatch, monitoring, rows: pd.DataFrame) -> None:
    # The inference log is read through MLflow's artifact proxy, which needs the tracking server;
    # the live tests read it (tests/integration/test_7_monitoring.py). Here: these rows.
    monkeypatch.setattr(monitoring, "read_served_inputs", lambda *_args, **_kwargs: rows)


def _offering(monkeypatch, source: DataSource) -> None:
    from project_template.mlops_platform import labeled_batch

    monkeypatch.setattr(labeled_batch, "resolve_data_source", lambda: source)


def _window() -> Window:
    return Window.ending(datetime.now(UTC), hours=1)


def test_a_check_with_too_few_rows_and_no_new_batch_has_nothing_to_compare(monitored,
                                                                           monkeypatch):
    from mlflow.tracking import MlflowClient

    _serving(monkeypatch, monitored, pd.DataFrame())
    _offering(monkeypatch, LOCAL)  # the data the champion was trained on
    summary = monitored.run_check(_window(), "manual__nothing")
    assert summary["retraining"] is None
    assert summary["status"].startswith("nothing to compare yet: 0 served rows")
    run = MlflowClient().get_run(summary["monitoring_run_id"])
    assert run.data.tags["status"] == "nothing to compare yet"
    assert run.data.metrics["served_rows"] == 0


def test_a_newer_batch_the_champion_scores_badly_on_asks_for_retraining_by_performance(
        monitored, monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    frame = pd.read_csv(EXAMPLE_CSV, sep=";")
    served = frame[list(config.FEATURE_COLUMNS)].sample(200, replace=True, random_state=1)
    _serving(monkeypatch, monitored, served)
    # Newer labels that no longer follow the inputs: the champion's r2 collapses.
    frame[config.TARGET_COLUMN] = np.random.default_rng(0).permutation(
        frame[config.TARGET_COLUMN].to_numpy())
    newer = tmp_path / "newer.csv"
    frame.to_csv(newer, sep=";", index=False)
    _offering(monkeypatch, DataSource("local", str(newer)))

    summary = monitored.run_check(_window(), "manual__performance")
    extra = summary["retraining"]
    run = MlflowClient().get_run(summary["monitoring_run_id"])
    version = MlflowClient().get_model_version_by_alias(config.REGISTERED_MODEL_NAME, "champion")
    assert extra["reason"] == "performance"  # the inputs themselves did not drift
    assert extra["drifted_columns"] == [] and extra["drift_share"] < 0.5
    assert extra["monitoring_run_id"] == run.info.run_id
    assert extra["metric"] == "r2_test"
    assert extra["champion_score_recorded"] == float(version.tags["candidate_r2_test"])
    assert extra["champion_score_new_batch"] < extra["champion_score_recorded"] - 0.2
    assert extra["data_location"] == str(newer)
    metrics = run.data.metrics
    assert metrics["served_rows"] == 200 and metrics["new_batch_rows"] == len(frame)
    assert metrics["performance_drop"] > config.MONITORING.performance_drop_threshold
    assert metrics["champion_r2_test_new_batch"] == extra["champion_score_new_batch"]
    assert {f"drift_score.{name}" for name in config.FEATURE_COLUMNS} <= set(metrics)
    assert {f"new_batch_drift_score.{name}" for name in config.FEATURE_COLUMNS} <= set(metrics)
    reports = {item.path for item in MlflowClient().list_artifacts(run.info.run_id, "reports")}
    assert reports == {"reports/drift_report.html", "reports/new_batch_drift_report.html"}
    assert run.data.tags["retraining"] == "performance"
