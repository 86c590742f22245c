"""The `read_data` step: fetch the dataset (the project's source), validate it, keep a copy."""

from __future__ import annotations

import logging

from mlflow.tracking import MlflowClient

from .. import config
from ..Data.read_data import DataSource, fetch_raw_data
from .dataset_store import data_version, read_frame, store_bytes, stored_uri
from .tracking import (
    DAG_RUN_TAG,
    DATA_VERSION_TAG,
    RUN_KIND_TAG,
    find_runs,
    finished,
    reuse_or_supersede,
    start_pipeline_run,
)

log = logging.getLogger(__name__)


def read_data(source: DataSource, experiment_name: str, dag_run_id: str) -> dict:
    """Fetch and validate the dataset, then keep it as an artifact of a new pipeline run.

    Returns references only: the pipeline run id, the data's artifact URI and its version.
    Validation comes first, so a bad file never gets a pipeline run or reaches training. A retry
    reuses the pipeline run an earlier try of this DAG run finished with the same data, and
    deletes one it left unfinished: one pipeline run per DAG run.
    """
    raw = fetch_raw_data(source)
    frame = read_frame(raw, min_rows=config.DATA.min_rows)
    version = data_version(raw)
    earlier = reuse_or_supersede(
        find_runs(experiment_name, {DAG_RUN_TAG: dag_run_id, RUN_KIND_TAG: "pipeline"}),
        # Finished only once its copy is stored (below), so a finished run holds the data.
        lambda run: finished(run) and run.data.tags.get(DATA_VERSION_TAG) == version)
    if earlier is not None:
        return {"pipeline_run_id": earlier.info.run_id, "data_version": version,
                "data_uri": stored_uri(earlier.info.run_id, "data", "raw.csv")}
    run_id = start_pipeline_run(experiment_name, dag_run_id, tags={
        "data_source": str(source), "data_version": version, "data_rows": str(len(frame)),
        "task": config.TASK,
    })
    uri = store_bytes(raw, run_id, "data", "raw.csv")
    # Ended now rather than left RUNNING if a later task fails; later steps still add their
    # artifacts (the splits) and nest their runs under it.
    MlflowClient().set_terminated(run_id)
    log.info("stored %d validated rows (version %s) at %s", len(frame), version[:12], uri)
    return {"pipeline_run_id": run_id, "data_uri": uri, "data_version": version}
