"""
# Monitoring: does the champion still fit the data it is served?

Compares the latest window of served inputs (the model server's inference log) with the data the
champion was trained on, found through lineage: the `champion` version, its source run, that run's
`training` dataset input. When the data source offers a newer labeled batch than the champion was
trained on (e.g. a newer artifact of the IDS resource), it compares that too and scores the
champion on it beside the test score recorded at its promotion.

1. **check**: Evidently's per-column drift tests and HTML report; one MLflow run in
   `<experiment>-monitoring` with the drifted share, each column's score and verdict, the report,
   and the champion's scores when labels exist. Fewer served rows than `min_rows` and no newer
   batch: *nothing to compare yet*, and no event.
2. **request_retraining**: updates the project's retraining asset, which schedules the lifecycle
   DAG, only when the drifted share or the performance drop passes its threshold (project.toml
   `[monitoring]`); skipped otherwise. The event's extra says why: `reason`, `drift_share`,
   `drifted_columns`, `monitoring_run_id` and, with labels, the scores and `data_location`.

Scheduled by `[monitoring] schedule` (default hourly); trigger it by hand with a `since` time to
check the traffic after a known moment.
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException


def _project_package() -> ModuleType:
    # The package cannot be imported before it is imported: load its loader by path.
    path = Path(__file__).absolute().parent.parent / "mlops_platform" / "project_package.py"
    spec = importlib.util.spec_from_file_location(f"_{path.parent.parent.name}_loader", path)
    loader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader)
    return loader


PROJECT = _project_package().import_project(Path(__file__).absolute().parent.parent).__name__
config = importlib.import_module(f"{PROJECT}.config")
package = importlib.import_module(f"{PROJECT}.mlops_platform.project_package")
retraining = importlib.import_module(f"{PROJECT}.mlops_platform.retraining")
RETRAINING_ASSET = retraining.retraining_asset()


def project_module(name: str) -> ModuleType:
    """A module of this project, imported when a task runs."""
    return package.project_module(PROJECT, name)


@dag(
    dag_id=config.MONITORING_DAG_ID,
    description=f"Drift and performance of the {config.EXPERIMENT_NAME} champion; asks for "
                f"retraining through the {config.RETRAINING_ASSET_NAME} asset",
    doc_md=__doc__,
    # Enabled, it starts paused like every new DAG (Airflow's default): unpause it once.
    schedule=config.MONITORING.schedule if config.MONITORING.enabled else None,
    is_paused_upon_creation=True if not config.MONITORING.enabled else None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["mlops", "monitoring", "evidently", config.TASK, config.EXPERIMENT_NAME],
    default_args={
        "retries": config.TASK_RETRIES,
        "retry_delay": timedelta(seconds=config.TASK_RETRY_DELAY_SECONDS),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
    },
    params={
        "window_hours": Param(
            config.MONITORING.window_hours, type="number", exclusiveMinimum=0,
            title="Window (hours)", description="Served inputs younger than this are compared."),
        "since": Param(
            "", type="string", title="Since (UTC, ISO 8601)",
            description="Compare only the inputs served after this moment, e.g. "
                        "2026-01-31T12:00:00+00:00. Empty: the last window_hours."),
    },
)
def mlops_monitoring():
    @task
    def check() -> dict:
        steps = project_module("mlops_platform.monitoring")
        window_type = project_module("mlops_platform.served_inputs").Window
        context = get_current_context()
        params = context["params"]
        try:
            since = datetime.fromisoformat(params["since"]) if params["since"] else None
            window = window_type.ending(datetime.now(UTC), float(params["window_hours"]), since)
        except ValueError as error:
            raise package.fail_without_retry(ValueError(
                f"param since={params['since']!r}: {error}; give a UTC time such as "
                f"2026-01-31T12:00:00+00:00")) from error
        return steps.run_check(window, context["run_id"])

    @task(outlets=[RETRAINING_ASSET])
    def request_retraining(summary: dict) -> None:
        extra = summary["retraining"]
        if extra is None:
            raise AirflowSkipException(f"no retraining needed: {summary['status']}")
        get_current_context()["outlet_events"][RETRAINING_ASSET].extra = extra
        print(f"retraining requested ({extra['reason']}): {extra}")

    request_retraining(check())


monitoring = mlops_monitoring()

if __name__ == "__main__":
    monitoring.test()
