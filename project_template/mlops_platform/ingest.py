"""The `read_data` step: fetch the dataset (the project's source), validate it, keep a copy.

A retraining run may name a newer labeled batch (the monitoring DAG's asset event carries its
location). The batch is appended to the project's dataset: rows it shares with the dataset are
not added twice, so a batch that is a newer full copy of the dataset simply replaces it. The
combined data gets its own version, and the batch keeps its own as a dataset input.
"""

from __future__ import annotations

import logging

import pandas as pd
from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from .. import config
from ..Data.read_data import DataSource, fetch_raw_data
from .dataset_store import (
    data_version,
    read_dataset,
    read_frame,
    store_bytes,
    stored_dataset,
    stored_uri,
)
from .schema import to_csv_bytes
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

BATCH_CONTEXT = "retraining_batch"


def append_batch(dataset: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """`dataset` followed by the rows of `batch` it does not hold yet (in the batch's order)."""
    known = dataset.drop_duplicates()
    marked = batch.merge(known, how="left", on=list(batch.columns), indicator=True)
    new_rows = marked.loc[marked["_merge"] == "left_only", list(batch.columns)]
    return pd.concat([dataset, new_rows], ignore_index=True)


def read_data(source: DataSource, experiment_name: str, dag_run_id: str,
              tags: dict[str, str] | None = None, batch: DataSource | None = None) -> dict:
    """Fetch and validate the dataset (and the batch), then keep it as an artifact of a new
    pipeline run tagged with `tags`.

    Returns references only: the pipeline run id, the data's artifact URI and its version.
    Validation comes first, so a bad file never gets a pipeline run or reaches training. A retry
    reuses the pipeline run an earlier try of this DAG run finished with the same data, and
    deletes one it left unfinished: one pipeline run per DAG run.
    """
    raw = fetch_raw_data(source)
    frame = read_dataset(raw)
    run_tags = {"data_source": str(source), "task": config.TASK, **(tags or {})}
    if batch is not None:
        batch_raw = fetch_raw_data(batch)
        batch_frame = read_frame(batch_raw)
        combined = append_batch(frame, batch_frame)
        run_tags.update({
            "base_data_version": data_version(raw), "batch_source": str(batch),
            "batch_data_version": data_version(batch_raw), "batch_rows": str(len(batch_frame)),
            "batch_rows_added": str(len(combined) - len(frame)),
        })
        frame = combined
        raw = to_csv_bytes(combined, config.DATA.delimiter, config.DATA.encoding)
    version = data_version(raw)
    earlier = reuse_or_supersede(
        find_runs(experiment_name, {DAG_RUN_TAG: dag_run_id, RUN_KIND_TAG: "pipeline"}),
        # Finished only once its copy is stored (below), so a finished run holds the data.
        lambda run: finished(run) and run.data.tags.get(DATA_VERSION_TAG) == version)
    if earlier is not None:
        return {"pipeline_run_id": earlier.info.run_id, "data_version": version,
                "data_uri": stored_uri(earlier.info.run_id, "data", "raw.csv")}
    run_id = start_pipeline_run(experiment_name, dag_run_id, tags={
        **run_tags, DATA_VERSION_TAG: version, "data_rows": str(len(frame))})
    uri = store_bytes(raw, run_id, "data", "raw.csv")
    if batch is not None:
        _record_batch(run_id, batch_raw, batch_frame)
    # Ended now rather than left RUNNING if a later task fails; later steps still add their
    # artifacts (the splits) and nest their runs under it.
    MlflowClient().set_terminated(run_id)
    log.info("stored %d validated rows (version %s) at %s", len(frame), version[:12], uri)
    return {"pipeline_run_id": run_id, "data_uri": uri, "data_version": version}


def _record_batch(run_id: str, batch_raw: bytes, batch_frame: pd.DataFrame) -> None:
    """Keep the batch as it came, and record it as the pipeline run's dataset input."""
    uri = store_bytes(batch_raw, run_id, "data", "batch.csv")
    dataset = stored_dataset(batch_frame, uri, BATCH_CONTEXT)
    MlflowClient().log_inputs(run_id, [DatasetInput(
        dataset._to_mlflow_entity(),
        [InputTag(MLFLOW_DATASET_CONTEXT, BATCH_CONTEXT),
         InputTag(DATA_VERSION_TAG, data_version(batch_raw))])])
