"""Secrets only where they are needed, on the live stack: what `ps` shows, what tasks get.

A real task reports which secrets its environment holds, whatever the runner. It is given the
length and SHA-256 of each secret, never the secret, and looks for them inside every variable (a
password can sit inside a database URI). The native runner's processes are also read directly.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import psutil
import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.stack.secret_rules import GENERATED, NEVER_FOR_TASKS, SEES, seen

pytestmark = pytest.mark.integration

PROBE_DAG = "secrets_probe"
PROBE = '''
"""Reports which of the given secrets its task's environment holds (a test's probe)."""
import hashlib, json, os
from airflow.sdk import dag, task


@dag(dag_id="secrets_probe", schedule=None, tags=["test"])
def secrets_probe():
    @task
    def what_a_task_sees(**context) -> str:
        wanted = context["dag_run"].conf["secrets"]  # name -> [length, sha256]
        values = list(os.environ.values())
        held = sorted(name for name, (length, digest) in wanted.items() if any(
            hashlib.sha256(value[i:i + length].encode()).hexdigest() == digest
            for value in values for i in range(len(value) - length + 1)))
        root = context["dag_run"].conf["root_access_key"]
        return json.dumps({"held": held, "keys": sorted(os.environ),
                           "root_access_key": os.environ.get("AWS_ACCESS_KEY_ID") == root})

    what_a_task_sees()


secrets_probe()
'''


def fingerprint(value: str) -> list:
    return [len(value), hashlib.sha256(value.encode()).hexdigest()]


def test_a_task_holds_neither_the_admin_password_nor_the_root_keys(live_stack: LiveStack) -> None:
    settings = live_stack.settings
    folder = settings.projects_dir / PROBE_DAG
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PROBE_DAG}.py").write_text(PROBE)
    api = AirflowAPI.from_settings(settings)
    try:
        api.wait_for_dag(PROBE_DAG, timeout=180)
        api.unpause(PROBE_DAG)
        run_id = api.trigger(PROBE_DAG, {
            "secrets": {name: fingerprint(settings.get(name)) for name in GENERATED},
            "root_access_key": settings.get("S3_ACCESS_KEY")})
        run = api.wait_for_run(PROBE_DAG, run_id, timeout=300)
        assert run["state"] == "success", api.task_log(PROBE_DAG, run_id, "what_a_task_sees", 1)
        entry = api.request("GET", f"dags/{PROBE_DAG}/dagRuns/{run_id}/taskInstances/"
                                   f"what_a_task_sees/xcomEntries/return_value").json()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = json.loads(entry["value"])
    print("a task's environment holds:", report["held"])
    assert not set(report["held"]) & NEVER_FOR_TASKS
    assert set(report["held"]) <= SEES["airflow-scheduler"]
    assert not report["root_access_key"]
    assert "MLFLOW_TRACKING_URI" in report["keys"]  # the probe saw the task's real environment


def test_no_command_line_holds_a_secret(live_stack: LiveStack) -> None:
    settings = live_stack.settings
    shown, lines = [], []
    for process in psutil.process_iter(["pid", "cmdline"]):  # every process of the machine
        lines.append(" ".join(process.info["cmdline"] or []))
        leaked = seen([lines[-1]], settings)
        shown += [f"{name} in the command line of pid {process.info['pid']}" for name in leaked]
    assert not shown
    # The scan saw this stack: MLflow's web server (mlflow/serve.py, uvicorn in its process; the
    # uvicorn child it once exec'd held the database password on its command line for seconds,
    # until this was fixed).
    ours = {p.pid for p in live_stack.processes()}
    assert any("serve.py" in " ".join(p.info["cmdline"] or []) and
               "--allowed-hosts" in (p.info["cmdline"] or [])
               for p in psutil.process_iter(["pid", "cmdline"]) if p.info["pid"] in ours)


def _environ(process: psutil.Process) -> dict[str, str] | None:
    try:
        return process.environ()  # /proc/PID/environ
    except psutil.Error:  # ended meanwhile (a task's process)
        return None


@pytest.mark.native
def test_each_native_service_holds_only_its_own_secrets(live_stack: LiveStack) -> None:
    """/proc/PID/environ of every process of every service (a process that retitles itself,
    as Airflow's workers do, may show less: the task above is the proof for tasks)."""
    from bench.measure import service_processes
    from stack.native.layout import Layout
    from stack.native.programs import FORKSERVER
    from stack.native.supervisor import Supervisor

    settings = live_stack.settings
    # The fork server holds what the Airflow components it forks hold, and no more.
    allowed = {**SEES, FORKSERVER: SEES["airflow-scheduler"]}
    pids = {info["name"]: info["pid"] for info in Supervisor(Layout(settings.state_dir)).all_info()}
    held: dict[str, set[str]] = {}
    for name, processes in service_processes(pids).items():
        assert processes, f"{name} runs no process"
        environs = [environ for environ in map(_environ, processes) if environ is not None]
        held[name] = seen((v for env in environs for v in env.values()), settings)
        assert held[name] <= allowed[name], name
    print("secrets each native service's processes hold:",
          {name: sorted(names) for name, names in sorted(held.items())})
    assert "airflow-scheduler" in held and "mlflow" in held
