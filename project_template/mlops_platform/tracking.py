"""The MLflow side of a DAG run: its experiment, the parent run that groups its steps, and the runs
an earlier try of a task left behind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from mlflow.entities import Run, RunStatus, ViewType
from mlflow.tracking import MlflowClient

# Tag names shared by the steps, so that runs of one DAG run can be found again.
DAG_RUN_TAG = "airflow.dag_run_id"
DATA_VERSION_TAG = "data_version"
MODEL_URI_TAG = "model_uri"
# Which step made a run: "pipeline" (read_data's parent run) or "candidate" (model_training's).
RUN_KIND_TAG = "mlops.run_kind"

log = logging.getLogger(__name__)


def experiment_id(experiment_name: str) -> str:
    """The id of `experiment_name`, created on first use."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(experiment_name)


def quoted(value: str) -> str:
    """`value` as a string literal of MLflow's search filter."""
    for quote in ("'", '"'):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise ValueError(f"{value!r} holds both kinds of quote; MLflow's search cannot match it")


def find_runs(experiment_name: str, tags: Mapping[str, str]) -> list[Run]:
    """The experiment's active runs that carry every one of `tags`, oldest first."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    query = " and ".join(f"tags.`{key}` = {quoted(value)}" for key, value in tags.items())
    return client.search_runs([experiment.experiment_id], query, ViewType.ACTIVE_ONLY,
                              order_by=["attributes.start_time ASC"])


def reuse_or_supersede(runs: list[Run], complete: Callable[[Run], bool]) -> Run | None:
    """The first complete run of an earlier try, if any; every other one is deleted.

    A task's retry finds what its failed tries left: a finished result is reused, so the retry does
    not act twice; an unfinished one (the try died half-way) is deleted (MLflow keeps deleted runs
    out of searches and the UI, and can restore them) and the step starts over.
    """
    kept = next((run for run in runs if complete(run)), None)
    client = MlflowClient()
    for run in runs:
        if run is not kept:
            log.warning("deleting run %s (%s), left unfinished by an earlier try", run.info.run_id,
                        run.info.status)
            client.delete_run(run.info.run_id)
    if kept is not None:
        log.info("reusing run %s, finished by an earlier try of this task", kept.info.run_id)
    return kept


def finished(run: Run) -> bool:
    return run.info.status == RunStatus.to_string(RunStatus.FINISHED)


def start_pipeline_run(experiment_name: str, dag_run_id: str, tags: dict[str, str]) -> str:
    """Create the parent run of one DAG run; the candidates' runs are nested under it."""
    run = MlflowClient().create_run(
        experiment_id(experiment_name),
        run_name=f"pipeline {dag_run_id}",
        tags={DAG_RUN_TAG: dag_run_id, RUN_KIND_TAG: "pipeline", **tags},
    )
    return run.info.run_id
