"""`make demo-drift`: the monitoring loop on the running stack, from served traffic to a decision.

Sends traffic drawn like the training data, then shifted traffic, to the model server; runs the
monitoring DAG; follows the lifecycle run that the retraining asset event starts; prints the drift
report, both runs and the promotion decision.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from urllib.parse import quote

import requests

from project_template import config as template
from stack import drift_traffic
from stack.airflow_api import AirflowAPI, AirflowAPIError
from stack.demo import follow_run, run_link
from stack.settings import Settings, load_settings

STEPS = 6


class DemoFailed(RuntimeError):
    """A step of the demo failed; the message says which and what to look at."""


def _mlflow(settings: Settings, endpoint: str, **params: str) -> dict:
    response = requests.get(f"{settings.mlflow_url}/api/2.0/mlflow/{endpoint}", params=params,
                            auth=settings.mlflow_auth, timeout=30)
    response.raise_for_status()
    return response.json()


def served_models(settings: Settings) -> dict[str, str]:
    """Model name -> the version the model server serves (a model it follows but serves no
    version of yet, listed with `version: null`, is left out)."""
    response = requests.get(f"{settings.model_server_url}/models", timeout=30,
                            auth=settings.model_server_auth)
    response.raise_for_status()
    return {m["model_name"]: str(m["version"]) for m in response.json()["models"]
            if m["version"] is not None}


def report_link(settings: Settings, monitoring_run_id: str) -> str:
    """The MLflow UI page of the monitoring run's HTML drift report."""
    run = _mlflow(settings, "runs/get", run_id=monitoring_run_id)["run"]
    folders, html = [""], None
    while folders and html is None:
        folder = folders.pop()
        listed = _mlflow(settings, "artifacts/list", run_id=monitoring_run_id,
                         **({"path": folder} if folder else {}))
        for entry in listed.get("files", []):
            if entry.get("is_dir"):
                folders.append(entry["path"])
            elif entry["path"].endswith(".html"):
                html = entry["path"]
    base = f"{settings.mlflow_url}/#/experiments/{run['info']['experiment_id']}/runs/" \
           f"{monitoring_run_id}"
    return f"{base}/artifactPath/{html}" if html else f"{base} (no HTML report among its artifacts)"


def pipeline_run_tags(settings: Settings, experiment: str, dag_run_id: str) -> dict[str, str]:
    """The tags of a DAG run's pipeline run (no `candidate` tag) that holds its decision (a
    retried read_data may have left another)."""
    experiment_id = _mlflow(settings, "experiments/get-by-name",
                            experiment_name=experiment)["experiment"]["experiment_id"]
    response = requests.post(
        f"{settings.mlflow_url}/api/2.0/mlflow/runs/search", auth=settings.mlflow_auth, timeout=30,
        json={"experiment_ids": [experiment_id],
              "filter": f"tags.`airflow.dag_run_id` = '{dag_run_id}'"})
    response.raise_for_status()
    for run in response.json().get("runs", []):
        tags = {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}
        if "candidate" not in tags and "registered_version" in tags:
            return tags
    raise DemoFailed(f"no pipeline run of DAG run {dag_run_id} in MLflow experiment {experiment}")


def wait_for(condition: Callable[[], object], timeout: float, failure: str,
             poll: float = 2) -> object:
    """`condition()` once truthy; DemoFailed(failure) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise DemoFailed(failure)
        time.sleep(poll)
    return result


def run_demo_drift(settings: Settings, api: AirflowAPI, project: ModuleType = template,
                   rows: int = 200, seed: int = 7, timeout: float = 900,
                   out: Callable[[str], None] = print) -> int:
    """The loop once; return the exit code (0: a lifecycle run started from the drift event
    succeeded and its decision is printed)."""
    model, lifecycle, monitoring = (project.REGISTERED_MODEL_NAME, project.DAG_ID,
                                    project.MONITORING_DAG_ID)

    def step(number: int, text: str) -> None:
        out(f"\n[{number}/{STEPS}] {text}")

    def answered(done: int, total: int) -> None:
        if done == total or done % 5 == 0:
            out(f"  {done}/{total} requests answered")

    step(1, f"{model}: a served champion")
    for dag_id in (lifecycle, monitoring):
        api.wait_for_dag(dag_id, timeout=120)
        api.unpause(dag_id)  # paused, the lifecycle DAG would queue the asset's events unseen
    if model not in served_models(settings):
        run_id = api.trigger(lifecycle)
        out(f"  none yet: training one first, {run_link(settings, lifecycle, run_id)}")
        if not follow_run(settings, api, lifecycle, run_id, timeout, out):
            return 1
        wait_for(lambda: model in served_models(settings), 120,
                 f"the model server does not serve {model} 120 s after {run_id} deployed it")
    out(f"  version {served_models(settings)[model]} at "
        f"{settings.model_server_url}/models/{model}/invocations")

    started = datetime.now(UTC)
    shifted_columns = drift_traffic.columns_to_shift(project)
    for number, (what, frame) in enumerate((
            ("drawn like the training data", drift_traffic.training_like_rows(project, rows, seed)),
            (f"shifted on {', '.join(shifted_columns)}",
             drift_traffic.shifted_rows(project, rows, seed + 1, shifted_columns))), 2):
        step(number, f"{rows} rows {what}")
        drift_traffic.send(settings.model_server_url, model, frame, progress=answered,
                           auth=settings.model_server_auth)

    step(4, "the inference log holds them")
    prefix = settings.values.get("INFERENCE_LOG_PREFIX") or project.INFERENCE_LOG_PREFIX
    wait_for(lambda: drift_traffic.logged_rows(settings, prefix, model, started) >= 2 * rows,
             180, f"the model server's inference log did not hold {2 * rows} rows of {model} "
                  f"within 180 s (is the log switched off? see GET /models)")
    out(f"  {2 * rows} rows logged under {prefix}/{model}/")

    step(5, f"monitoring: {monitoring}")
    # Only this demo's traffic: what was served since it started.
    monitoring_run = api.trigger(monitoring, conf={"since": started.isoformat()})
    out(f"  {run_link(settings, monitoring, monitoring_run)}")
    if not follow_run(settings, api, monitoring, monitoring_run, timeout, out):
        return 1
    events = api.asset_events(source_dag_id=monitoring, source_run_id=monitoring_run)
    if not events:
        out(f"\nNo retraining asked for: {monitoring_run} found no drift above the threshold "
            f"({project.MONITORING.drift_share_threshold}) in the shifted traffic.")
        return 1
    event = events[0]
    extra = event.get("extra") or {}
    out(f"  asset event {event['id']} on {event['name']}: {extra.get('reason')}, drift share "
        f"{extra.get('drift_share')}, drifted {extra.get('drifted_columns')}")
    report = report_link(settings, extra["monitoring_run_id"])
    out(f"  drift report: {report}")

    step(6, f"retraining: {lifecycle}, started by the asset event")

    def started_run() -> str | None:
        current = api.asset_events(source_dag_id=monitoring, source_run_id=monitoring_run)
        return next((run["run_id"] for listed in current if listed["id"] == event["id"]
                     for run in listed["created_dagruns"] if run["dag_id"] == lifecycle), None)

    retrain_run = wait_for(started_run, 180, f"no run of {lifecycle} started from asset event "
                           f"{event['id']} within 180 s (is {lifecycle} paused?)")
    out(f"  {run_link(settings, lifecycle, retrain_run)}")
    if not follow_run(settings, api, lifecycle, retrain_run, timeout, out):
        return 1
    tags = pipeline_run_tags(settings, project.EXPERIMENT_NAME, retrain_run)
    version = tags.get("registered_version", "?")
    out(f"\nThe loop closed.\n"
        f"Drift report:      {report}\n"
        f"Monitoring run:    {run_link(settings, monitoring, monitoring_run)}\n"
        f"Asset:             {settings.airflow_url}/assets/{event['asset_id']}\n"
        f"Retraining run:    {run_link(settings, lifecycle, retrain_run)} (started by event "
        f"{event['id']})\n"
        f"Decision:          version {version} -> {tags.get('registered_alias')}: "
        f"{tags.get('promotion_decision')}\n"
        f"Model version:     {settings.mlflow_url}/#/models/{quote(model)}/versions/{version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200, help="rows of each kind of traffic")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a run")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        return run_demo_drift(settings, AirflowAPI.from_settings(settings), rows=args.rows,
                              seed=args.seed, timeout=args.timeout)
    except (DemoFailed, AirflowAPIError, requests.RequestException, RuntimeError) as error:
        print(f"demo-drift: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
