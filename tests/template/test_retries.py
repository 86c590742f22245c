"""A retried step never acts twice: it reuses, or cleanly supersedes, what its failed try left.

The steps run as plain calls against a local MLflow store; a retry is the same call with the same
DAG run id. tests/integration/test_7_retries_and_races.py lets Airflow retry them on the live stack.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import ELASTIC_NET, EXAMPLE_CSV, MEAN_ONLY, SMALL_FOREST, run_lifecycle
from mlflow.tracking import MlflowClient

from project_template.Data.read_data import DataSource
from project_template.mlops_platform import ingest, promotion, promotion_lock, training
from project_template.mlops_platform.tracking import (
    DAG_RUN_TAG,
    RUN_KIND_TAG,
    find_runs,
    start_pipeline_run,
)

LOCAL = DataSource("local", str(EXAMPLE_CSV))


def _runs(experiment: str, kind: str, dag_run_id: str) -> list:
    return find_runs(experiment, {DAG_RUN_TAG: dag_run_id, RUN_KIND_TAG: kind})


def test_a_retried_read_data_reuses_the_pipeline_run_its_first_try_finished(experiment):
    first = ingest.read_data(LOCAL, experiment, "manual__retry")
    again = ingest.read_data(LOCAL, experiment, "manual__retry")
    assert again == first
    assert [run.info.run_id for run in _runs(experiment, "pipeline", "manual__retry")] == \
        [first["pipeline_run_id"]]


def test_a_retried_read_data_deletes_a_pipeline_run_left_unfinished(experiment):
    # The first try died between creating its run and storing the data: RUNNING, no copy.
    left = start_pipeline_run(experiment, "manual__died", tags={"data_version": "whatever"})
    data = ingest.read_data(LOCAL, experiment, "manual__died")
    assert data["pipeline_run_id"] != left
    assert [run.info.run_id for run in _runs(experiment, "pipeline", "manual__died")] == \
        [data["pipeline_run_id"]]
    assert MlflowClient().get_run(left).info.lifecycle_stage == "deleted"


def test_a_retried_model_training_reuses_its_candidates_run(experiment):
    lifecycle = run_lifecycle(LOCAL, experiment, f"{experiment}-model", [ELASTIC_NET],
                              promote=False)
    data, dag_run_id = lifecycle["data"], "manual__" + experiment
    first = lifecycle["trained"][0]
    # The lifecycle ran under its own DAG run id; train again under it, as a retry would.
    run = MlflowClient().get_run(first["run_id"])
    again = training.train_candidate(ELASTIC_NET, lifecycle["splits"], experiment,
                                     data["pipeline_run_id"], run.data.tags[DAG_RUN_TAG],
                                     data["data_version"])
    assert again == first
    assert len(_runs(experiment, "candidate", run.data.tags[DAG_RUN_TAG])) == 1
    # Another candidate of the same run, or the same one in another DAG run, trains anew.
    other = training.train_candidate(SMALL_FOREST, lifecycle["splits"], experiment,
                                     data["pipeline_run_id"], run.data.tags[DAG_RUN_TAG],
                                     data["data_version"])
    elsewhere = training.train_candidate(ELASTIC_NET, lifecycle["splits"], experiment,
                                         data["pipeline_run_id"], dag_run_id, data["data_version"])
    assert len({first["run_id"], other["run_id"], elsewhere["run_id"]}) == 3


def test_a_retried_model_training_supersedes_a_run_without_a_model(experiment):
    lifecycle = run_lifecycle(LOCAL, experiment, f"{experiment}-model", [ELASTIC_NET],
                              promote=False)
    data, trained = lifecycle["data"], lifecycle["trained"][0]
    dag_run_id = MlflowClient().get_run(trained["run_id"]).data.tags[DAG_RUN_TAG]
    # As if the try had died before its model was logged: the run has no model_uri tag.
    MlflowClient().delete_tag(trained["run_id"], "model_uri")
    again = training.train_candidate(ELASTIC_NET, lifecycle["splits"], experiment,
                                     data["pipeline_run_id"], dag_run_id, data["data_version"])
    assert again["run_id"] != trained["run_id"]
    assert [run.info.run_id for run in _runs(experiment, "candidate", dag_run_id)] == \
        [again["run_id"]]


def test_a_retried_promotion_registers_no_second_version_and_keeps_its_decision(experiment):
    model = f"{experiment}-model"
    lifecycle = run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET])
    again = promotion.register_and_promote(lifecycle["best"], model, lifecycle["splits"]["test"],
                                           "r2_validation")
    assert again == lifecycle["decision"]
    assert [str(v.version) for v in MlflowClient().search_model_versions(f"name = '{model}'")] \
        == ["1"]


def test_a_promotion_that_died_after_moving_the_alias_is_finished_by_its_retry(experiment,
                                                                               monkeypatch):
    model = f"{experiment}-model"
    run_lifecycle(LOCAL, experiment, model, [MEAN_ONLY])  # v1 champion
    better = run_lifecycle(LOCAL, experiment, model, [ELASTIC_NET], promote=False)
    client = MlflowClient()
    real_set_tag = MlflowClient.set_model_version_tag

    def die_before_the_decision(self, name, version, key, value):
        if key == promotion.DECISION_TAG:
            raise ConnectionError("the task died here")
        return real_set_tag(self, name, version, key, value)

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", die_before_the_decision)
    with pytest.raises(ConnectionError):
        promotion.register_and_promote(better["best"], model, better["splits"]["test"],
                                       "r2_validation")
    assert str(client.get_model_version_by_alias(model, "champion").version) == "2"
    monkeypatch.undo()

    decision = promotion.register_and_promote(better["best"], model, better["splits"]["test"],
                                              "r2_validation")
    assert decision["promoted"] and decision["version"] == "2"
    assert decision["previous_champion_version"] == "1"  # what the first try compared with
    assert decision["score"] > decision["previous_champion_score"]
    assert client.get_model_version(model, "2").tags[promotion.DECISION_TAG] == "promoted"
    assert len(client.search_model_versions(f"name = '{model}'")) == 2


def test_the_promotion_lock_lets_one_holder_in_at_a_time(monkeypatch):
    monkeypatch.setitem(promotion_lock.config.PROMOTION_LOCK_DB, "password", "")  # the file lock
    inside, most, lock = [0], [0], threading.Lock()

    def promote() -> None:
        with promotion_lock.promotion_lock("lock-test-model", timeout=30):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.3)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=promote) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1


def test_a_promotion_that_waits_too_long_for_the_lock_gives_up_saying_why(monkeypatch):
    monkeypatch.setitem(promotion_lock.config.PROMOTION_LOCK_DB, "password", "")
    with promotion_lock.promotion_lock("busy-model", timeout=5):
        outcome = []
        waiter = threading.Thread(target=lambda: outcome.append(_try_lock("busy-model")))
        waiter.start()
        waiter.join()
    assert "another promotion of 'busy-model' held its lock" in outcome[0]


def _try_lock(model: str) -> str:
    try:
        with promotion_lock.promotion_lock(model, timeout=0.2):
            return "got it"
    except promotion_lock.PromotionLockTimeout as error:
        return str(error)
