"""A classification project made by `make new-project TASK=classification`, end to end on the live
stack like the template: its dataset offered on the IDS edge, trained, registered, promoted,
served at its own endpoint, and registered in the IDS catalog."""

from __future__ import annotations

import pytest
import requests

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import (
    CHAMPION,
    TEMPLATE,
    DagRun,
    alias_version,
    assert_serves_champion,
    candidate_runs,
    classification_project,
    dag_params,
    endpoint,
    example_rows,
    offered_titles,
    run_dag,
    served_version,
)

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def project(live_stack: LiveStack, api: AirflowAPI):
    """The project's config module, after `make new-project NAME=wine-live TASK=classification`."""
    return classification_project(live_stack, api)


@pytest.fixture(scope="module")
def wine_run(api: AirflowAPI, project) -> DagRun:
    run = run_dag(api, dag_id=project.DAG_ID)
    assert_succeeded(api, run, project.DAG_ID)
    return run


def test_its_dataset_is_offered_on_the_ids_edge(project, live_stack: LiveStack) -> None:
    assert project.DATA_SOURCE == "ids"
    offered = offered_titles(live_stack.settings, "IDS_EDGE_API_PORT")
    assert project.DATA.ids_title in offered, sorted(offered)


def test_its_dag_offers_only_classification_metrics(api: AirflowAPI, project) -> None:
    params = dag_params(api, project.DAG_ID)
    assert params["metric_bm"]["schema"]["enum"] == [
        "accuracy_validation", "f1_macro_validation", "roc_auc_validation", "log_loss_validation"]
    assert params["metric_bm"]["value"] == "f1_macro_validation"
    template_tasks = {t["task_id"] for t in api.request("GET", f"dags/{TEMPLATE.DAG_ID}/tasks")
                      .json()["tasks"]}
    tasks = {t["task_id"] for t in api.request("GET", f"dags/{project.DAG_ID}/tasks")
             .json()["tasks"]}
    assert tasks == template_tasks


def test_it_runs_end_to_end_and_is_served_like_its_champion(
        api: AirflowAPI, wine_run: DagRun, project, mlflow_api, live_stack: LiveStack,
        first_run: DagRun) -> None:
    settings = live_stack.settings
    assert {ti["state"] for ti in wine_run.task_instances} == {"success"}
    runs = candidate_runs(mlflow_api, settings, wine_run.run_id, project.EXPERIMENT_NAME)
    assert sorted(run.data.tags["candidate"] for run in runs) == sorted(project.CANDIDATE_MODELS)
    for run in runs:
        assert {"accuracy_validation", "f1_macro_validation", "roc_auc_validation",
                "log_loss_validation"} <= run.data.metrics.keys()
    champion = alias_version(mlflow_api, project.REGISTERED_MODEL_NAME, CHAMPION)
    assert_serves_champion(settings, champion, rows=6, project=project)
    # The template's model (first_run's champion) stays at /invocations.
    assert served_version(settings) == alias_version(mlflow_api, TEMPLATE.REGISTERED_MODEL_NAME)
    assert project.EXPERIMENT_NAME in offered_titles(settings)


def test_the_served_classifier_answers_probabilities_when_asked(
        wine_run: DagRun, project, live_stack: LiveStack) -> None:
    body = {**example_rows(3, project), "params": {"predict_method": "predict_proba"}}
    response = requests.post(endpoint(live_stack.settings, project.REGISTERED_MODEL_NAME),
                             json=body, timeout=60)
    assert response.status_code == 200, response.text
    rows = response.json()["predictions"]
    assert len(rows) == 3
    assert all(set(row) == set(project.SCHEMA.target.categories) for row in rows)
    assert all(abs(sum(row.values()) - 1) < 1e-6 for row in rows)


def test_a_request_missing_a_column_gets_a_4xx_naming_it(
        wine_run: DagRun, project, live_stack: LiveStack) -> None:
    body = example_rows(2, project)["dataframe_split"]
    index = body["columns"].index("alcohol_level")
    missing = {"dataframe_split": {
        "columns": [c for i, c in enumerate(body["columns"]) if i != index],
        "data": [[v for i, v in enumerate(row) if i != index] for row in body["data"]]}}
    response = requests.post(endpoint(live_stack.settings, project.REGISTERED_MODEL_NAME),
                             json=missing, timeout=60)
    assert 400 <= response.status_code < 500, response.text
    assert "alcohol_level" in response.json()["message"]
