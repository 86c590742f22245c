"""The `select_best_model` step: the best of this DAG run's candidates by the selection metric."""

from __future__ import annotations

import math
from collections.abc import Iterable

from mlflow.tracking import MlflowClient

from .. import config
from .metrics import measure_of
from .tracking import MODEL_URI_TAG


class SelectionError(RuntimeError):
    """No candidate can be selected; the message says why."""


def select_best_model(run_ids: Iterable[str], metric: str, task: str = config.TASK) -> dict:
    """The run (and its model URI) with the best `metric`, which knows whether bigger is better."""
    try:
        bigger_is_better = measure_of(task, metric).bigger_is_better
    except ValueError as error:
        raise SelectionError(str(error)) from error
    client = MlflowClient()
    scored = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        value = run.data.metrics.get(metric)
        if value is None or math.isnan(value):
            raise SelectionError(f"run {run_id} ({run.data.tags.get('candidate')}) has no "
                                 f"metric {metric!r}; logged: {', '.join(sorted(run.data.metrics))}")
        scored.append((value, run))
    if not scored:
        raise SelectionError("no candidate runs to select from")
    value, best = (max if bigger_is_better else min)(scored, key=lambda pair: pair[0])
    return {
        "run_id": best.info.run_id,
        "model_uri": best.data.tags[MODEL_URI_TAG],
        "candidate": best.data.tags.get("candidate", ""),
        "metric": metric,
        "value": value,
    }
