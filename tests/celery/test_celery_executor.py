"""The CeleryExecutor run live: tasks spread over workers, survive a dead worker and a broker
restart, and a worker added from "another machine" (its own settings, state and process tree)
takes tasks; all of it with MLflow and the model server behind their logins.

One private native stack with AIRFLOW_EXECUTOR=celery and two workers serves the whole module
(tests/celery/conftest.py). The tests run in file order: the last one stops the stack's workers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import xmlrpc.client
from dataclasses import dataclass

import pytest
import redis
import requests

from bench.serving import stop_group
from stack.airflow_api import AirflowAPI
from stack.native.layout import Layout
from stack.native.supervisor import Supervisor
from stack.private import make_private_folder, stack_session
from stack.readiness import celery_nodes
from stack.worker import worker_env_text
from tests.celery.conftest import PROBE_DAG_ID, WORKERS
from tests.conftest import LiveStack, stack_cli
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import describe, run_dag, served_version

pytestmark = [pytest.mark.integration, pytest.mark.native]

EXTRA_WORKER = "extra-worker"
# Airflow's default Celery queue: a Redis list of that name holds the messages not yet taken.
QUEUE = "default"


def test_status_shows_the_broker_and_each_worker(celery_stack: LiveStack) -> None:
    for name in ("redis", *WORKERS):
        assert f"✓ {name}" in celery_stack.up_output, name
    lines = stack_cli(celery_stack.env_file, "status").stdout.splitlines()
    for name in ("redis", *WORKERS):
        (line,) = [line for line in lines if line.split()[:1] == [name]]
        assert "RUNNING" in line and line.endswith("ready"), line
    assert {node.split("@")[0] for node in celery_nodes(celery_stack.settings)} == set(WORKERS)


def test_mlflow_asks_for_its_login(celery_stack: LiveStack) -> None:
    settings = celery_stack.settings
    url = f"{settings.mlflow_url}/api/2.0/mlflow/experiments/search"
    anonymous = requests.get(url, params={"max_results": 1}, timeout=30)
    assert anonymous.status_code == 401, anonymous.text[:300]
    wrong = requests.get(url, params={"max_results": 1}, timeout=30,
                         auth=(settings.get("MLFLOW_AUTH_USER"), "not-the-password"))
    assert wrong.status_code == 401
    assert requests.get(url, params={"max_results": 1}, timeout=30,
                        auth=settings.mlflow_auth).status_code == 200


def test_the_example_dags_candidates_train_on_both_workers(celery_api: AirflowAPI) -> None:
    run = run_dag(celery_api)
    assert_succeeded(celery_api, run)
    hosts = {ti["hostname"] for ti in run.tasks("model_training")}
    assert len(run.tasks("model_training")) >= 2
    assert len(hosts) >= 2 and hosts <= set(WORKERS), describe(run)
    assert {ti["hostname"] for ti in run.task_instances} <= set(WORKERS)


def test_the_model_server_asks_for_its_login_and_deploy_logs_in(celery_stack: LiveStack) -> None:
    """After the example DAG's run: its `deploy` task (on a worker) reloaded the champion through
    the login; without the login only the health checks answer."""
    settings = celery_stack.settings
    base = settings.model_server_url
    name = settings.get("REGISTERED_MODEL_NAME")
    champion = requests.get(f"{settings.mlflow_url}/api/2.0/mlflow/registered-models/alias",
                            params={"name": name, "alias": "champion"}, timeout=30,
                            auth=settings.mlflow_auth)
    assert champion.status_code == 200, champion.text[:300]
    # platform_apis sends the login of .env.
    assert served_version(settings) == champion.json()["model_version"]["version"]
    for path in ("/health", "/ping"):
        assert requests.get(f"{base}{path}", timeout=30).status_code == 200, path
    for response in (requests.get(f"{base}/models", timeout=30),
                     requests.post(f"{base}/models/{name}/reload", timeout=30),
                     requests.post(f"{base}/invocations", json={}, timeout=30),
                     requests.get(f"{base}/models", timeout=30,
                                  auth=(settings.get("MODEL_SERVER_AUTH_USER"), "not-it"))):
        assert response.status_code == 401, response.text[:300]


def _probe(api: AirflowAPI, **conf: float) -> str:
    api.wait_for_dag(PROBE_DAG_ID, timeout=120)
    api.unpause(PROBE_DAG_ID)
    return api.trigger(PROBE_DAG_ID, conf=conf)


def _keep_stopped(supervisor: Supervisor, name: str, timeout: float = 120) -> None:
    """Stop `name` and make sure supervisord's restart of a crashed program does not bring it back.

    A worker restarted by supervisord may take its whole stop timeout (30 s) to stop on a busy
    machine; the task's retry comes only after the heartbeat timeout, so this has the time.
    """
    deadline, stopped_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = supervisor.info(name)["statename"]
        if state in ("STARTING", "RUNNING", "BACKOFF"):
            with contextlib.suppress(xmlrpc.client.Fault):
                supervisor.rpc.supervisor.stopProcess(name, True)
            stopped_since = None
        elif state in ("STOPPED", "EXITED", "FATAL"):
            stopped_since = stopped_since or time.monotonic()
            if time.monotonic() - stopped_since > 2:
                return
        time.sleep(0.3)
    raise AssertionError(f"{name} did not stay stopped")


def test_a_task_whose_worker_dies_is_retried_on_the_other(celery_stack: LiveStack,
                                                          celery_api: AirflowAPI) -> None:
    supervisor = Supervisor(Layout(celery_stack.settings.state_dir))
    killed: dict = {}

    def kill_its_worker(ti: dict) -> None:
        if ti["task_id"] == "hold" and ti["state"] == "running" and not killed:
            killed.update(worker=ti["hostname"], pid=ti["pid"], try_number=ti["try_number"])
            # As if its machine died: the worker's process group (pool, task supervisors), then
            # the task, which Airflow runs in a process group of its own.
            celery_stack.kill_service(ti["hostname"])
            with contextlib.suppress(ProcessLookupError):
                os.killpg(ti["pid"], signal.SIGKILL)
            _keep_stopped(supervisor, ti["hostname"])

    run_id = _probe(celery_api, seconds=20, tasks=1)
    try:
        run = celery_api.wait_for_run(PROBE_DAG_ID, run_id, timeout=300, on_change=kill_its_worker)
    finally:
        if killed:
            celery_stack.start_service(killed["worker"])
    assert killed, "the task was never seen running"
    (hold,) = [ti for ti in celery_api.task_instances(PROBE_DAG_ID, run_id)
               if ti["task_id"] == "hold"]
    assert run["state"] == "success", hold
    assert hold["state"] == "success" and hold["try_number"] > killed["try_number"], hold
    assert hold["hostname"] in WORKERS and hold["hostname"] != killed["worker"], hold


# -- a worker on "another machine", and a broker restart under a queued run ------------------------

@dataclass
class QueuedRun:
    run: dict
    task_instances: list[dict]
    in_broker_before: int  # task messages waiting in Redis before it restarted
    in_broker_after: int


def _waiting_in_broker(stack: LiveStack) -> int:
    return redis.Redis.from_url(stack.settings.broker_url).llen(QUEUE)


@pytest.fixture(scope="module")
def queued_run(celery_stack: LiveStack, celery_api: AirflowAPI) -> QueuedRun:
    """A run queued while no worker runs, Redis restarted under it, then taken by a new worker.

    The new worker is started the way README's scale-out section says a second machine starts
    one: its own `.env` from `make worker-env` (only the settings a worker needs), its own state
    folder, `python -m stack worker`, as a process tree apart from the stack's supervisord.
    """
    for name in WORKERS:  # only the added worker may take this run's tasks
        celery_stack.stop_service(name)
    run_id = _probe(celery_api, seconds=1, tasks=4)
    deadline = time.monotonic() + 120
    while (before := _waiting_in_broker(celery_stack)) == 0:
        assert time.monotonic() < deadline, "the run's first task never reached the broker"
        time.sleep(1)
    celery_stack.stop_service("redis")
    celery_stack.start_service("redis")
    celery_stack.ready("redis", timeout=60)
    after = _waiting_in_broker(celery_stack)

    folder = make_private_folder("mlops-worker-")
    env_file = folder / ".env"
    env_file.write_text(worker_env_text(celery_stack.settings, "127.0.0.1")
                        + f"STACK_STATE_DIR={folder / 'state'}\n"
                        + f"PROJECTS_DIR={celery_stack.settings.projects_dir}\n")
    env_file.chmod(0o600)
    worker = stack_session(env_file, folder / "worker.log", "worker", "--name", EXTRA_WORKER)
    try:
        run = celery_api.wait_for_run(PROBE_DAG_ID, run_id, timeout=300)
        assert worker.poll() is None, (folder / "worker.log").read_text()[-3000:]
        return QueuedRun(run, celery_api.task_instances(PROBE_DAG_ID, run_id), before, after)
    finally:
        stop_group(worker, timeout=60)
        if not os.environ.get("KEEP_TEST_STACK"):
            shutil.rmtree(folder, ignore_errors=True)


def test_a_queued_run_survives_a_broker_restart(queued_run: QueuedRun) -> None:
    assert queued_run.in_broker_before >= 1
    # Nothing lost (the scheduler may have queued more meanwhile, never fewer).
    assert queued_run.in_broker_after >= queued_run.in_broker_before
    assert queued_run.run["state"] == "success", queued_run.task_instances


def test_a_worker_added_from_another_machine_takes_the_tasks(queued_run: QueuedRun) -> None:
    assert len(queued_run.task_instances) == 5  # `slots` and its four mapped `hold`s
    assert {ti["hostname"] for ti in queued_run.task_instances} == {EXTRA_WORKER}
    assert {ti["state"] for ti in queued_run.task_instances} == {"success"}

