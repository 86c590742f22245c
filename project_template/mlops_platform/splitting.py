"""The `data_processing` step: the project's split, each part stored and recorded as lineage."""

from __future__ import annotations

import logging

from mlflow.entities import DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from .. import config
from ..Process.data_processing import split_dataset
from .dataset_store import as_stored, load_frame, store_frame, stored_dataset

log = logging.getLogger(__name__)


def data_processing(data_uri: str, pipeline_run_id: str) -> dict[str, str]:
    """Split the dataset at `data_uri`; return the artifact URI of each part by name."""
    # Validated again: the stored copy is what training uses, whatever produced it.
    frame = load_frame(data_uri, min_rows=config.DATA.min_rows)
    uris, inputs = {}, []
    for name, part in split_dataset(frame).items():
        uris[name] = store_frame(part, pipeline_run_id, "splits", f"{name}.csv")
        dataset = stored_dataset(as_stored(part), uris[name], name)
        inputs.append(DatasetInput(dataset._to_mlflow_entity(),
                                   [InputTag(MLFLOW_DATASET_CONTEXT, "split")]))
        log.info("%s: %d rows at %s", name, len(part), uris[name])
    # The splits are registered here, once, as the pipeline run's inputs. The candidates, which
    # train side by side and log the same splits, then find them registered: the tracking server
    # adds a dataset it has not seen with a check-then-insert, and candidates adding the same new
    # one at the same moment collide (one of them failed its first try that way).
    MlflowClient().log_inputs(pipeline_run_id, inputs)
    return uris
