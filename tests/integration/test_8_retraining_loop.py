"""The monitoring loop on the live stack: an asset event starts a lifecycle run that records it.

- An event on the retraining asset, made by hand through REST API v2 with a labeled batch offered
  on the IDS edge: the lifecycle DAG runs by itself, tags its pipeline run with the event, trains
  on the project's data with the batch appended (a new data version), and records its decision.
- `make demo-drift`'s loop: training-like, then shifted traffic to the model server; the
  monitoring DAG finds drift on exactly the shifted columns and updates the asset; the lifecycle
  run that the event starts succeeds, tagged with it, and records its decision. For the template's
  regression and for the classification example of `make new-project TASK=classification`.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from stack import demo_drift, drift_traffic
from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.browser import airflow_login, chromium, page_text, screenshot, wait_for
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import (
    EXAMPLE_CSV,
    RUN_TIMEOUT,
    TEMPLATE,
    DagRun,
    classification_project,
    offer_on_edge,
    wait_until,
)

pytestmark = pytest.mark.integration

BATCH_ROWS = 40
# A run an event starts may wait behind another run of its DAG (max_active_runs=1), e.g. one that
# the monitoring tests' event started: twice a run's usual allowance.
LOOP_RUN_TIMEOUT = 2 * RUN_TIMEOUT


def labeled_batch() -> bytes:
    """A labeled batch of the template's data: rows of the example with `bmi` moved up."""
    lines = EXAMPLE_CSV.read_text().splitlines()
    bmi = lines[0].split(";").index("bmi")
    rows = []
    for line in lines[1:BATCH_ROWS + 1]:
        cells = line.split(";")
        cells[bmi] = f"{float(cells[bmi]) + 8:.1f}"
        rows.append(";".join(cells))
    return ("\n".join([lines[0], *rows]) + "\n").encode()


def started_run(api: AirflowAPI, asset_id: int, event_id: int, dag_id: str) -> str:
    """The run of `dag_id` that the asset event started (waits for the scheduler to make it)."""
    found: list[str] = []

    def made() -> bool:
        for event in api.asset_events(asset_id=asset_id):
            if event["id"] == event_id:
                found.extend(run["run_id"] for run in event["created_dagruns"]
                             if run["dag_id"] == dag_id)
        return bool(found)

    wait_until(made, 120, f"a run of {dag_id} started by asset event {event_id}", poll=2)
    return found[0]


def finished(api: AirflowAPI, dag_id: str, run_id: str) -> DagRun:
    run = api.wait_for_run(dag_id, run_id, timeout=LOOP_RUN_TIMEOUT)
    result = DagRun(run_id, run.get("conf") or {}, run["state"],
                    api.task_instances(dag_id, run_id))
    assert_succeeded(api, result, dag_id)
    return result


def pipeline_tags(mlflow_api, experiment: str, dag_run_id: str) -> dict[str, str]:
    runs = mlflow_api.search_runs(
        [mlflow_api.get_experiment_by_name(experiment).experiment_id],
        filter_string=f"tags.`airflow.dag_run_id` = '{dag_run_id}'")
    # A read_data retried after its pipeline run was made leaves one more, unused: the DAG went
    # on with the one that has the decision.
    (pipeline,) = [run for run in runs
                   if "candidate" not in run.data.tags and "registered_version" in run.data.tags]
    return pipeline.data.tags


def assert_decision_recorded(mlflow_api, project, tags: dict[str, str]) -> None:
    """The pipeline run names the version it registered and the guard's decision, as the version
    itself records it; a promoted version is the champion."""
    version = mlflow_api.get_model_version(project.REGISTERED_MODEL_NAME,
                                           tags["registered_version"])
    assert tags["promotion_decision"] == version.tags["promotion_decision"]
    assert tags["registered_alias"] in version.aliases
    assert (tags["promotion_decision"] == "promoted") == (tags["registered_alias"] == "champion")


@pytest.fixture(scope="module")
def event_by_hand(api: AirflowAPI, live_stack: LiveStack, first_run: DagRun) -> dict:
    """An event on the template's retraining asset, made through the REST API, naming a labeled
    batch on the IDS edge; and the lifecycle run it started."""
    title = f"{TEMPLATE.EXPERIMENT_NAME}-batch-{uuid.uuid4().hex[:6]}"
    offer_on_edge(live_stack.settings, title, labeled_batch())
    api.unpause(TEMPLATE.DAG_ID)
    asset = api.asset(TEMPLATE.RETRAINING_ASSET_NAME)
    extra = {"reason": "drift", "drift_share": 0.6, "drifted_columns": ["bmi"],
             "monitoring_run_id": "by-hand", "data_location": title}
    event = api.create_asset_event(asset["id"], extra)
    run_id = started_run(api, asset["id"], event["id"], TEMPLATE.DAG_ID)
    return {"title": title, "asset": asset, "event": event,
            "run": finished(api, TEMPLATE.DAG_ID, run_id)}


def test_the_lifecycle_dag_is_scheduled_on_the_retraining_asset(api: AirflowAPI,
                                                                  first_run: DagRun) -> None:
    asset = api.asset(TEMPLATE.RETRAINING_ASSET_NAME)
    assert asset["uri"] == TEMPLATE.RETRAINING_ASSET_URI
    assert TEMPLATE.DAG_ID in {dag["dag_id"] for dag in asset["scheduled_dags"]}


def test_an_asset_event_starts_a_lifecycle_run_that_records_it(
        api: AirflowAPI, event_by_hand: dict, mlflow_api, first_run: DagRun) -> None:
    run = event_by_hand["run"]
    assert api.dag_run(TEMPLATE.DAG_ID, run.run_id)["run_type"] == "asset_triggered"
    upstream = api.request(
        "GET", f"dags/{TEMPLATE.DAG_ID}/dagRuns/{run.run_id}/upstreamAssetEvents").json()
    assert event_by_hand["event"]["id"] in {event["id"] for event in upstream["asset_events"]}

    tags = pipeline_tags(mlflow_api, TEMPLATE.EXPERIMENT_NAME, run.run_id)
    assert tags["airflow.run_type"] == "asset_triggered"
    assert tags["retraining.asset"] == TEMPLATE.RETRAINING_ASSET_NAME
    assert tags["retraining.reason"] == "drift"
    assert tags["retraining.drift_share"] == "0.6"
    assert json.loads(tags["retraining.drifted_columns"]) == ["bmi"]
    assert tags["retraining.monitoring_run_id"] == "by-hand"
    # New data entered: the batch the event names, appended to the project's own dataset.
    first = pipeline_tags(mlflow_api, TEMPLATE.EXPERIMENT_NAME, first_run.run_id)
    assert tags["batch_source"] == f"ids:{event_by_hand['title']}"
    assert tags["base_data_version"] == first["data_version"]
    assert tags["data_version"] != first["data_version"]
    assert tags["batch_rows"] == tags["batch_rows_added"] == str(BATCH_ROWS)
    assert int(tags["data_rows"]) == int(first["data_rows"]) + BATCH_ROWS
    assert_decision_recorded(mlflow_api, TEMPLATE, tags)


# -- the whole loop, as `make demo-drift` runs it ------------------------------------------------


def run_loop(api: AirflowAPI, live_stack: LiveStack, project) -> dict:
    """`make demo-drift` for `project`, in this process; what it printed and started."""
    lines: list[str] = []
    code = demo_drift.run_demo_drift(live_stack.settings, api, project, timeout=LOOP_RUN_TIMEOUT,
                                     out=lines.append)
    text = "\n".join(lines)
    print(text)
    assert code == 0, text
    # The run the demo triggered (once unpaused, the DAG may also run on its own schedule).
    monitoring_run = next(run["dag_run_id"] for run in api.dag_runs(project.MONITORING_DAG_ID)
                          if run["run_type"] == "manual")
    (event,) = api.asset_events(source_dag_id=project.MONITORING_DAG_ID,
                                source_run_id=monitoring_run)
    (lifecycle_run,) = [run["run_id"] for run in event["created_dagruns"]
                        if run["dag_id"] == project.DAG_ID]
    # Quiet again for the tests after this one: no monitoring on its schedule from here on.
    api.request("PATCH", f"dags/{project.MONITORING_DAG_ID}", json={"is_paused": True})
    return {"text": text, "event": event, "monitoring_run": monitoring_run,
            "lifecycle_run": lifecycle_run}


def assert_loop_closed(api: AirflowAPI, mlflow_api, project, loop: dict) -> None:
    event, extra = loop["event"], loop["event"]["extra"]
    # Drift on exactly the columns the traffic shifted.
    assert sorted(extra["drifted_columns"]) == sorted(drift_traffic.columns_to_shift(project))
    assert "drift" in extra["reason"].split("+")
    assert extra["drift_share"] >= project.MONITORING.drift_share_threshold
    assert event["source_task_id"]
    # The monitoring run is in MLflow with its report.
    monitoring = mlflow_api.get_run(extra["monitoring_run_id"])
    assert mlflow_api.get_experiment(monitoring.info.experiment_id).name == \
        project.MONITORING_EXPERIMENT_NAME
    assert f"/runs/{extra['monitoring_run_id']}/artifactPath/" in loop["text"]
    assert ".html" in loop["text"]
    # The lifecycle run the event started, tagged with it, and its decision.
    run = loop["lifecycle_run"]
    assert api.dag_run(project.DAG_ID, run)["run_type"] == "asset_triggered"
    tags = pipeline_tags(mlflow_api, project.EXPERIMENT_NAME, run)
    assert tags["retraining.source_dag_id"] == project.MONITORING_DAG_ID
    assert tags["retraining.source_run_id"] == loop["monitoring_run"]
    assert tags["retraining.monitoring_run_id"] == extra["monitoring_run_id"]
    assert json.loads(tags["retraining.drifted_columns"]) == extra["drifted_columns"]
    assert_decision_recorded(mlflow_api, project, tags)
    assert f"version {tags['registered_version']} -> {tags['registered_alias']}" in loop["text"]


def test_the_asset_view_links_monitoring_to_lifecycle(api: AirflowAPI, first_run: DagRun) -> None:
    # What the UI's asset graph draws: the task that updates the asset, the DAG it schedules.
    asset = api.asset(TEMPLATE.RETRAINING_ASSET_NAME)
    assert {task["dag_id"] for task in asset["producing_tasks"]} == {TEMPLATE.MONITORING_DAG_ID}
    assert {dag["dag_id"] for dag in asset["scheduled_dags"]} == {TEMPLATE.DAG_ID}


@pytest.fixture(scope="module")
def template_loop(api: AirflowAPI, live_stack: LiveStack, first_run: DagRun) -> dict:
    return run_loop(api, live_stack, TEMPLATE)


def test_shifted_traffic_closes_the_loop(api: AirflowAPI, mlflow_api, template_loop: dict) -> None:
    assert_loop_closed(api, mlflow_api, TEMPLATE, template_loop)


def test_the_uis_show_the_asset_between_the_dags_and_the_drift_report(
        api: AirflowAPI, live_stack: LiveStack, template_loop: dict) -> None:
    settings = live_stack.settings
    with chromium() as driver:
        airflow_login(driver, settings)
        asset = api.asset(TEMPLATE.RETRAINING_ASSET_NAME)
        driver.get(f"{settings.airflow_url}/assets/{asset['id']}")
        wait_for(driver, lambda d: all(name in page_text(d) for name in (
            TEMPLATE.MONITORING_DAG_ID, TEMPLATE.DAG_ID)),
            "the monitoring DAG and the lifecycle DAG on the asset's page")
        screenshot(driver, "airflow-retraining-asset")
        # The link demo-drift prints opens the report in MLflow's artifact viewer.
        link = re.search(r"Drift report:\s+(\S+)", template_loop["text"]).group(1)
        driver.get(link)
        report = link.rsplit("/", 1)[-1]
        wait_for(driver, lambda d: report in page_text(d), f"{report} in MLflow's UI")
        screenshot(driver, "mlflow-drift-report")


def test_the_classification_example_closes_the_same_loop(api: AirflowAPI,
                                                         live_stack: LiveStack,
                                                         mlflow_api) -> None:
    project = classification_project(live_stack, api)
    assert_loop_closed(api, mlflow_api, project, run_loop(api, live_stack, project))
