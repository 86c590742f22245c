"""`dag.test()` (what `python DAG/dag_template.py` runs) against the live stack, on bad data.

The DAG runs in this test's process, with no scheduler: its run and task instances go to the stack's
Airflow database and read_data reaches the stack's services. Bad data fails read_data at once, so
the check costs seconds; the whole DAG succeeding is what the REST-triggered runs of
tests/integration show, on the same code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stack.native.backends import load as load_backends
from stack.native.layout import Layout
from stack.native.programs import airflow_environment, base_environment
from stack.settings import REPO_ROOT
from tests.conftest import LiveStack

pytestmark = [pytest.mark.integration, pytest.mark.native]

DAG_FILE = REPO_ROOT / "project_template" / "DAG" / "dag_template.py"

# Runs in Airflow's task environment: the DAG in-process, then what the registry says.
DAG_TEST = """
import json, runpy, sys
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

module = runpy.run_path(sys.argv[1])
conf = json.loads(sys.argv[2])
config = sys.modules[module["PROJECT"] + ".config"]

def champion():
    try:
        return MlflowClient().get_model_version_by_alias(config.REGISTERED_MODEL_NAME, "champion").version
    except MlflowException:
        return None

before = champion()
run = module["lifecycle"].test(run_conf=conf)
states = {ti.task_id + ("" if ti.map_index < 0 else f"[{ti.map_index}]"): str(ti.state)
          for ti in run.get_task_instances()}
print(json.dumps({"state": str(run.state), "tasks": states, "champion_before": before,
                  "champion_after": champion()}))
"""


def dag_test(stack: LiveStack, conf: dict, dag_file: Path = DAG_FILE) -> tuple[dict, str]:
    settings = stack.settings
    layout = Layout(settings.state_dir)
    env = {**base_environment(), **airflow_environment(settings, load_backends(layout), layout)}
    result = subprocess.run([sys.executable, "-c", DAG_TEST, str(dag_file), json.dumps(conf)],
                            env=env, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout + result.stderr


def test_bad_data_fails_read_data_naming_the_problem_and_keeps_the_champion(
        live_stack: LiveStack, tmp_path: Path) -> None:
    bad = tmp_path / "no_target.csv"
    bad.write_text("age;sex;bmi\n59;2;32.1\n48;1;21.6\n")
    outcome, log = dag_test(live_stack, {"data_source": "local", "data_location": str(bad)})
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["read_data"] == "failed"
    assert "missing required column" in log and "disease_progression" in log, log[-4000:]
    assert outcome["champion_after"] == outcome["champion_before"]


def test_bad_data_fails_a_classification_projects_read_data_too(live_stack: LiveStack,
                                                                 tmp_path: Path) -> None:
    from stack.airflow_api import AirflowAPI
    from tests.integration.platform_apis import classification_project

    project = classification_project(live_stack, AirflowAPI.from_settings(live_stack.settings))
    lines = project.LOCAL_DATA_FILE.read_text().splitlines()
    cells = lines[2].split(";")
    cells[0] = "very high"  # alcohol_level: not one of its categories
    bad = tmp_path / "unknown_category.csv"
    bad.write_text("\n".join([lines[0], lines[1], ";".join(cells), *lines[3:]]) + "\n")
    outcome, log = dag_test(live_stack, {"data_source": "local", "data_location": str(bad)},
                            project.PROJECT_DIR / "DAG" / "dag_template.py")
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["read_data"] == "failed"
    assert "column 'alcohol_level' must be one of ['low', 'medium', 'high']" in log, log[-4000:]
    assert "data row(s) 2" in log
    assert outcome["champion_after"] == outcome["champion_before"]
