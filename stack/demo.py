"""`make demo`: run the template's DAG on the running stack and show what it produced."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import requests

from project_template import config as template
from stack.airflow_api import AirflowAPI, AirflowAPIError
from stack.settings import Settings, load_settings

LOG_TAIL_LINES = 40
FAILED_STATES = {"failed", "upstream_failed"}


def task_label(ti: dict) -> str:
    index = ti.get("map_index", -1)
    return ti["task_id"] if index is None or index < 0 else f"{ti['task_id']}[{index}]"


def print_state(ti: dict, out: Callable[[str], None] = print) -> None:
    out(f"  {task_label(ti):<28} {ti.get('state') or 'none'}")


def example_row(path: Path = template.LOCAL_DATA_FILE) -> dict:
    """The first row of the template's example data, features only, as `dataframe_split`."""
    with path.open(newline="") as handle:
        row = next(csv.DictReader(handle, delimiter=template.DATA.delimiter))
    row.pop(template.TARGET_COLUMN)
    return {"dataframe_split": {"columns": list(row), "data": [[float(v) for v in row.values()]]}}


def failed_task_logs(api: AirflowAPI, dag_id: str, run_id: str) -> list[str]:
    """The tail of the log of each task that failed (not those only skipped by a failure)."""
    reports = []
    for ti in api.task_instances(dag_id, run_id):
        if ti.get("state") != "failed":
            continue
        try:
            log = api.task_log(dag_id, run_id, ti["task_id"], max(ti.get("try_number") or 1, 1),
                               ti.get("map_index", -1))
        except AirflowAPIError as error:
            log = f"(log unavailable: {error})"
        tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
        reports.append(f"--- {task_label(ti)} failed; last {LOG_TAIL_LINES} log lines ---\n{tail}")
    return reports


def mlflow_links(settings: Settings, experiment: str, model: str) -> list[str]:
    """Links to the experiment and the champion version, read from MLflow's REST API."""
    base = settings.mlflow_url
    links = []
    response = requests.get(f"{base}/api/2.0/mlflow/experiments/get-by-name",
                            params={"experiment_name": experiment}, timeout=30,
                            auth=settings.mlflow_auth)
    response.raise_for_status()
    experiment_id = response.json()["experiment"]["experiment_id"]
    links.append(f"MLflow experiment: {base}/#/experiments/{experiment_id}")
    response = requests.get(f"{base}/api/2.0/mlflow/registered-models/alias",
                            params={"name": model, "alias": "champion"}, timeout=30,
                            auth=settings.mlflow_auth)
    response.raise_for_status()
    version = response.json()["model_version"]["version"]
    links.append(f"Champion:          {base}/#/models/{quote(model)}/versions/{version} "
                 f"({model}@champion = version {version})")
    return links


def run_link(settings: Settings, dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI."""
    return f"{settings.airflow_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}"


def follow_run(settings: Settings, api: AirflowAPI, dag_id: str, run_id: str, timeout: float,
               out: Callable[[str], None] = print) -> bool:
    """Print each task's state as it changes until the run ends; on failure, print the failed
    tasks' log tails and the run's link. Whether the run succeeded."""
    run = api.wait_for_run(dag_id, run_id, timeout=timeout, on_change=lambda ti: print_state(ti, out))
    if run["state"] == "success":
        return True
    out(f"\nRun {run_id} of {dag_id} ended {run['state']}.")
    for report in failed_task_logs(api, dag_id, run_id):
        out(report)
    out(f"Airflow run: {run_link(settings, dag_id, run_id)}")
    return False


def run_demo(settings: Settings, api: AirflowAPI, dag_id: str = template.DAG_ID,
             conf: dict | None = None,
             timeout: float = 900, out: Callable[[str], None] = print) -> int:
    """Trigger `dag_id`, follow it, and report; return the process exit code."""
    api.wait_for_dag(dag_id, timeout=120)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id, conf=conf)
    out(f"Triggered {dag_id} run {run_id}\n  {run_link(settings, dag_id, run_id)}")
    if not follow_run(settings, api, dag_id, run_id, timeout, out):
        return 1

    out(f"\nRun {run_id} succeeded.\nAirflow run:       {run_link(settings, dag_id, run_id)}")
    for line in mlflow_links(settings, template.EXPERIMENT_NAME, template.REGISTERED_MODEL_NAME):
        out(line)
    body = example_row()
    response = requests.post(f"{settings.model_server_url}/invocations", json=body, timeout=30,
                             auth=settings.model_server_auth)
    if response.status_code != 200:
        out(f"Serving endpoint answered {response.status_code}: {response.text[:500]}")
        return 1
    out(f"Prediction:        POST {settings.model_server_url}/invocations "
        f"{body['dataframe_split']['data'][0]} -> {response.json()['predictions']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag-id", default=template.DAG_ID)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the run")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        return run_demo(settings, AirflowAPI.from_settings(settings), args.dag_id,
                        timeout=args.timeout)
    except (AirflowAPIError, requests.RequestException) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
