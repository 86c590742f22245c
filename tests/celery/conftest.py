"""The Celery tests' own private native stack: AIRFLOW_EXECUTOR=celery, two workers, a probe DAG.

It is separate from the session's LocalExecutor stack (tests/conftest.py) and shaped for its
tests: the probe DAG in its projects folder, and a 30 s task heartbeat timeout so that a task
whose worker died is retried within a test's patience (Airflow's default is 300 s). It runs as a
stack that lets in other machines' workers must: MLflow and the model server with their logins
(MLFLOW_AUTH=basic, MODEL_SERVER_AUTH=basic), so every task, the model server, the `deploy` task's
reload and the added worker run through them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack, make_test_folder, stack_cli, write_test_env

PROBE_DAG = Path(__file__).with_name("probe_dag.py")
PROBE_DAG_ID = "celery_probe"
WORKERS = ("airflow-worker-1", "airflow-worker-2")


@pytest.fixture(scope="session")
def celery_stack() -> Iterator[LiveStack]:
    folder = make_test_folder()
    projects = folder / "projects"
    projects.mkdir()
    shutil.copy(PROBE_DAG, projects / PROBE_DAG.name)
    env_file = write_test_env(folder, AIRFLOW_EXECUTOR="celery", AIRFLOW_CELERY_WORKERS="2",
                              AIRFLOW_TASK_HEARTBEAT_TIMEOUT="30", MLFLOW_AUTH="basic",
                              MODEL_SERVER_AUTH="basic",
                              PROJECTS_DIR=str(projects))
    stack = LiveStack(env_file, managed=True)
    try:
        stack.up()
        yield stack
    finally:
        stack_cli(env_file, "down", check=False)
        if os.environ.get("KEEP_TEST_STACK"):
            print(f"Celery test stack state kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def celery_api(celery_stack: LiveStack) -> AirflowAPI:
    return AirflowAPI.from_settings(celery_stack.settings)
