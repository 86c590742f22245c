"""The `data_processing` step: split the stored dataset and store each part as its own copy."""

from __future__ import annotations

import logging

from ..Data.dataset_store import load_frame, store_frame
from .features import split_dataset
from .validation import validate_frame

log = logging.getLogger(__name__)


def data_processing(data_uri: str, pipeline_run_id: str) -> dict[str, str]:
    """Split the dataset at `data_uri`; return the artifact URI of each part by name."""
    # Validate again: the stored copy is what training uses, whatever produced it.
    frame = validate_frame(load_frame(data_uri))
    uris = {}
    for name, part in split_dataset(frame).items():
        uris[name] = store_frame(part, pipeline_run_id, "splits", f"{name}.csv")
        log.info("%s: %d rows at %s", name, len(part), uris[name])
    return uris
