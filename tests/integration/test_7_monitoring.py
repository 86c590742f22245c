"""The monitoring DAG on the live stack: served inputs against the champion's training data.

A check before any traffic says there is nothing to compare; traffic drawn like the training data
raises no alarm; traffic with half the columns shifted is found on exactly those columns, and only
then does the retraining asset get an event, which says why (checked through REST API v2).
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import (
    EXAMPLE_CSV,
    TEMPLATE,
    DagRun,
    alias_version,
    now,
    run_dag,
)

pytestmark = pytest.mark.integration

MONITORING_DAG_ID = TEMPLATE.MONITORING_DAG_ID
ROWS = 200
# Half of the ten features, each by about one standard deviation: Evidently's dataset-drift rule
# (the default threshold) fires at half the columns.
SHIFTS = {"age": 13.0, "bmi": 4.5, "bp": 14.0, "s1": 35.0, "s5": 0.5}


def traffic(seed: int, shifts: dict[str, float] | None = None) -> pd.DataFrame:
    """`ROWS` input rows drawn (seeded) from the example data, the dataset the champion learned
    from, with `shifts` added to some columns."""
    frame = pd.read_csv(EXAMPLE_CSV, sep=TEMPLATE.DATA.delimiter)[list(TEMPLATE.FEATURE_COLUMNS)]
    rows = frame.sample(ROWS, replace=True, random_state=seed).reset_index(drop=True)
    for column, shift in (shifts or {}).items():
        rows[column] = rows[column] + shift
    return rows


def log_served(rows: pd.DataFrame, version: str) -> None:
    """Write `rows` to the inference log as the model server does (LOOP contract 1-2: Parquet
    through MLflow's artifact proxy, partitioned by model and date), one request."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    served_at = now()
    log = pd.DataFrame({"request_id": uuid.uuid4().hex, "timestamp": served_at,
                        "model_name": TEMPLATE.REGISTERED_MODEL_NAME, "model_version": version},
                       index=rows.index)
    log = pd.concat([log, rows, pd.DataFrame({"prediction": 0.0}, index=rows.index)], axis=1)
    folder = (f"mlflow-artifacts:/{TEMPLATE.INFERENCE_LOG_PREFIX}/"
              f"{TEMPLATE.REGISTERED_MODEL_NAME}/date={served_at:%Y-%m-%d}")
    with tempfile.TemporaryDirectory() as local:
        file = Path(local) / f"{served_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4()}.parquet"
        log.to_parquet(file, index=False)
        get_artifact_repository(folder).log_artifact(str(file))


def monitor(api: AirflowAPI, since: datetime) -> DagRun:
    run = run_dag(api, {"since": since.isoformat()}, dag_id=MONITORING_DAG_ID)
    assert_succeeded(api, run, MONITORING_DAG_ID)
    return run


def monitoring_run(mlflow_api, dag_run_id: str):
    experiment = mlflow_api.get_experiment_by_name(TEMPLATE.MONITORING_EXPERIMENT_NAME)
    (run,) = mlflow_api.search_runs([experiment.experiment_id],
                                    filter_string=f"tags.`airflow.dag_run_id` = '{dag_run_id}'")
    return run


def events(api: AirflowAPI, run: DagRun) -> list[dict]:
    return api.asset_events(source_dag_id=MONITORING_DAG_ID, source_run_id=run.run_id)


@pytest.fixture(scope="module")
def champion(mlflow_api, first_run: DagRun) -> str:
    return alias_version(mlflow_api, TEMPLATE.REGISTERED_MODEL_NAME)


def test_a_check_before_any_traffic_says_nothing_to_compare_and_emits_no_event(
        api: AirflowAPI, mlflow_api, champion: str) -> None:
    run = monitor(api, since=now())
    assert run.task("check")["state"] == "success"
    assert run.task("request_retraining")["state"] == "skipped"
    assert events(api, run) == []
    checked = monitoring_run(mlflow_api, run.run_id)
    assert checked.data.tags["status"] == "nothing to compare yet"
    assert checked.data.tags["champion_version"] == champion
    assert checked.data.metrics["served_rows"] == 0
    assert "nothing to compare yet" in api.task_log(MONITORING_DAG_ID, run.run_id, "check", 1)


def test_traffic_drawn_like_the_training_data_raises_no_alarm(
        api: AirflowAPI, mlflow_api, champion: str) -> None:
    since = now()
    log_served(traffic(seed=1), champion)
    run = monitor(api, since)
    assert run.task("request_retraining")["state"] == "skipped"
    assert events(api, run) == []
    checked = monitoring_run(mlflow_api, run.run_id)
    metrics = checked.data.metrics
    assert metrics["served_rows"] == ROWS
    assert metrics["drift_share"] < TEMPLATE.MONITORING.drift_share_threshold
    assert {f"drift_score.{name}" for name in TEMPLATE.FEATURE_COLUMNS} <= set(metrics)
    assert checked.data.tags["retraining"] == "not needed"
    reports = [item.path for item in mlflow_api.list_artifacts(checked.info.run_id, "reports")]
    assert reports == ["reports/drift_report.html"]


def test_shifted_columns_are_found_exactly_and_the_asset_event_says_why(
        api: AirflowAPI, mlflow_api, champion: str, live_stack: LiveStack) -> None:
    since = now()
    log_served(traffic(seed=2, shifts=SHIFTS), champion)
    run = monitor(api, since)
    assert run.task("request_retraining")["state"] == "success"
    checked = monitoring_run(mlflow_api, run.run_id)
    drifted = sorted(SHIFTS)
    assert checked.data.tags["drifted_columns"] == ", ".join(drifted)
    assert {name for name in TEMPLATE.FEATURE_COLUMNS
            if checked.data.metrics[f"drift_detected.{name}"] == 1.0} == set(drifted)

    (event,) = events(api, run)
    assert (event["name"], event["uri"]) == (TEMPLATE.RETRAINING_ASSET_NAME,
                                             TEMPLATE.RETRAINING_ASSET_URI)
    extra = event["extra"]
    assert extra["reason"] == "drift"
    assert extra["drifted_columns"] == drifted
    assert extra["drift_share"] == pytest.approx(len(drifted) / len(TEMPLATE.FEATURE_COLUMNS))
    assert extra["monitoring_run_id"] == checked.info.run_id
    assert "data_location" not in extra  # the source offers the champion's own data: no batch
