"""Each task's metrics, named `<measure>_<split>` (`r2_validation`), and which way is better.

scikit-learn is imported when a metric is computed, not when this module is: the DAG file reads
the measures (for its params form) while the scheduler parses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Predictions:
    """What a model says about some rows: its predictions, and class probabilities if it has them."""

    values: np.ndarray
    probabilities: pd.DataFrame | None = None  # one column per class, named by the class


@dataclass(frozen=True)
class Measure:
    name: str
    bigger_is_better: bool
    compute: Callable[[pd.Series, Predictions, str | None], float]
    needs_probabilities: bool = False


def _r2(y, p, _):
    from sklearn.metrics import r2_score
    return r2_score(y, p.values)


def _rmse(y, p, _):
    from sklearn.metrics import mean_squared_error
    return math.sqrt(mean_squared_error(y, p.values))


def _mae(y, p, _):
    from sklearn.metrics import mean_absolute_error
    return mean_absolute_error(y, p.values)


def _accuracy(y, p, _):
    from sklearn.metrics import accuracy_score
    return accuracy_score(y.astype(str), p.values.astype(str))


def _f1_macro(y, p, _):
    from sklearn.metrics import f1_score
    return f1_score(y.astype(str), p.values.astype(str), average="macro")


def _roc_auc(y, p, positive):
    from sklearn.metrics import roc_auc_score
    classes = list(p.probabilities.columns)
    y = y.astype(str)
    if y.nunique() < 2:
        return math.nan  # undefined on a split that holds one class only
    if len(classes) == 2:
        positive = positive if positive is not None else sorted(classes)[-1]
        return roc_auc_score(y == positive, p.probabilities[positive])
    return roc_auc_score(y, p.probabilities.to_numpy(), multi_class="ovr", labels=classes)


def _log_loss(y, p, _):
    from sklearn.metrics import log_loss
    return log_loss(y.astype(str), p.probabilities.to_numpy(), labels=list(p.probabilities.columns))


MEASURES: dict[str, dict[str, Measure]] = {
    "regression": {m.name: m for m in (
        Measure("r2", True, _r2),
        Measure("rmse", False, _rmse),
        Measure("mae", False, _mae),
    )},
    "classification": {m.name: m for m in (
        Measure("accuracy", True, _accuracy),
        Measure("f1_macro", True, _f1_macro),
        Measure("roc_auc", True, _roc_auc, needs_probabilities=True),
        Measure("log_loss", False, _log_loss, needs_probabilities=True),
    )},
}


def measures(task: str) -> dict[str, Measure]:
    try:
        return MEASURES[task]
    except KeyError:
        raise ValueError(f"task {task!r}: use one of {', '.join(MEASURES)}") from None


def selectable_metrics(task: str) -> list[str]:
    """The validation metrics a run of this task can select by (the DAG's params form)."""
    return [f"{name}_validation" for name in measures(task)]


def split_metric(metric: str) -> tuple[str, str]:
    """`r2_validation` -> (`r2`, `validation`)."""
    measure, _, split = metric.rpartition("_")
    if split not in SPLITS or not measure:
        raise ValueError(f"metric {metric!r} is not named <measure>_<split> with split in {SPLITS}")
    return measure, split


def metric_for_split(metric: str, split: str) -> str:
    """The same measure on another split: `metric_for_split("r2_validation", "test")` is `r2_test`."""
    return f"{split_metric(metric)[0]}_{split}"


def measure_of(task: str, metric: str) -> Measure:
    """The measure of `metric` (`f1_macro_validation`), checked against the task's measures."""
    name = split_metric(metric)[0]
    known = measures(task)
    if name not in known:
        raise ValueError(f"metric {metric!r} is not a {task} metric; use one of "
                         f"{', '.join(selectable_metrics(task))}")
    return known[name]


def score(task: str, y_true: pd.Series, predictions: Predictions, split: str,
          positive_class: str | None = None) -> dict[str, float]:
    """Every measure of `task` on one split; those needing probabilities only when there are some."""
    return {f"{m.name}_{split}": float(m.compute(y_true, predictions, positive_class))
            for m in measures(task).values()
            if predictions.probabilities is not None or not m.needs_probabilities}


def is_better(score: float, reference: float | None, bigger_is_better: bool) -> bool:
    """Strictly better: a tie never replaces the reference, and NaN is never better."""
    if math.isnan(score):
        return False
    if reference is None or math.isnan(reference):
        return True
    return score > reference if bigger_is_better else score < reference
