"""The example DAG end to end: one run through REST API v2, checked in Airflow, MLflow, S3, IDS and serving.

Modules are numbered: pytest runs them in that order, so the later ones (faults, restart) find
this run's models, artifacts and catalog entry, and the suite needs as few DAG runs as it can.
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath

import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.platform_apis import (
    CHAMPION,
    DAG_ID,
    TEMPLATE,
    DagRun,
    alias_version,
    assert_serves_champion,
    bucket_objects,
    candidate_runs,
    dag_params,
    describe,
    model_versions,
    offered_titles,
    promotion_metric,
)

pytestmark = pytest.mark.integration


def test_every_task_succeeded_first_time_and_training_ran_once_per_candidate(
        api: AirflowAPI, first_run: DagRun) -> None:
    dag_tasks = {task["task_id"] for task in api.request("GET", f"dags/{DAG_ID}/tasks").json()["tasks"]}
    assert {ti["task_id"] for ti in first_run.task_instances} == dag_tasks
    assert {ti["state"] for ti in first_run.task_instances} == {"success"}, describe(first_run)
    candidates = dag_params(api)["candidate_models"]["value"]
    map_indexes = sorted(ti["map_index"] for ti in first_run.tasks("model_training"))
    assert map_indexes == list(range(len(candidates))), describe(first_run)
    # Nothing fails in this run, so nothing may need its retries: a retry would hide a defect.
    retried = [ti for ti in first_run.task_instances if ti["try_number"] != 1]
    assert not retried, describe(first_run) + "\n" + "\n".join(
        f"--- {ti['task_id']}[{ti['map_index']}], first try ---\n" + "\n".join(
            api.task_log(DAG_ID, first_run.run_id, ti["task_id"], 1, ti["map_index"])
            .splitlines()[-80:]) for ti in retried)


def test_mlflow_has_one_run_per_candidate_with_the_templates_metrics(
        api: AirflowAPI, first_run: DagRun, mlflow_api, live_stack: LiveStack) -> None:
    params = dag_params(api)
    runs = candidate_runs(mlflow_api, live_stack.settings, first_run.run_id)
    assert sorted(run.data.tags["candidate"] for run in runs) == sorted(
        params["candidate_models"]["value"])
    # The metrics the DAG can select by, and the same measures on the training split.
    selectable = params["metric_bm"]["schema"]["enum"]
    expected = {*selectable, *(name.replace("_validation", "_train") for name in selectable)}
    for run in runs:
        assert run.info.status == "FINISHED", run.data.tags["candidate"]
        assert expected <= run.data.metrics.keys(), (run.data.tags["candidate"], run.data.metrics)
        assert all(math.isfinite(run.data.metrics[name]) for name in expected)


def test_champion_alias_points_at_the_best_version(
        api: AirflowAPI, first_run: DagRun, mlflow_api, live_stack: LiveStack) -> None:
    settings = live_stack.settings
    name = TEMPLATE.REGISTERED_MODEL_NAME
    params = dag_params(api)
    from project_template.mlops_platform.metrics import measure_of

    metric = params["metric_bm"]["value"]
    pick = max if measure_of(TEMPLATE.TASK, metric).bigger_is_better else min
    runs = candidate_runs(mlflow_api, settings, first_run.run_id)
    best_run = pick(runs, key=lambda run: run.data.metrics[metric])

    versions = model_versions(mlflow_api, name)
    registered = [v for v in versions.values() if v.run_id == best_run.info.run_id]
    assert len(registered) == 1, f"the best candidate ({best_run.data.tags['candidate']}) " \
                                 f"was registered {len(registered)} times"
    # Every version records its score on its run's held-out test split; the champion's is the
    # best one (on a fresh stack that is this run's version, on an older one it may be earlier).
    score_tag = f"candidate_{promotion_metric(metric)}"
    scores = {number: float(v.tags[score_tag]) for number, v in versions.items()
              if score_tag in v.tags}
    champion = alias_version(mlflow_api, name)
    assert scores[champion] == pick(scores.values()), scores
    if len(versions) == 1:  # no earlier version to compare with
        assert champion == registered[0].version


def test_the_champions_artifacts_are_in_the_bucket(mlflow_api, first_run: DagRun,
                                                    live_stack: LiveStack) -> None:
    import mlflow

    version = mlflow_api.get_model_version_by_alias(TEMPLATE.REGISTERED_MODEL_NAME,
                                                    CHAMPION)
    model = mlflow_api.get_logged_model(version.source.removeprefix("models:/"))
    listed = {PurePosixPath(info.path).name: info.file_size
              for info in mlflow.artifacts.list_artifacts(artifact_uri=model.artifact_location)
              if not info.is_dir}
    assert {"MLmodel", "requirements.txt"} <= listed.keys(), listed
    # The tracking server proxies `mlflow-artifacts:/<path>` to `s3://<bucket>/<path>`.
    prefix = model.artifact_location.removeprefix("mlflow-artifacts:/").rstrip("/") + "/"
    stored = {PurePosixPath(key).name: size
              for key, size in bucket_objects(live_stack.settings, prefix).items()}
    assert stored == listed


def test_the_ids_cloud_catalog_offers_the_experiment(first_run: DagRun,
                                                     live_stack: LiveStack) -> None:
    experiment = TEMPLATE.EXPERIMENT_NAME
    offered = offered_titles(live_stack.settings)
    assert experiment in offered, f"offered: {sorted(offered)}"
    artifacts = [instance["@id"] for representation in offered[experiment]["ids:representation"]
                 for instance in representation["ids:instance"]]
    assert f"mlflow:{experiment}" in artifacts


def test_served_predictions_equal_the_champion_loaded_with_mlflow(
        mlflow_api, first_run: DagRun, live_stack: LiveStack) -> None:
    settings = live_stack.settings
    assert_serves_champion(settings, alias_version(mlflow_api, TEMPLATE.REGISTERED_MODEL_NAME),
                           rows=5)


def test_a_request_missing_a_column_gets_a_4xx_naming_it(first_run: DagRun,
                                                         live_stack: LiveStack) -> None:
    import requests

    from tests.integration.platform_apis import endpoint, example_rows

    body = example_rows(2)["dataframe_split"]
    missing = {"dataframe_split": {"columns": body["columns"][1:],
                                   "data": [row[1:] for row in body["data"]]}}
    for model in (None, TEMPLATE.REGISTERED_MODEL_NAME):
        response = requests.post(endpoint(live_stack.settings, model), json=missing, timeout=60)
        assert 400 <= response.status_code < 500, response.text
        assert body["columns"][0] in response.json()["message"]
