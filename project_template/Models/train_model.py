"""The `model_training` step: fit one candidate, log it to MLflow with its lineage and metrics."""

from __future__ import annotations

import logging
import time

import mlflow
import skops.io
from mlflow.entities import Metric, Param
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from ..Data.dataset_store import load_frame, stored_dataset
from ..Process.features import build_feature_pipeline, features_and_target
from .candidates import build_estimator
from .metrics import regression_metrics
from .tracking import DAG_RUN_TAG, DATA_VERSION_TAG, MODEL_URI_TAG, experiment_id

log = logging.getLogger(__name__)


def _skops_trusted_types(model: object) -> list[str]:
    # MLflow saves scikit-learn models with skops, which refuses to load types it does not trust
    # (tree models hold `sklearn.tree._tree.Tree`). Trust exactly the types this model contains;
    # MLflow stores the list in the MLmodel file and checks it loads before it logs anything.
    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def train_candidate(
    candidate: dict,
    split_uris: dict[str, str],
    experiment_name: str,
    pipeline_run_id: str,
    dag_run_id: str,
    data_version: str,
) -> dict:
    """Fit `candidate` on the train split, score it on train and validation, log everything.

    Returns references: the candidate's MLflow run id and its logged model's URI.
    """
    train, validation = load_frame(split_uris["train"]), load_frame(split_uris["validation"])
    x_train, y_train = features_and_target(train)
    x_validation, y_validation = features_and_target(validation)

    started = time.monotonic()
    model = build_feature_pipeline(build_estimator(candidate)).fit(x_train, y_train)
    fit_seconds = time.monotonic() - started
    metrics = {
        **regression_metrics(y_train, model.predict(x_train), "train"),
        **regression_metrics(y_validation, model.predict(x_validation), "validation"),
        "fit_seconds": fit_seconds,
    }

    tags = {
        "estimator": candidate["estimator"],
        "candidate": candidate["name"],
        DAG_RUN_TAG: dag_run_id,
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
        model_info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train.head(5),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=_skops_trusted_types(model),
            # Stated, not inferred: inference loads the model in a subprocess (about 20 s on two
            # cores) only to find scikit-learn and skops, which is what these pin.
            pip_requirements=mlflow.sklearn.get_default_pip_requirements(include_skops=True),
        )
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
