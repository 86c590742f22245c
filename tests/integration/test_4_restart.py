"""Restart the whole stack mid-suite: what the runs so far made is all still there, and works."""

from __future__ import annotations

import pandas as pd
import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.platform_apis import (
    CHAMPION,
    DAG_ID,
    DagRun,
    bucket_objects,
    example_rows,
    offered_titles,
    served,
    served_version,
    wait_until,
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
    import mlflow

    settings = live_stack.settings
    name = settings.get("REGISTERED_MODEL_NAME")
    champion = restarted[1]["aliases"][CHAMPION]
    wait_until(lambda: served_version(settings) == champion, 60,
               f"the model server serving version {champion}")
    body = example_rows(3)
    frame = pd.DataFrame(body["dataframe_split"]["data"],
                         columns=body["dataframe_split"]["columns"])
    expected = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}").predict(frame)
    assert served(settings, body) == pytest.approx([float(value) for value in expected])
