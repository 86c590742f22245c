"""An IDS outage that outlasts every retry: read_data fails, saying where and why; nothing registers."""

from __future__ import annotations

import pytest

from stack.airflow_api import AirflowAPI
from tests.conftest import LiveStack
from tests.integration.platform_apis import (
    DAG_ID,
    TEMPLATE,
    DagRun,
    alias_version,
    describe,
    model_versions,
    run_dag,
    set_cloud_faults,
    task_proxy_url,
)

pytestmark = pytest.mark.integration


def test_a_lasting_ids_outage_fails_read_data_naming_the_connector_and_registers_nothing(
        api: AirflowAPI, mlflow_api, first_run: DagRun, live_stack: LiveStack) -> None:
    settings = live_stack.settings
    name = TEMPLATE.REGISTERED_MODEL_NAME
    versions_before = set(model_versions(mlflow_api, name))
    champion_before = alias_version(mlflow_api, name)

    set_cloud_faults(settings, {"error_rate": 1.0, "error_status": 503})
    try:
        run = run_dag(api)
    finally:
        set_cloud_faults(settings, {})

    assert run.state == "failed", describe(run)
    read = run.task("read_data")
    retries = int(api.request("GET", f"dags/{DAG_ID}/tasks/read_data").json()["retries"])
    assert (read["state"], read["try_number"]) == ("failed", retries + 1), describe(run)
    log = api.task_log(DAG_ID, run.run_id, "read_data", read["try_number"])
    proxy = task_proxy_url(live_stack.task_environment())
    assert f"failed at {proxy}: HTTP 503" in log, log[-2000:]
    # Nothing downstream of the data ran; the registry is as it was.
    for task_id in ("data_processing", "model_training", "register_and_promote", "deploy"):
        assert {ti["state"] for ti in run.tasks(task_id)} == {"upstream_failed"}, describe(run)
    assert set(model_versions(mlflow_api, name)) == versions_before
    assert alias_version(mlflow_api, name) == champion_before
