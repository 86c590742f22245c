"""The stack from nothing: readiness, loopback only, a model through MLflow, bad input.

Tests marked `native` drive the native runner itself; the others run under Compose too
(`make test-compose`).

What survives `down` + `up`, and that `down` leaves no process and no open port, is checked once,
on the state the lifecycle runs made: tests/integration/test_4_restart.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from stack.native.backends import load as load_backends
from stack.native.layout import Layout
from stack.native.supervisor import Supervisor
from stack.services import SERVICES
from stack.settings import REPO_ROOT
from tests.conftest import LiveStack, make_test_folder, stack_cli, write_test_env

pytestmark = pytest.mark.integration

# Runs with the environment of Airflow's tasks: what a DAG's task does with MLflow.
MLFLOW_CLIENT = """
import json, sys
import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression

name = sys.argv[1]
X = np.arange(20, dtype=float).reshape(10, 2)
y = X @ [1.5, -2.0] + 3.0
mlflow.set_experiment("stack-smoke")
with mlflow.start_run() as run:
    mlflow.log_params({"fit_intercept": True, "features": 2})
    mlflow.log_metrics({"r2_train": 1.0, "rmse_train": 0.0})
    info = mlflow.sklearn.log_model(LinearRegression().fit(X, y), name="model",
                                    input_example=X[:2], registered_model_name=name)
client = MlflowClient()
version = info.registered_model_version
client.set_registered_model_alias(name, "champion", version)
loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
print(json.dumps({"run_id": run.info.run_id, "version": str(version),
                  "prediction": [float(v) for v in loaded.predict(X[:3])],
                  "expected": [float(v) for v in y[:3]]}))
"""


@pytest.mark.native
def test_cold_start_reports_every_service_ready(live_stack: LiveStack) -> None:
    if not live_stack.managed:
        pytest.skip("STACK=external: the stack was started elsewhere")
    output = live_stack.up_output
    backends = load_backends(Layout(live_stack.settings.state_dir))
    for service in SERVICES:
        if not service.backend or service.backend in backends.names:
            assert f"✓ {service.name}" in output, service.name
    assert "All services ready" in output
    assert live_stack.settings.airflow_url in output and live_stack.settings.mlflow_url in output


def test_every_readiness_check_passes(live_stack: LiveStack) -> None:
    result = stack_cli(live_stack.env_file, "status")
    assert "NOT READY" not in result.stdout


@pytest.mark.native
def test_servers_listen_on_loopback_only(live_stack: LiveStack) -> None:
    settings = live_stack.settings
    ours = {p.pid for p in live_stack.processes()}
    assert len(ours) > 5, "the native runner's processes were not found: nothing was checked"
    listening = 0
    for conn in psutil.net_connections(kind="inet"):
        if conn.status != psutil.CONN_LISTEN or conn.pid not in ours:
            continue
        listening += 1
        # Airflow's log servers bind 0.0.0.0 whatever we ask (only their ports can be set).
        log_ports = {settings.int("AIRFLOW_WORKER_LOG_PORT"),
                     settings.int("AIRFLOW_TRIGGERER_LOG_PORT")}
        if conn.laddr.port not in log_ports:
            assert conn.laddr.ip == "127.0.0.1", conn
    assert listening >= 5, f"only {listening} listening sockets of the stack's processes found"


def test_mlflow_host_header_of_airflow_tasks_is_accepted(live_stack: LiveStack) -> None:
    settings = live_stack.settings
    url = f"{settings.mlflow_url}/api/2.0/mlflow/experiments/search"
    ok = requests.get(url, params={"max_results": 1}, timeout=10)
    assert ok.status_code == 200
    # A name the server was not told about is refused: the check is real, not switched off.
    foreign = requests.get(url, params={"max_results": 1}, timeout=10,
                           headers={"Host": "evil.example:80"})
    assert foreign.status_code == 403


def test_airflow_task_environment_logs_a_model_and_loads_it_through_the_registry(
        live_stack: LiveStack) -> None:
    if live_stack.compose:  # in the scheduler's container, where the LocalExecutor runs tasks
        command = live_stack.compose.exec_command("airflow-scheduler", "python", "-c",
                                                  MLFLOW_CLIENT, "stack-smoke-model")
        env = None
    else:
        command = [sys.executable, "-c", MLFLOW_CLIENT, "stack-smoke-model"]
        env = live_stack.task_environment()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["prediction"] == pytest.approx(outcome["expected"])
    # The artifacts went through the server into the object store.
    artifacts = requests.get(
        f"{live_stack.settings.mlflow_url}/api/2.0/mlflow/artifacts/list",
        params={"run_id": outcome["run_id"], "path": "model"}, timeout=10)
    assert artifacts.status_code == 200, artifacts.text


@pytest.fixture
def spare_env() -> Path:
    folder = make_test_folder()
    yield write_test_env(folder)
    subprocess.run([sys.executable, "-m", "stack", "--env-file", str(folder / ".env"), "down"],
                   cwd=REPO_ROOT, capture_output=True)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _nothing_started(env_file: Path) -> None:
    layout = Layout(env_file.parent / "state")  # where write_test_env puts the state
    assert Supervisor(layout).pid is None
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if str(env_file) in " ".join(p.info["cmdline"] or [])]
    assert not leftovers


@pytest.mark.native
def test_port_in_use_is_named_and_nothing_starts(spare_env: Path) -> None:
    from stack.settings import load_settings

    port = load_settings(spare_env, environ={}).int("MLFLOW_PORT")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = stack_cli(spare_env, "up", check=False)
    assert result.returncode == 2
    assert f"port {port} (MLFLOW_PORT, for mlflow) is already in use" in result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    _nothing_started(spare_env)


@pytest.mark.native
def test_malformed_env_is_named_and_nothing_starts(spare_env: Path) -> None:
    import re

    spare_env.write_text(re.sub(r"(?m)^AIRFLOW_JWT_SECRET=.*$", "AIRFLOW_JWT_SECRET=too-short",
                                spare_env.read_text()))
    result = stack_cli(spare_env, "up", check=False)
    assert result.returncode == 2
    assert "AIRFLOW_JWT_SECRET" in result.stderr and "64" in result.stderr
    _nothing_started(spare_env)


@pytest.mark.native
def test_service_that_never_becomes_ready_is_named_with_its_log_and_all_is_stopped(
        spare_env: Path) -> None:
    spare_env.write_text(spare_env.read_text().replace("STACK_HEALTH_TIMEOUT=180",
                                                       "STACK_HEALTH_TIMEOUT=1"))
    result = stack_cli(spare_env, "up", check=False, timeout=300)
    assert result.returncode == 1
    assert "not ready after 1s" in result.stdout
    assert "failed:" in result.stderr and "log: " in result.stderr
    assert "nothing is left half-running" in result.stdout
    _nothing_started(spare_env)


@pytest.mark.native
def test_clean_asks_first_and_deletes_only_when_told(spare_env: Path) -> None:
    state = spare_env.parent / "state"
    (state / "postgres").mkdir(parents=True)
    (state / "postgres" / "marker").write_text("data")
    env = {k: v for k, v in os.environ.items() if k != "STACK"}
    refused = subprocess.run([sys.executable, "-m", "stack", "--env-file", str(spare_env), "clean"],
                             cwd=REPO_ROOT, input="no\n", capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "Nothing deleted" in refused.stdout
    assert (state / "postgres" / "marker").exists()
    agreed = subprocess.run([sys.executable, "-m", "stack", "--env-file", str(spare_env), "clean"],
                            cwd=REPO_ROOT, input="yes\n", capture_output=True, text=True, env=env)
    assert agreed.returncode == 0, agreed.stderr
    assert not state.exists()
