"""Regression metrics, named `<measure>_<split>` like the original template (`r2_validation`)."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

SPLITS = ("train", "validation", "test")
METRIC_TYPES = ("max", "min")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, split: str) -> dict[str, float]:
    return {
        f"r2_{split}": float(r2_score(y_true, y_pred)),
        f"rmse_{split}": float(math.sqrt(mean_squared_error(y_true, y_pred))),
        f"mae_{split}": float(mean_absolute_error(y_true, y_pred)),
    }


def metric_for_split(metric: str, split: str) -> str:
    """The same measure on another split: `metric_for_split("r2_validation", "test")` is `r2_test`."""
    measure, _, own_split = metric.rpartition("_")
    if own_split not in SPLITS or not measure:
        raise ValueError(f"metric {metric!r} is not named <measure>_<split> with split in {SPLITS}")
    return f"{measure}_{split}"


def is_better(score: float, reference: float | None, metric_type: str) -> bool:
    """Strictly better: a tie never replaces the reference."""
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"metric type {metric_type!r}: use max or min")
    if math.isnan(score):
        return False
    if reference is None or math.isnan(reference):
        return True
    return score > reference if metric_type == "max" else score < reference
