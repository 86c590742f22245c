"""`make new-project` on a running stack: the new DAGs show up beside the template's, unbroken."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stack.airflow_api import AirflowAPI
from stack.settings import REPO_ROOT
from tests.conftest import LiveStack

pytestmark = pytest.mark.integration


def test_new_project_is_picked_up_by_the_running_stack(live_stack: LiveStack) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "stack.new_project", "--env-file", str(live_stack.env_file),
         "live-check"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    project = live_stack.settings.projects_dir / "live_check"
    assert (project / "DAG" / "dag_template.py").exists()

    api = AirflowAPI.from_settings(live_stack.settings)
    dag = api.wait_for_dag("live_check", timeout=180)
    assert dag["dag_id"] == "live_check"
    # Its own monitoring DAG, paused until someone unpauses it, as every new DAG.
    monitoring = api.wait_for_dag("live_check_monitoring", timeout=180)
    assert monitoring["is_paused"] is True, monitoring
    assert api.dag("project_template")["dag_id"] == "project_template"
    assert api.import_errors() == []
