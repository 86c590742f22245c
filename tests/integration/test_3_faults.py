"""A second run that meets every recoverable fault, on data that makes all its candidates worse.

One run, to spare minutes: the IDS cloud connector answers 5xx until `read_data`'s first try has
failed; while that retry waits, the scheduler is killed (its whole process group, as a crash
would); while the first candidate trains, MLflow is stopped and started again. The run must
still succeed, and, its candidates all being worse, leave the champion where it was.

The scheduler is killed while no task runs, on purpose: a task whose LocalExecutor worker dies
with the scheduler is only failed by Airflow after `task_instance_heartbeat_timeout` (300 s),
which would test Airflow's timeout rather than our stack.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import (
    CHALLENGER,
    DAG_ID,
    EXAMPLE_CSV,
    TARGET_COLUMN,
    TEMPLATE,
    DagRun,
    alias_version,
    candidate_runs,
    dag_params,
    now,
    offer_on_edge,
    parse_time,
    promotion_metric,
    run_dag,
    served_version,
    set_cloud_faults,
    task_proxy_url,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.controls_stack]

BUSY_STATES = {"running", "queued"}


def worse_dataset() -> bytes:
    """The example data with the target shuffled on every row the template trains on.

    The template's seeded split keeps the same rows for its test part whatever their values, so
    the test rows stay true: the champion keeps its score there, while candidates that learned
    from shuffled targets predict noise.
    """
    from project_template.Process.data_processing import split_dataset

    frame = pd.read_csv(EXAMPLE_CSV, sep=";")
    learned = ~frame.index.isin(split_dataset(frame)["test"].index)
    shuffled = np.random.default_rng(0).permutation(frame.loc[learned, TARGET_COLUMN].to_numpy())
    frame.loc[learned, TARGET_COLUMN] = shuffled
    out = io.StringIO()
    frame.to_csv(out, sep=";", index=False)
    return out.getvalue().encode()


@dataclass
class FaultyRun:
    run: DagRun
    champion_before: str
    killed_scheduler_pid: int = 0
    scheduler_killed_at: datetime | None = None
    mlflow_stopped_at: datetime | None = None
    mlflow_back_at: datetime | None = None
    training_during_outage: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def faulty_run(api: AirflowAPI, mlflow_api, first_run: DagRun,
               live_stack: LiveStack) -> FaultyRun:
    settings = live_stack.settings
    title = f"{TEMPLATE.EXPERIMENT_NAME}-worse-{first_run.run_id[-6:]}"
    offer_on_edge(settings, title, worse_dataset())
    record = FaultyRun(DagRun("", {}, ""), alias_version(mlflow_api,
                                                         TEMPLATE.REGISTERED_MODEL_NAME))

    def busy(run_id: str) -> bool:
        return any(ti["state"] in BUSY_STATES for ti in api.task_instances(DAG_ID, run_id))

    def inject(ti: dict) -> None:
        if ti["task_id"] == "read_data" and ti["state"] == "up_for_retry" \
                and not record.killed_scheduler_pid:
            set_cloud_faults(settings, {})  # the connector recovers ...
            # ... and the scheduler crashes while the retry waits (see the module's docstring).
            wait_until(lambda: not busy(ti["dag_run_id"]), 60, "a moment with no task running")
            record.killed_scheduler_pid = live_stack.kill_service("airflow-scheduler")
            record.scheduler_killed_at = now()
        if ti["task_id"] == "model_training" and ti["state"] == "running" \
                and record.mlflow_stopped_at is None:
            live_stack.stop_service("mlflow")
            record.mlflow_stopped_at = now()
            record.training_during_outage = [
                t["map_index"] for t in api.task_instances(DAG_ID, ti["dag_run_id"])
                if t["task_id"] == "model_training" and t["state"] == "running"]
            live_stack.start_service("mlflow")
            live_stack.ready("mlflow")
            record.mlflow_back_at = now()

    set_cloud_faults(settings, {"error_rate": 1.0, "error_status": 503})
    try:
        record.run = run_dag(api, {"data_source": "ids", "data_location": title}, on_change=inject)
    finally:
        set_cloud_faults(settings, {})
        if live_stack.service_pid("mlflow") == 0:
            live_stack.start_service("mlflow")
    return record


def test_the_faulty_run_succeeds(api: AirflowAPI, faulty_run: FaultyRun) -> None:
    assert_succeeded(api, faulty_run.run)


def test_read_data_retried_through_the_ids_outage(api: AirflowAPI, faulty_run: FaultyRun,
                                                  live_stack: LiveStack) -> None:
    read = faulty_run.run.task("read_data")
    assert (read["state"], read["try_number"]) == ("success", 2)
    first_try = api.task_log(DAG_ID, faulty_run.run.run_id, "read_data", 1)
    proxy = task_proxy_url(live_stack.task_environment())
    assert f"failed at {proxy}: HTTP 503" in first_try, first_try[-2000:]


def test_the_scheduler_killed_during_the_run_came_back_and_finished_it(
        api: AirflowAPI, faulty_run: FaultyRun, live_stack: LiveStack) -> None:
    assert faulty_run.scheduler_killed_at is not None, "read_data never waited for a retry"
    pid = live_stack.service_pid("airflow-scheduler")
    assert pid not in (0, faulty_run.killed_scheduler_pid), "supervision did not restart it"
    assert api.health()["scheduler"]["status"] == "healthy"
    # Everything after the kill was scheduled by the new scheduler.
    retry = faulty_run.run.task("read_data")
    assert parse_time(retry["start_date"]) > faulty_run.scheduler_killed_at
    assert faulty_run.run.state == "success"


def test_training_survived_the_mlflow_outage(faulty_run: FaultyRun, mlflow_api,
                                             live_stack: LiveStack) -> None:
    assert faulty_run.training_during_outage, "MLflow was stopped while no training ran"
    training = {ti["map_index"]: ti for ti in faulty_run.run.tasks("model_training")}
    for index in faulty_run.training_during_outage:
        assert training[index]["state"] == "success"
        assert parse_time(training[index]["end_date"]) > faulty_run.mlflow_back_at
    finished = {run.data.tags["candidate"] for run in
                candidate_runs(mlflow_api, live_stack.settings, faulty_run.run.run_id)
                if run.info.status == "FINISHED"}
    assert len(finished) == len(training)


def test_worse_candidates_leave_the_champion_where_it_was(
        api: AirflowAPI, faulty_run: FaultyRun, mlflow_api, live_stack: LiveStack) -> None:
    settings = live_stack.settings
    name = TEMPLATE.REGISTERED_MODEL_NAME
    assert faulty_run.run.state == "success"
    run_ids = {run.info.run_id
               for run in candidate_runs(mlflow_api, settings, faulty_run.run.run_id)}
    (registered,) = [v for v in mlflow_api.search_model_versions(f"name = '{name}'")
                     if v.run_id in run_ids]
    assert alias_version(mlflow_api, name) == faulty_run.champion_before
    assert alias_version(mlflow_api, name, CHALLENGER) == registered.version
    # Both were scored on this run's test split, and the candidate lost.
    params = dag_params(api)
    measure = promotion_metric(params["metric_bm"]["value"])
    tags = registered.tags
    assert tags["compared_with_version"] == faulty_run.champion_before
    candidate, champion = float(tags[f"candidate_{measure}"]), float(tags[f"champion_{measure}"])
    from project_template.mlops_platform.metrics import measure_of

    bigger_is_better = measure_of(TEMPLATE.TASK, params["metric_bm"]["value"]).bigger_is_better
    assert (candidate < champion if bigger_is_better else candidate > champion), tags
    assert served_version(settings) == faulty_run.champion_before
