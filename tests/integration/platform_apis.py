"""What the integration tests see of the live platform: its public APIs, as a user reaches them."""

from __future__ import annotations

import csv
import importlib
import itertools
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from project_template import config as TEMPLATE
from stack.airflow_api import AirflowAPI
from stack.settings import REPO_ROOT, Settings

# The template's identity, from its description (project.toml via its config).
DAG_ID = TEMPLATE.DAG_ID
EXAMPLE_CSV = TEMPLATE.LOCAL_DATA_FILE
TARGET_COLUMN = TEMPLATE.TARGET_COLUMN

RUN_TIMEOUT = 600  # seconds for one DAG run, retries included; a healthy run takes 1-3 minutes
CHAMPION = "champion"
CHALLENGER = "challenger"


def now() -> datetime:
    return datetime.now(UTC)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- Airflow ------------------------------------------------------------------------------------


@dataclass
class DagRun:
    """A finished run of the example DAG and what the API said about it."""

    run_id: str
    conf: dict
    state: str
    task_instances: list[dict] = field(default_factory=list)

    def tasks(self, task_id: str) -> list[dict]:
        return [ti for ti in self.task_instances if ti["task_id"] == task_id]

    def task(self, task_id: str) -> dict:
        (ti,) = self.tasks(task_id)
        return ti


def dag_params(api: AirflowAPI, dag_id: str = DAG_ID) -> dict[str, dict]:
    """The DAG's params (value and JSON schema) as the API publishes them."""
    return api.request("GET", f"dags/{dag_id}/details").json()["params"]


def run_dag(api: AirflowAPI, conf: dict | None = None,
            on_change: Callable[[dict], None] | None = None, dag_id: str = DAG_ID) -> DagRun:
    """Trigger a project's DAG (the template's), wait until the run ends, return it."""
    api.wait_for_dag(dag_id, timeout=180)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id, conf=conf)
    run = api.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT, on_change=on_change)
    return DagRun(run_id, conf or {}, run["state"], api.task_instances(dag_id, run_id))


CLASSIFICATION_PROJECT = "wine-live"


def classification_project(stack, api: AirflowAPI):
    """The config module of the classification project that `make new-project NAME=wine-live
    TASK=classification` makes in the stack's projects folder (made on first use)."""
    projects_dir = stack.settings.projects_dir
    folder = projects_dir / CLASSIFICATION_PROJECT.replace("-", "_")
    if not folder.exists():
        created = subprocess.run(
            [sys.executable, "-m", "stack.new_project", "--env-file", str(stack.env_file),
             "--task", "classification", CLASSIFICATION_PROJECT], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=120)
        assert created.returncode == 0, created.stdout + created.stderr
        assert "data:             ids" in created.stdout, created.stdout
    if str(projects_dir) not in sys.path:
        sys.path.append(str(projects_dir))
    config = importlib.import_module(f"{folder.name}.config")
    api.wait_for_dag(config.DAG_ID, timeout=180)
    return config


def describe(run: DagRun) -> str:
    """One line per task instance, for assertion messages."""
    return "\n".join(f"  {ti['task_id']}[{ti.get('map_index')}] {ti.get('state')} "
                     f"try {ti.get('try_number')}" for ti in run.task_instances)


# -- MLflow -------------------------------------------------------------------------------------


def mlflow_client(settings: Settings):
    """An MlflowClient of the stack; the global URIs too, for `models:/` loads."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_url)
    mlflow.set_registry_uri(settings.mlflow_url)
    return MlflowClient(tracking_uri=settings.mlflow_url, registry_uri=settings.mlflow_url)


def candidate_runs(client, settings: Settings, dag_run_id: str,
                   experiment_name: str = TEMPLATE.EXPERIMENT_NAME) -> list:
    """The MLflow runs of one DAG run's candidates (its pipeline run has no `candidate` tag)."""
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.`airflow.dag_run_id` = '{dag_run_id}'")
    return [run for run in runs if "candidate" in run.data.tags]


def model_versions(client, name: str) -> dict[str, object]:
    return {v.version: v for v in client.search_model_versions(f"name = '{name}'")}


def alias_version(client, name: str, alias: str = CHAMPION) -> str:
    return client.get_model_version_by_alias(name, alias).version


def promotion_metric(selection_metric: str) -> str:
    """The measure promotion compares on the test split: `r2_validation` -> `r2_test`."""
    return selection_metric.rsplit("_", 1)[0] + "_test"


# -- S3 -----------------------------------------------------------------------------------------


def s3_client(settings: Settings):
    import boto3

    return boto3.client("s3", endpoint_url=settings.s3_url, region_name="us-east-1",
                        aws_access_key_id=settings.get("S3_ACCESS_KEY"),
                        aws_secret_access_key=settings.get("S3_SECRET_KEY"))


def bucket_objects(settings: Settings, prefix: str = "") -> dict[str, int]:
    """Key -> size of every object under `prefix` in the artifact bucket."""
    pages = s3_client(settings).get_paginator("list_objects_v2").paginate(
        Bucket=settings.get("MLFLOW_ARTIFACT_BUCKET"), Prefix=prefix)
    return {obj["Key"]: obj["Size"] for page in pages for obj in page.get("Contents", [])}


# -- IDS ----------------------------------------------------------------------------------------


def _ids_call(settings: Settings, method: str, api_port: str, path: str,
              **kwargs) -> requests.Response:
    url = settings.url(api_port, scheme="https") + path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the connectors' certificates are self-signed
        response = requests.request(
            method, url, auth=(settings.get("IDS_API_USER"), settings.get("IDS_API_PASSWORD")),
            verify=False, timeout=30, **kwargs)
    assert response.status_code == 200, f"{method} {url}: {response.status_code} {response.text}"
    return response


def offered_titles(settings: Settings, api_port: str = "IDS_CLOUD_API_PORT") -> dict[str, dict]:
    """Title -> resource of every resource a connector's self-description offers."""
    connector = _ids_call(settings, "GET", api_port, "/").json()
    return {title["@value"]: resource
            for catalog in connector["ids:resourceCatalog"]
            for resource in catalog.get("ids:offeredResource", [])
            for title in resource.get("ids:title", [])}


def offer_on_edge(settings: Settings, title: str, data: bytes) -> None:
    """Offer a file in the edge's catalog, as `make ids-offer` does."""
    _ids_call(settings, "POST", "IDS_EDGE_API_PORT", "/api/offeredFile/",
              params={"title": title, "fileName": "data.csv"}, data=data,
              headers={"content-type": "application/octet-stream"})


def task_proxy_url(task_environment: dict[str, str]) -> str:
    """The cloud connector's `/proxy` as Airflow's tasks reach it (a service name in Compose)."""
    env = task_environment
    return f"https://{env['IDS_CLOUD_HOST']}:{env['IDS_CLOUD_DATA_APP_PORT']}/proxy"


def set_cloud_faults(settings: Settings, faults: dict) -> None:
    """Replace the faults of the cloud connector's data app (`{}`: none)."""
    _ids_call(settings, "PUT", "IDS_CLOUD_API_PORT", "/admin/faults", json=faults)


# -- serving --------------------------------------------------------------------------------------


def example_rows(count: int = 5, project=TEMPLATE) -> dict:
    """The first rows of a project's example data, features only, as `dataframe_split`; numbers
    as numbers, categories as text."""
    with project.LOCAL_DATA_FILE.open(newline="") as handle:
        rows = list(itertools.islice(csv.DictReader(handle, delimiter=project.DATA.delimiter),
                                     count))
    numeric = set(project.SCHEMA.features_of_type("numeric"))
    columns = list(project.FEATURE_COLUMNS)
    return {"dataframe_split": {"columns": columns, "data": [
        [float(row[c]) if c in numeric else row[c] for c in columns] for row in rows]}}


def endpoint(settings: Settings, model: str | None = None) -> str:
    """`/invocations` (the template's model), or `/models/<model>/invocations`."""
    path = "/invocations" if model is None else f"/models/{model}/invocations"
    return settings.model_server_url + path


def served_raw(settings: Settings, body: dict, model: str | None = None) -> list:
    response = requests.post(endpoint(settings, model), json=body, timeout=60,
                             auth=settings.model_server_auth)
    assert response.status_code == 200, f"{endpoint(settings, model)}: {response.status_code} " \
                                        f"{response.text}"
    return response.json()["predictions"]


def served(settings: Settings, body: dict, model: str | None = None) -> list[float]:
    return [float(p) for p in served_raw(settings, body, model)]


def served_version(settings: Settings, model: str | None = None) -> str | None:
    """The version the model server serves of `model` (default: the template's)."""
    if model is None:
        version = requests.get(f"{settings.model_server_url}/champion", timeout=10,
                               auth=settings.model_server_auth).json()["version"]
    else:
        listed = requests.get(f"{settings.model_server_url}/models", timeout=10,
                              auth=settings.model_server_auth).json()["models"]
        version = {m["model_name"]: m["version"] for m in listed}.get(model)
    return None if version is None else str(version)


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               poll: float = 1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:.0f}s")
        time.sleep(poll)


def champion_predictions(settings: Settings, rows: int, project=TEMPLATE) -> list:
    """Predictions of `models:/<name>@champion`, loaded with MLflow, for the first example rows."""
    import mlflow
    import pandas as pd

    body = example_rows(rows, project)["dataframe_split"]
    model_uri = f"models:/{project.REGISTERED_MODEL_NAME}@{CHAMPION}"
    frame = pd.DataFrame(body["data"], columns=body["columns"])
    return list(mlflow.pyfunc.load_model(model_uri).predict(frame))


def assert_serves_champion(settings: Settings, champion: str, rows: int,
                           project=TEMPLATE) -> None:
    """The model server serves `champion` at the project's endpoint (and the template's also at
    `/invocations`), predicting as `models:/<name>@champion` does."""
    import pytest

    name = project.REGISTERED_MODEL_NAME
    wait_until(lambda: served_version(settings, name) == champion, 60,
               f"the model server serving {name} version {champion}")
    expected = champion_predictions(settings, rows, project)
    body = example_rows(rows, project)
    if project.TASK == "regression":
        assert served(settings, body, name) == pytest.approx([float(p) for p in expected])
    else:
        assert served_raw(settings, body, name) == [str(p) for p in expected]
    if project is TEMPLATE:
        assert served_version(settings) == champion
        assert served(settings, body) == pytest.approx([float(p) for p in expected])
