"""The monitoring DAG on the live stack: served inputs against the champion's training data.

A check before any traffic says there is nothing to compare; traffic drawn like the training data
raises no alarm; traffic with half the columns shifted is found on exactly those columns, and only
then does the retraining asset get an event, which says why (checked through REST API v2). The
traffic is real: requests to the model server, read back from its inference log.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from stack.airflow_api import AirflowAPI
from stack.drift_traffic import (
    columns_to_shift,
    logged_rows,
    send,
    shifted_rows,
    training_like_rows,
)
from stack.settings import Settings
from tests.conftest import LiveStack
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import (
    TEMPLATE,
    DagRun,
    alias_version,
    now,
    run_dag,
    wait_until,
)

pytestmark = pytest.mark.integration

MONITORING_DAG_ID = TEMPLATE.MONITORING_DAG_ID
MODEL = TEMPLATE.REGISTERED_MODEL_NAME
ROWS = 200
# Enough continuous columns to reach the default drift share (half of the ten features), each
# moved by two standard deviations: make demo-drift's shift.
SHIFTED = columns_to_shift(TEMPLATE)


def serve(settings: Settings, rows: pd.DataFrame) -> datetime:
    """Send `rows` to the model server; return when they were sent, once its inference log holds
    them all."""
    since = now()
    send(settings.model_server_url, MODEL, rows, per_request=20)
    wait_until(lambda: logged_rows(settings, TEMPLATE.INFERENCE_LOG_PREFIX, MODEL, since)
               >= len(rows), 90, f"the inference log holding the {len(rows)} rows sent")
    return since


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
        api: AirflowAPI, mlflow_api, champion: str, live_stack: LiveStack) -> None:
    since = serve(live_stack.settings, training_like_rows(TEMPLATE, ROWS, seed=1))
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
    since = serve(live_stack.settings, shifted_rows(TEMPLATE, ROWS, seed=2, columns=SHIFTED))
    run = monitor(api, since)
    assert run.task("request_retraining")["state"] == "success"
    checked = monitoring_run(mlflow_api, run.run_id)
    drifted = sorted(SHIFTED)
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
