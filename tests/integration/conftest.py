"""Fixtures of the integration tests: clients of the live stack and one shared successful run.

A DAG run takes one to three minutes on two cores, so the checks of a run share it: `first_run`
is the example DAG run with its defaults that every lifecycle and browser check looks at.
"""

from __future__ import annotations

import pytest

from stack.airflow_api import AirflowAPI
from stack.demo import failed_task_logs
from tests.conftest import LiveStack
from tests.integration.platform_apis import DAG_ID, DagRun, describe, mlflow_client, run_dag


@pytest.fixture(scope="session")
def api(live_stack: LiveStack) -> AirflowAPI:
    return AirflowAPI.from_settings(live_stack.settings)


@pytest.fixture(scope="session")
def mlflow_api(live_stack: LiveStack):
    """An MlflowClient of the stack (and MLflow's global URIs pointed at it)."""
    return mlflow_client(live_stack.settings)


def assert_succeeded(api: AirflowAPI, run: DagRun, dag_id: str = DAG_ID) -> None:
    if run.state != "success":
        logs = "\n".join(failed_task_logs(api, dag_id, run.run_id))
        raise AssertionError(f"run {run.run_id} ended {run.state}:\n{describe(run)}\n{logs}")


@pytest.fixture(scope="session")
def first_run(api: AirflowAPI) -> DagRun:
    """The example DAG run with its default params, triggered through REST API v2."""
    run = run_dag(api)
    assert_succeeded(api, run)
    return run

