"""Restart the whole stack mid-suite: `down` stops everything, and after `up` what the runs so far
made is all still there, and works.

This is the suite's one `down` + `up`: it checks persistence on the state the lifecycle and fault
runs made (two DAG runs, their models, aliases, artifacts and catalog entries), not on a state
made for it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import psutil
import pytest

from stack.airflow_api import AirflowAPI
from stack.services import SERVICES
from tests.conftest import LiveStack
from tests.integration.platform_apis import (
    CHAMPION,
    DAG_ID,
    TEMPLATE,
    DagRun,
    assert_serves_champion,
    bucket_objects,
    champion_predictions,
    offered_titles,
)

pytestmark = [pytest.mark.integration, pytest.mark.controls_stack]

PARTS = ("mlflow runs", "model versions", "aliases", "champion predictions", "bucket objects",
         "dag runs", "ids cloud catalog", "ids edge catalog")


def snapshot(api: AirflowAPI, mlflow_api, live_stack: LiveStack) -> dict[str, object]:
    """What a user would look for after a restart, read through each service's public API."""
    settings = live_stack.settings
    experiment = mlflow_api.get_experiment_by_name(TEMPLATE.EXPERIMENT_NAME)
    model = mlflow_api.get_registered_model(TEMPLATE.REGISTERED_MODEL_NAME)
    versions = mlflow_api.search_model_versions(f"name = '{model.name}'")
    return {
        "mlflow runs": {run.info.run_id: (run.info.status, run.data.metrics)
                        for run in mlflow_api.search_runs([experiment.experiment_id],
                                                          max_results=1000)},
        "model versions": {v.version: (v.run_id, v.source, v.tags) for v in versions},
        "aliases": dict(model.aliases),
        # The champion's artifacts, loaded back from the object store through the registry.
        "champion predictions": champion_predictions(settings, rows=5),
        "bucket objects": bucket_objects(settings),
        "dag runs": {run["dag_run_id"]: run["state"] for run in api.dag_runs(DAG_ID)},
        "ids cloud catalog": sorted(offered_titles(settings)),
        "ids edge catalog": sorted(offered_titles(settings, "IDS_EDGE_API_PORT")),
    }


@dataclass
class Restart:
    before: dict
    after: dict
    native: bool
    processes_before: int
    left_running: list[str]
    ports_open: list[str]


def _open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def restarted(api: AirflowAPI, mlflow_api, first_run: DagRun, live_stack: LiveStack) -> Restart:
    """The platform's state before and after `down` + `up`, and what `down` left behind."""
    settings = live_stack.settings
    before = snapshot(api, mlflow_api, live_stack)
    native, processes = live_stack.native, live_stack.processes()
    live_stack.down()
    psutil.wait_procs(processes, timeout=10)  # the last exits, reaped; what is left stays listed
    left = [" ".join(p.cmdline()[:3]) for p in processes
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    ports = [f"{variable}={settings.get(variable)}" for service in SERVICES
             for variable in service.ports if _open(settings.int(variable))]
    live_stack.up()
    return Restart(before, snapshot(api, mlflow_api, live_stack), native, len(processes), left,
                   ports)


def test_down_leaves_no_process_and_no_open_port(restarted: Restart) -> None:
    assert not restarted.ports_open, f"still listening after down: {restarted.ports_open}"
    if restarted.native:  # under Compose, the processes are the containers'
        assert restarted.processes_before > 5, "the native runner's processes were not found"
        assert not restarted.left_running, f"still running after down: {restarted.left_running}"


@pytest.mark.parametrize("part", PARTS)
def test_survives_a_restart(restarted: Restart, part: str) -> None:
    assert restarted.before[part], f"nothing to compare: no {part} before the restart"
    assert restarted.after[part] == restarted.before[part]


def test_the_champion_is_served_again_after_a_restart(
        restarted: Restart, mlflow_api, live_stack: LiveStack) -> None:
    assert_serves_champion(live_stack.settings, restarted.after["aliases"][CHAMPION], rows=3)
