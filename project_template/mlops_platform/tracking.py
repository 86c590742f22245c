"""The MLflow side of a DAG run: its experiment and the parent run that groups its steps."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

# Tag names shared by the steps, so that runs of one DAG run can be found again.
DAG_RUN_TAG = "airflow.dag_run_id"
DATA_VERSION_TAG = "data_version"
MODEL_URI_TAG = "model_uri"


def experiment_id(experiment_name: str) -> str:
    """The id of `experiment_name`, created on first use."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(experiment_name)


def start_pipeline_run(experiment_name: str, dag_run_id: str, tags: dict[str, str]) -> str:
    """Create the parent run of one DAG run; the candidates' runs are nested under it."""
    run = MlflowClient().create_run(
        experiment_id(experiment_name),
        run_name=f"pipeline {dag_run_id}",
        tags={DAG_RUN_TAG: dag_run_id, **tags},
    )
    return run.info.run_id
