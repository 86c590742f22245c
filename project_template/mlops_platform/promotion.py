"""The `register_and_promote` step: register the best model, and make it champion only if better.

The registered version and the current champion are scored on the same held-out test set. The
`champion` alias moves only when the new version is strictly better; otherwise the version gets the
`challenger` alias. The decision and both scores are recorded as tags of the new version.

The champion is read, compared with and replaced under the model's promotion lock, so two runs
promoting the same model at once decide one after the other, the second against the first's
result. A retry never registers the run's model twice: it finds the version an earlier try
registered by its `source_run_id` tag, and returns the decision that try recorded, if any.
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
from .promotion_lock import promotion_lock
from .tracking import quoted

log = logging.getLogger(__name__)

# How often promotion re-reads the champion when it moved during the comparison (only a change
# made outside promotion, by hand, can: promotions hold the lock).
_MAX_COMPARISONS = 3
SOURCE_RUN_TAG = "source_run_id"
DECISION_TAG = "promotion_decision"
COMPARED_WITH_TAG = "compared_with_version"


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


def registered_version(model_name: str, best: dict) -> ModelVersion:
    """The version of `best`'s model: the one an earlier try registered, else a new one."""
    earlier = MlflowClient().search_model_versions(
        f"name = {quoted(model_name)} and tags.{SOURCE_RUN_TAG} = {quoted(best['run_id'])}")
    if earlier:
        version = min(earlier, key=lambda found: int(found.version))
        log.info("version %s of %s already holds run %s's model (an earlier try registered it)",
                 version.version, model_name, best["run_id"])
        return version
    return mlflow.register_model(best["model_uri"], model_name,
                                 tags={SOURCE_RUN_TAG: best["run_id"],
                                       "candidate": best.get("candidate", "")})


def recorded_decision(model_name: str, version: str, test_metric: str,
                      champion_alias: str, challenger_alias: str) -> dict | None:
    """The decision recorded in `version`'s tags, None while it has none for `test_metric`."""
    tags = MlflowClient().get_model_version(model_name, version).tags
    if DECISION_TAG not in tags or f"candidate_{test_metric}" not in tags:
        return None
    promoted = tags[DECISION_TAG] == "promoted"
    previous = tags.get(COMPARED_WITH_TAG, "none")
    champion_score = tags.get(f"champion_{test_metric}", "None")
    return {
        "model_name": model_name,
        "version": str(version),
        "promoted": promoted,
        "alias": champion_alias if promoted else challenger_alias,
        "metric": test_metric,
        "score": float(tags[f"candidate_{test_metric}"]),
        "previous_champion_version": None if previous == "none" else previous,
        "previous_champion_score": None if champion_score == "None" else float(champion_score),
    }


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

    With `pipeline_run_id`, the decision is also tagged on that pipeline run.
    """
    client = MlflowClient()
    test_metric = metric_for_split(metric_bm, "test")
    bigger_is_better = measure_of(config.TASK, metric_bm).bigger_is_better
    version = registered_version(model_name, best).version
    decision = recorded_decision(model_name, version, test_metric, champion_alias,
                                 challenger_alias)
    if decision is not None:
        log.info("version %s was decided by an earlier try: %s", version, decision)
        _tag_pipeline_run(pipeline_run_id, decision)
        return decision
    new_score = score_model(f"models:/{model_name}/{version}", test_uri, test_metric)

    with promotion_lock(model_name):
        champion = current_champion(model_name, champion_alias)
        if champion is not None and str(champion.version) == str(version):
            # An earlier try moved the alias, then failed before it recorded the decision; what it
            # compared with is in the tags it wrote before moving the alias.
            promoted = True
            if f"candidate_{test_metric}" not in champion.tags:  # the alias was set by hand
                _record_comparison(model_name, version, test_metric, new_score, None, None)
        else:
            champion, champion_score = _compare(model_name, version, champion_alias, test_uri,
                                                test_metric)
            promoted = is_better(new_score, champion_score, bigger_is_better)
            # What this decision compared, written before the alias moves (see above).
            _record_comparison(model_name, version, test_metric, new_score, champion,
                               champion_score)
            client.set_registered_model_alias(
                model_name, champion_alias if promoted else challenger_alias, version)
        client.set_model_version_tag(
            model_name, version, DECISION_TAG,
            "promoted" if promoted else "not promoted: not better than champion")
    decision = recorded_decision(model_name, version, test_metric, champion_alias,
                                 challenger_alias)
    log.info("version %s %s=%.4f vs %s %s (%s): %s", version, test_metric, new_score,
             champion_alias, decision["previous_champion_version"],
             decision["previous_champion_score"], "promoted" if promoted else "not promoted")
    _tag_pipeline_run(pipeline_run_id, decision)
    return decision


def _tag_pipeline_run(pipeline_run_id: str | None, decision: dict) -> None:
    """The decision on the pipeline run too, where a retraining run's story is read."""
    if not pipeline_run_id:
        return
    tags = MlflowClient().get_model_version(decision["model_name"], decision["version"]).tags
    for key, value in {DECISION_TAG: tags[DECISION_TAG], "registered_version": decision["version"],
                       "registered_alias": decision["alias"]}.items():
        MlflowClient().set_tag(pipeline_run_id, key, value)


def _record_comparison(model_name: str, version: str, test_metric: str, new_score: float,
                       champion: ModelVersion | None, champion_score: float | None) -> None:
    tags = {f"candidate_{test_metric}": repr(new_score),
            f"champion_{test_metric}": repr(champion_score),
            COMPARED_WITH_TAG: str(champion.version) if champion else "none"}
    for key, value in tags.items():
        MlflowClient().set_model_version_tag(model_name, version, key, value)


def _compare(model_name: str, version: str, champion_alias: str, test_uri: str,
             test_metric: str) -> tuple[ModelVersion | None, float | None]:
    """The current champion and its test score; read again if it moved while being scored."""
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
        now = current_champion(model_name, champion_alias)
        if (now and now.version) == (champion and champion.version):
            return champion, champion_score
        log.warning("%s moved during the comparison (by hand: promotions hold the lock); "
                    "comparing again", champion_alias)
    raise PromotionError(f"the {champion_alias} alias kept moving; version {version} left "
                         f"unpromoted")
