"""One monitoring check: the champion's recent served inputs (and a newer labeled batch, if the
source offers one) against its training data, logged as one run of `<experiment>-monitoring`."""

from __future__ import annotations

import logging
import math
import re
import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from .. import config
from .dataset_store import load_frame
from .drift import DriftResult, compare
from .labeled_batch import newer_labeled_batch, performance_drop, score_on_batch
from .lineage import champion_lineage
from .metrics import metric_for_split
from .retraining import retraining_reason
from .served_inputs import Window, read_served_inputs
from .tracking import DAG_RUN_TAG, experiment_id

log = logging.getLogger(__name__)

NOTHING_TO_COMPARE = "nothing to compare yet"


def _key(name: str) -> str:
    # MLflow metric names allow letters, digits and `_-. /`; a column may hold anything else.
    return re.sub(r"[^\w\-. /]", "_", name)


def _log_drift(drift: DriftResult, prefix: str = "") -> None:
    metrics = {f"{prefix}drift_share": drift.share,
               f"{prefix}drifted_columns_count": len(drift.drifted_columns)}
    for name, column in drift.columns.items():
        metrics[f"{prefix}drift_score.{_key(name)}"] = column.score
        metrics[f"{prefix}drift_detected.{_key(name)}"] = float(column.drifted)
    mlflow.log_metrics(metrics)
    mlflow.set_tag(f"{prefix}drifted_columns", ", ".join(drift.drifted_columns) or "none")
    mlflow.set_tag(f"{prefix}drift_methods",
                   ", ".join(sorted({column.method for column in drift.columns.values()})))


def _drift_check(reference: pd.DataFrame, current: pd.DataFrame, folder: Path,
                 name: str) -> DriftResult:
    html = folder / f"{name}.html"
    drift = compare(reference, current, config.SCHEMA, html,
                    config.MONITORING.drift_share_threshold)
    mlflow.log_artifact(str(html), "reports")
    return drift


def run_check(window: Window, dag_run_id: str) -> dict:
    """Check the champion once. Returns the check's summary; its `retraining` entry is the asset
    event's extra when a threshold was passed, else None."""
    settings = config.MONITORING
    lineage = champion_lineage(config.REGISTERED_MODEL_NAME, config.CHAMPION_ALIAS)
    with mlflow.start_run(experiment_id=experiment_id(config.MONITORING_EXPERIMENT_NAME),
                          run_name=f"check {dag_run_id}", tags={
                              DAG_RUN_TAG: dag_run_id, "model_name": config.REGISTERED_MODEL_NAME,
                              "window_start": window.start.isoformat(),
                              "window_end": window.end.isoformat()}) as run, \
            tempfile.TemporaryDirectory() as folder:
        summary = {"monitoring_run_id": run.info.run_id, "retraining": None, "compared": []}
        mlflow.log_params({"window_hours": settings.window_hours, "min_rows": settings.min_rows,
                           "drift_share_threshold": settings.drift_share_threshold,
                           "performance_drop_threshold": settings.performance_drop_threshold})
        if lineage is None:
            return _nothing_to_compare(summary, f"{config.REGISTERED_MODEL_NAME} has no "
                                                f"{config.CHAMPION_ALIAS} yet")
        mlflow.set_tags({"champion_version": lineage.version, "champion_run_id": lineage.run_id,
                         "training_data": lineage.training_data_uri,
                         "training_data_version": lineage.data_version or "unknown"})
        reference = load_frame(lineage.training_data_uri)

        served = read_served_inputs(config.INFERENCE_LOG_PREFIX, config.REGISTERED_MODEL_NAME,
                                    window, lineage.version)
        mlflow.log_metric("served_rows", len(served))
        drift = None
        if len(served) >= settings.min_rows:
            drift = _drift_check(reference, served, Path(folder), "drift_report")
            _log_drift(drift)
            summary["compared"].append("served inputs")
            log.info("served inputs: %d rows, drift share %.2f, drifted: %s", len(served),
                     drift.share, drift.drifted_columns or "none")
        else:
            log.info("%d served rows of version %s in %s, fewer than min_rows=%d",
                     len(served), lineage.version, window, settings.min_rows)

        batch = newer_labeled_batch(lineage.data_version)
        test_metric = metric_for_split(config.METRIC_BM, "test")
        performance, dropped = {}, False
        if batch is not None:
            batch_drift = _drift_check(reference, batch.frame, Path(folder),
                                       "new_batch_drift_report")
            _log_drift(batch_drift, "new_batch_")
            recorded = lineage.recorded_scores.get(test_metric, math.nan)
            new = score_on_batch(f"models:/{lineage.model_name}/{lineage.version}", batch,
                                 test_metric)
            drop = performance_drop(recorded, new, test_metric)
            dropped = drop > settings.performance_drop_threshold
            performance = {"metric": test_metric, "champion_score_recorded": recorded,
                           "champion_score_new_batch": new,
                           "data_location": batch.source.location,
                           "data_source": batch.source.kind}
            mlflow.log_metrics({"new_batch_rows": len(batch.frame),
                                f"champion_{test_metric}_recorded": recorded,
                                f"champion_{test_metric}_new_batch": new,
                                "performance_drop": drop})
            mlflow.set_tags({"new_batch_source": str(batch.source),
                             "new_batch_data_version": batch.data_version})
            summary["compared"].append("new labeled batch")
            log.info("new labeled batch: %s %.4f against %.4f recorded (drop %.1f %%)",
                     test_metric, new, recorded, 100 * drop)

        if not summary["compared"]:
            return _nothing_to_compare(summary, f"{len(served)} served rows of version "
                                                f"{lineage.version} in {window}, fewer than "
                                                f"min_rows={settings.min_rows}, and no newer "
                                                f"labeled batch")
        drifted = drift is not None and drift.passes(settings.drift_share_threshold)
        reason = retraining_reason(drifted, dropped)
        mlflow.set_tag("retraining", reason or "not needed")
        if reason is not None:
            summary["retraining"] = {
                "reason": reason,
                "drift_share": drift.share if drift else 0.0,
                "drifted_columns": drift.drifted_columns if drift else [],
                "monitoring_run_id": run.info.run_id,
                **performance,
            }
        summary["status"] = (f"checked {' and '.join(summary['compared'])}: retraining "
                             f"{f'needed ({reason})' if reason else 'not needed'}")
        mlflow.set_tag("status", summary["status"])
        log.info(summary["status"])
        return summary


def _nothing_to_compare(summary: dict, why: str) -> dict:
    message = f"{NOTHING_TO_COMPARE}: {why}"
    mlflow.set_tags({"status": NOTHING_TO_COMPARE, "mlflow.note.content": message,
                     "retraining": "not needed"})
    log.info(message)
    return {**summary, "status": message}
