"""The `register_and_promote` step: register the best model, and make it champion only if better.

The registered version and the current champion are scored on the same held-out test set. The
`champion` alias moves only when the new version is strictly better; otherwise the version gets the
`challenger` alias. The decision and both scores are recorded as tags of the new version.
"""

from __future__ import annotations

import logging

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from .. import config
from ..Process.features import features_and_target
from .dataset_store import load_frame
from .metrics import is_better, measure_of, metric_for_split, score
from .model_logging import logged_predictions

log = logging.getLogger(__name__)

# How often promotion re-reads the champion when it moved during the comparison.
_MAX_COMPARISONS = 3


class PromotionError(RuntimeError):
    """The comparison could not be made; the champion is left as it was."""


def current_champion(model_name: str, alias: str) -> ModelVersion | None:
    """The version holding `alias`, or None when the model or the alias does not exist yet."""
    try:
        return MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def score_model(model_uri: str, test_uri: str, test_metric: str) -> float:
    """`test_metric` of the model at `model_uri` on the stored test split."""
    x_test, y_test = features_and_target(load_frame(test_uri))
    predictions = logged_predictions(model_uri, config.TASK, x_test)
    scores = score(config.TASK, y_test, predictions, "test", config.SCHEMA.positive_class)
    if test_metric not in scores:
        raise PromotionError(f"{model_uri} cannot be scored by {test_metric}: it gives no class "
                             f"probabilities")
    return scores[test_metric]


def register_and_promote(
    best: dict,
    model_name: str,
    test_uri: str,
    metric_bm: str,
    champion_alias: str = "champion",
    challenger_alias: str = "challenger",
    pipeline_run_id: str | None = None,
) -> dict:
    """Register `best` (from select_best_model) and decide whether it becomes the champion.

    The decision is recorded on the new version and, given `pipeline_run_id`, on the pipeline
    run too, beside what started it (a retraining run's asset event).
    """
    client = MlflowClient()
    test_metric = metric_for_split(metric_bm, "test")
    bigger_is_better = measure_of(config.TASK, metric_bm).bigger_is_better
    version = mlflow.register_model(best["model_uri"], model_name,
                                    tags={"source_run_id": best["run_id"],
                                          "candidate": best.get("candidate", "")}).version
    new_score = score_model(f"models:/{model_name}/{version}", test_uri, test_metric)

    for _ in range(_MAX_COMPARISONS):
        champion = current_champion(model_name, champion_alias)
        champion_score = None
        if champion is not None:
            try:
                champion_score = score_model(f"models:/{model_name}/{champion.version}",
                                             test_uri, test_metric)
            except Exception as error:
                raise PromotionError(
                    f"could not score the current {champion_alias} (version {champion.version}) "
                    f"on this run's test set: {type(error).__name__}: {error}. The champion is "
                    f"unchanged; version {version} stays unpromoted.") from error
        promoted = is_better(new_score, champion_score, bigger_is_better)
        # Another run may have moved the alias while we scored: compare again with the new one.
        now = current_champion(model_name, champion_alias)
        if (now and now.version) != (champion and champion.version):
            log.warning("%s moved during the comparison; comparing again", champion_alias)
            continue
        break
    else:
        raise PromotionError(f"the {champion_alias} alias kept moving; version {version} left "
                             f"unpromoted")

    alias = champion_alias if promoted else challenger_alias
    client.set_registered_model_alias(model_name, alias, version)
    decision = {
        "model_name": model_name,
        "version": str(version),
        "promoted": promoted,
        "alias": alias,
        "metric": test_metric,
        "score": new_score,
        "previous_champion_version": str(champion.version) if champion else None,
        "previous_champion_score": champion_score,
    }
    tags = {
        "promotion_decision": "promoted" if promoted else "not promoted: not better than champion",
        f"candidate_{test_metric}": repr(new_score),
        f"champion_{test_metric}": repr(champion_score),
        "compared_with_version": str(champion.version) if champion else "none",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if pipeline_run_id:
        for key, value in {"promotion_decision": tags["promotion_decision"],
                           "registered_version": str(version), "registered_alias": alias}.items():
            client.set_tag(pipeline_run_id, key, value)
    log.info("version %s %s=%.4f vs %s %s: %s", version, test_metric, new_score, champion_alias,
             decision["previous_champion_version"], tags["promotion_decision"])
    return decision
