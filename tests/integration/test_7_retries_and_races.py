"""Retries that never act twice, and promotions that cannot race, on the live stack.

- A DAG run whose `read_data`, `model_training` (every candidate) and `register_and_promote` each
  fail their first try right after their side effect (the DAG's test-only run-conf switch), and
  Airflow retries them: one pipeline run, one run per candidate, one model version.
- Two processes promote the same model at the same moment, from two runs whose candidates both
  beat the champion, through the stack's promotion lock: they decide one after the other, the
  second against the first's result, and the better one ends as champion. Without the lock both
  compare with the old champion and the last to set the alias wins, better or not (measured against
  a local store with the lock taken out: both recorded the old champion as `compared_with_version`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest

from stack.airflow_api import AirflowAPI
from stack.settings import REPO_ROOT
from tests.conftest import LiveStack
from tests.integration.conftest import assert_succeeded
from tests.integration.platform_apis import (
    CHAMPION,
    EXAMPLE_CSV,
    TEMPLATE,
    dag_params,
    describe,
    run_dag,
)

pytestmark = pytest.mark.integration

FAILING_FIRST_TRIES = ["read_data", "model_training", "register_and_promote"]


def test_retried_tasks_reuse_what_their_failed_first_try_made(api: AirflowAPI, mlflow_api) -> None:
    run = run_dag(api, {"test_fail_after_side_effect": FAILING_FIRST_TRIES})
    assert_succeeded(api, run)
    for task_id in FAILING_FIRST_TRIES:
        tries = {ti["try_number"] for ti in run.tasks(task_id)}
        assert tries == {2}, f"{task_id} was not retried once:\n{describe(run)}"

    experiment = mlflow_api.get_experiment_by_name(TEMPLATE.EXPERIMENT_NAME).experiment_id
    runs = mlflow_api.search_runs([experiment],
                                  f"tags.`airflow.dag_run_id` = '{run.run_id}'")
    pipelines = [r for r in runs if r.data.tags.get("mlops.run_kind") == "pipeline"]
    candidates = sorted(r.data.tags["candidate"] for r in runs if "candidate" in r.data.tags)
    assert len(pipelines) == 1, [r.info.run_id for r in pipelines]
    assert candidates == sorted(dag_params(api)["candidate_models"]["value"])
    assert len(runs) == 1 + len(candidates)  # and nothing else: the first tries' runs were reused
    versions = mlflow_api.search_model_versions(f"name = '{TEMPLATE.REGISTERED_MODEL_NAME}'")
    ours = [v for v in versions if v.tags.get("source_run_id") in {r.info.run_id for r in runs}]
    assert len(ours) == 1, [(v.version, v.tags.get("source_run_id")) for v in ours]
    assert ours[0].tags["promotion_decision"] in {"promoted",
                                                  "not promoted: not better than champion"}


# Runs in Airflow's task environment (the promotion lock's login included): waits for the common
# start time, then promotes; prints the decision. Setting the alias is made 3 s slower: without a
# lock, both promotions would then pass their re-check of the champion before either moves it.
PROMOTE = """
import json, logging, sys, time
from mlflow.tracking import MlflowClient
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
from project_template.mlops_platform.promotion import register_and_promote
set_alias = MlflowClient.set_registered_model_alias
def slow_set_alias(self, *args):
    time.sleep(3)
    return set_alias(self, *args)
MlflowClient.set_registered_model_alias = slow_set_alias
best, model, test_uri, start_at = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
time.sleep(max(0.0, start_at - time.time()))
print("DECISION " + json.dumps(register_and_promote(best, model, test_uri, "r2_validation")))
"""


def _trained_best(experiment: str, candidate: dict) -> tuple[dict, str]:
    """A DAG run's steps up to selection, as plain calls; its best candidate and test split."""
    from project_template.Data.read_data import DataSource
    from project_template.mlops_platform import ingest, selection, splitting, training

    dag_run_id = f"manual__race-{uuid.uuid4().hex[:8]}"
    data = ingest.read_data(DataSource("local", str(EXAMPLE_CSV)), experiment, dag_run_id)
    splits = splitting.data_processing(data["data_uri"], data["pipeline_run_id"])
    trained = training.train_candidate(candidate, splits, experiment, data["pipeline_run_id"],
                                       dag_run_id, data["data_version"])
    return selection.select_best_model([trained["run_id"]], "r2_validation"), splits["test"]


def _candidate(name: str, estimator: str, **params) -> dict:
    return {"name": name, "estimator": estimator, "params": params}


# The racing processes run on this host with a task's environment, which only the native runner's
# addresses make reachable from here (under Compose they name containers: `mlflow:5000`).
@pytest.mark.native
def test_two_concurrent_promotions_decide_one_after_the_other(live_stack: LiveStack,
                                                             mlflow_api) -> None:
    from project_template.mlops_platform.promotion import register_and_promote

    experiment = model = f"race-{uuid.uuid4().hex[:8]}"
    weak, weak_test = _trained_best(experiment,
                                    _candidate("mean_only", "sklearn.dummy.DummyRegressor"))
    champion = register_and_promote(weak, model, weak_test, "r2_validation")
    racers = [_trained_best(experiment, _candidate("ridge", "sklearn.linear_model.Ridge",
                                                   alpha=50.0)),
              _trained_best(experiment, _candidate("linear",
                                                   "sklearn.linear_model.LinearRegression"))]
    environment = live_stack.task_environment()
    assert environment.get("PROMOTION_LOCK_DB_PASSWORD"), "tasks have no promotion lock login"
    # Both start promoting at the same moment, once their imports are done.
    start_at = time.time() + 30
    processes = [subprocess.Popen(
        [sys.executable, "-c", PROMOTE, json.dumps(best), model, test_uri, str(start_at)],
        env=environment, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True) for best, test_uri in racers]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
    decisions = [json.loads(line.removeprefix("DECISION "))
                 for output in outputs for line in output.splitlines()
                 if line.startswith("DECISION ")]
    first, second = sorted(decisions,
                           key=lambda d: d["previous_champion_version"] != champion["version"])
    # The first compared with the weak champion and beat it; the second compared with the first's
    # result, not with the champion both saw when they started.
    assert first["previous_champion_version"] == champion["version"] and first["promoted"]
    assert second["previous_champion_version"] == first["version"], decisions
    assert second["previous_champion_score"] == pytest.approx(first["score"])
    better_version = max(decisions, key=lambda d: d["score"])["version"]
    assert mlflow_api.get_model_version_by_alias(model, CHAMPION).version == better_version
    for decision in decisions:  # each records what it compared with
        tags = mlflow_api.get_model_version(model, decision["version"]).tags
        assert tags["compared_with_version"] == decision["previous_champion_version"]
    # Through PostgreSQL, and for real: one of them waited while the other held the lock (an
    # uncontended lock is taken in milliseconds). Not the full 3 s of the slowed alias: the second
    # may reach the lock a moment after the first took it (2.7 s seen on a loaded machine).
    waits = [float(match) for output in outputs
             for match in re.findall(r"PostgreSQL advisory lock, waited ([0-9.]+) s", output)]
    assert len(waits) == 2 and max(waits) > 1, outputs


def test_the_promotion_lock_login_reaches_its_own_database_only(live_stack: LiveStack) -> None:
    settings = live_stack.settings
    login = {"host": settings.client_host, "port": settings.int("POSTGRES_PORT"),
             "user": settings.get("PROMOTION_LOCK_DB_USER"),
             "password": settings.get("PROMOTION_LOCK_DB_PASSWORD"), "connect_timeout": 10}
    for other in (settings.get("AIRFLOW_DB_NAME"), settings.get("MLFLOW_DB_NAME"), "postgres"):
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            psycopg2.connect(dbname=other, **login).close()
    connection = psycopg2.connect(dbname=settings.get("PROMOTION_LOCK_DB_NAME"), **login)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(42), pg_advisory_unlock(42)")
            assert cursor.fetchone() == (True, True)
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cursor.execute("CREATE TABLE taken (id int)")
    finally:
        connection.close()
