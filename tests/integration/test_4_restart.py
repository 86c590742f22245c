"""Restart the whole stack mid-suite: what the runs so far made is all still there, and works."""

from __future__ import annotations

import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.platform_apis import (
    CHAMPION,
    DAG_ID,
    DagRun,
    assert_serves_champion,
    bucket_objects,
    offered_titles,
)

pytestmark = pytest.mark.integration

PARTS = ("mlflow runs", "model versions", "aliases", "bucket objects", "dag runs",
         "ids cloud catalog", "ids edge catalog")


def snapshot(api: AirflowAPI, mlflow_api, live_stack: LiveStack) -> dict[str, object]:
    """What a user would look for after a restart, read through each service's public API."""
    settings = live_stack.settings
    experiment = mlflow_api.get_experiment_by_name(settings.get("EXPERIMENT_NAME"))
    model = mlflow_api.get_registered_model(settings.get("REGISTERED_MODEL_NAME"))
    versions = mlflow_api.search_model_versions(f"name = '{model.name}'")
    return {
        "mlflow runs": {run.info.run_id: (run.info.status, run.data.metrics)
                        for run in mlflow_api.search_runs([experiment.experiment_id],
                                                          max_results=1000)},
        "model versions": {v.version: (v.run_id, v.source, v.tags) for v in versions},
        "aliases": dict(model.aliases),
        "bucket objects": bucket_objects(settings),
        "dag runs": {run["dag_run_id"]: run["state"] for run in api.dag_runs(DAG_ID)},
        "ids cloud catalog": sorted(offered_titles(settings)),
        "ids edge catalog": sorted(offered_titles(settings, "IDS_EDGE_API_PORT")),
    }


@pytest.fixture(scope="module")
def restarted(api: AirflowAPI, mlflow_api, first_run: DagRun,
              live_stack: LiveStack) -> tuple[dict, dict]:
    """The platform's state before and after `down` + `up` of every service."""
    before = snapshot(api, mlflow_api, live_stack)
    live_stack.restart()
    return before, snapshot(api, mlflow_api, live_stack)


@pytest.mark.parametrize("part", PARTS)
def test_survives_a_restart(restarted: tuple[dict, dict], part: str) -> None:
    before, after = restarted
    assert before[part], f"nothing to compare: no {part} before the restart"
    assert after[part] == before[part]


def test_the_champion_is_served_again_after_a_restart(
        restarted: tuple[dict, dict], mlflow_api, live_stack: LiveStack) -> None:
    assert_serves_champion(live_stack.settings, restarted[1]["aliases"][CHAMPION], rows=3)
