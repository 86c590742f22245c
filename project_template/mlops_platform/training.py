"""The `model_training` step: fit one candidate (the project's way), score and log it to MLflow."""

from __future__ import annotations

import logging
import time

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from .. import config
from ..Models.train_model import train_model
from ..Process.features import features_and_target
from .dataset_store import load_frame, stored_dataset
from .metrics import score
from .model_logging import fitted_predictions, log_fitted_model
from .tracking import (
    DAG_RUN_TAG,
    DATA_VERSION_TAG,
    MODEL_URI_TAG,
    RUN_KIND_TAG,
    experiment_id,
    find_runs,
    finished,
    reuse_or_supersede,
)

log = logging.getLogger(__name__)


def train_candidate(
    candidate: dict,
    split_uris: dict[str, str],
    experiment_name: str,
    pipeline_run_id: str,
    dag_run_id: str,
    data_version: str,
) -> dict:
    """Fit `candidate` on the train split, score it on train and validation, log everything.

    Returns references: the candidate's MLflow run id and its logged model's URI. A retry reuses
    the run an earlier try finished for this candidate of this DAG run, and deletes one it left
    unfinished: one run per candidate.
    """
    identity = {DAG_RUN_TAG: dag_run_id, RUN_KIND_TAG: "candidate", "candidate": candidate["name"],
                "mlflow.parentRunId": pipeline_run_id}
    earlier = reuse_or_supersede(
        find_runs(experiment_name, identity),
        # The model's URI is tagged last, inside the run: a finished run with it is complete.
        lambda run: finished(run) and MODEL_URI_TAG in run.data.tags)
    if earlier is not None:
        return {"run_id": earlier.info.run_id, "model_uri": earlier.data.tags[MODEL_URI_TAG],
                "candidate": candidate["name"]}
    train, validation = load_frame(split_uris["train"]), load_frame(split_uris["validation"])
    x_train, y_train = features_and_target(train)
    x_validation, y_validation = features_and_target(validation)

    started = time.monotonic()
    model = train_model(candidate, x_train, y_train)
    fit_seconds = time.monotonic() - started
    positive = config.SCHEMA.positive_class
    metrics = {
        **score(config.TASK, y_train, fitted_predictions(model, x_train), "train", positive),
        **score(config.TASK, y_validation, fitted_predictions(model, x_validation), "validation",
                positive),
        "fit_seconds": fit_seconds,
    }

    tags = {
        "estimator": candidate["estimator"],
        "candidate": candidate["name"],
        "task": config.TASK,
        DAG_RUN_TAG: dag_run_id,
        RUN_KIND_TAG: "candidate",
        DATA_VERSION_TAG: data_version,
    }
    with mlflow.start_run(experiment_id=experiment_id(experiment_name),
                          run_name=candidate["name"], parent_run_id=pipeline_run_id,
                          tags=tags) as run:
        # The exact splits this model saw, as dataset inputs: lineage back to the stored copies.
        mlflow.log_inputs(
            datasets=[stored_dataset(train, split_uris["train"], "train"),
                      stored_dataset(validation, split_uris["validation"], "validation")],
            contexts=["training", "validation"],
            tags_list=[{"data_version": data_version}] * 2,
        )
        model_info = log_fitted_model(model, config.TASK, x_train)
        now = int(time.time() * 1000)
        params = {"estimator": candidate["estimator"], **candidate.get("params", {})}
        # One request for all params and metrics instead of one per value.
        MlflowClient().log_batch(
            run.info.run_id,
            metrics=[Metric(key, value, now, 0) for key, value in metrics.items()],
            params=[Param(key, str(value)) for key, value in params.items()],
        )
        mlflow.set_tag(MODEL_URI_TAG, model_info.model_uri)
    log.info("%s: %s", candidate["name"],
             ", ".join(f"{key}={value:.4f}" for key, value in sorted(metrics.items())))
    return {"run_id": run.info.run_id, "model_uri": model_info.model_uri,
            "candidate": candidate["name"]}
