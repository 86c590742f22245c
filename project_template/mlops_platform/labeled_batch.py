"""A newer labeled batch from the project's data source, and how the champion scores on it."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pandas as pd

from .. import config
from ..Data.read_data import DataSource, DataSourceError, fetch_raw_data, resolve_data_source
from ..Process.features import features_and_target
from .dataset_store import data_version, read_frame
from .metrics import measure_of, score
from .model_logging import logged_predictions
from .schema import DataValidationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabeledBatch:
    source: DataSource
    data_version: str
    frame: pd.DataFrame


def newer_labeled_batch(trained_on: str | None, source: DataSource | None = None
                        ) -> LabeledBatch | None:
    """What the data source offers now, when it is not the data the champion was trained on.

    A source only ever offers its latest data (the IDS resource's newest artifact, the file as it
    is now), so different content means newer. An unreachable source or an invalid batch is
    logged and skipped: it must not stop the check of the served inputs.
    """
    source = source or resolve_data_source()
    try:
        raw = fetch_raw_data(source)
        version = data_version(raw)
        if version == trained_on:
            log.info("%s still offers the champion's training data (%s)", source, version[:12])
            return None
        frame = read_frame(raw)
    except (DataSourceError, DataValidationError) as error:
        log.warning("no labeled batch from %s: %s", source, error)
        return None
    log.info("%s offers a newer labeled batch: %d rows, version %s", source, len(frame),
             version[:12])
    return LabeledBatch(source, version, frame)


def score_on_batch(model_uri: str, batch: LabeledBatch, test_metric: str) -> float:
    """`test_metric` (e.g. `r2_test`) of the model at `model_uri` on the batch's rows."""
    features, target = features_and_target(batch.frame)
    predictions = logged_predictions(model_uri, config.TASK, features)
    return score(config.TASK, target, predictions, "test", config.SCHEMA.positive_class)[test_metric]


def performance_drop(recorded: float, new: float, metric: str) -> float:
    """How much worse `new` is than `recorded`, as a fraction of `recorded` (negative: better).

    Relative, so that one threshold fits measures of any scale (r2, rmse in the target's units).
    """
    worse = recorded - new if measure_of(config.TASK, metric).bigger_is_better else new - recorded
    if math.isnan(worse):
        return math.nan  # undefined on this batch (one class only): no evidence either way
    return worse / abs(recorded) if recorded else worse
