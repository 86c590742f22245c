"""airflow/preimport.py: the scheduler imports the tasks' libraries, and a forked task inherits them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from stack.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "airflow" / "preimport.py"
spec = importlib.util.spec_from_file_location("preimport", SCRIPT)
preimport = importlib.util.module_from_spec(spec)
spec.loader.exec_module(preimport)


@pytest.mark.parametrize(("argv", "executor", "expected"), [
    (["scheduler"], "LocalExecutor", True),
    (["scheduler"], "LocalExecutor,CeleryExecutor", True),  # the first executor is the default
    (["scheduler"], "CeleryExecutor", False),  # Celery's workers run the tasks, not the scheduler
    (["api-server"], "LocalExecutor", False),
    (["dag-processor"], "LocalExecutor", False),
])
def test_only_a_scheduler_that_runs_tasks_preimports(argv, executor, expected) -> None:
    assert preimport.runs_tasks(argv, executor) is expected


# In a fresh interpreter, as the scheduler: Airflow first, then preimport(); then a fork, as the
# LocalExecutor's worker and the supervisor make one, which imports what the template's tasks
# import and trains a model.
FORKED_TASK = r"""
import importlib.util, json, logging, os, sys
spec = importlib.util.spec_from_file_location("preimport", sys.argv[1])
preimport = importlib.util.module_from_spec(spec)
spec.loader.exec_module(preimport)
import airflow.configuration  # as `airflow scheduler` has, with its logging configured
engine = logging.getLogger("sqlalchemy.engine")
engine_before = (engine.level, list(engine.handlers), engine.propagate)
failed = preimport.preimport()
import threading
report = {"failed": failed, "python_threads": threading.active_count(),
          "engine_kept": engine_before == (engine.level, list(engine.handlers), engine.propagate),
          "mlflow_configured": bool(logging.getLogger("mlflow").handlers)}
read, write = os.pipe()
if os.fork() == 0:
    loaded = set(sys.modules)
    dag_file = "project_template/DAG/dag_template.py"  # parsed by every task, as the runner does
    dag_spec = importlib.util.spec_from_file_location("dag_template", dag_file)
    dag_spec.loader.exec_module(importlib.util.module_from_spec(dag_spec))
    from project_template.Models.candidates import build_estimator, resolve_candidates
    from project_template.mlops_platform import (deployment, ingest, promotion, selection,
                                                 splitting, training)
    from project_template.Deployment import register_experiment
    import numpy as np
    X = np.random.default_rng(0).random((200, 10)); y = X @ np.arange(10.0)
    for candidate in resolve_candidates():
        build_estimator(candidate).fit(X, y)  # BLAS and OpenMP after the fork
    new = sorted({m.split(".")[0] for m in set(sys.modules) - loaded}
                 - set(sys.stdlib_module_names) - {"project_template", "airflow"})
    os.write(write, json.dumps(new).encode())
    os._exit(0)
os.close(write)
report["imported_by_task"] = json.loads(os.read(read, 100000))
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def forked_task() -> dict:
    result = subprocess.run([sys.executable, "-c", FORKED_TASK, str(SCRIPT)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_task_library_imports(forked_task: dict) -> None:
    assert forked_task["failed"] == []


def test_a_forked_task_imports_no_library_of_its_own(forked_task: dict) -> None:
    # A library the template's tasks use that the list lacks shows here: add it to TASK_MODULES.
    # (Airflow's own modules are left out: what the DAG file's parse still imports costs 0.04 s.)
    assert forked_task["imported_by_task"] == []


def test_no_python_thread_runs_at_the_fork(forked_task: dict) -> None:
    assert forked_task["python_threads"] == 1


def test_the_schedulers_loggers_stay_its_own(forked_task: dict) -> None:
    assert forked_task["engine_kept"], "MLflow's import changed the scheduler's sqlalchemy logger"
    assert forked_task["mlflow_configured"], "MLflow's own logger is MLflow's to configure"


def test_a_preimport_that_fails_does_not_stop_the_scheduler() -> None:
    failed = preimport.preimport(("json", "no_such_module_here"))
    assert len(failed) == 1 and failed[0].startswith("no_such_module_here (ModuleNotFoundError")
