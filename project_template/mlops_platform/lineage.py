"""What the champion was trained on, found through lineage only: the version, its source run, and
that run's `training` dataset input."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from .dataset_store import source_uri
from .promotion import current_champion
from .tracking import DATA_VERSION_TAG

TRAINING_CONTEXT = "training"


class LineageError(RuntimeError):
    """The champion's training data cannot be found from its lineage; the message says where the
    chain broke."""


@dataclass(frozen=True)
class ChampionLineage:
    model_name: str
    version: str
    run_id: str  # the run that trained the version
    training_data_uri: str  # the stored copy of its training split
    data_version: str | None  # the content hash of the dataset the split came from
    recorded_scores: dict[str, float]  # the version's test scores recorded at promotion


def champion_lineage(model_name: str, alias: str, client: MlflowClient | None = None
                     ) -> ChampionLineage | None:
    """The champion's lineage, or None when there is no champion yet."""
    client = client or MlflowClient()
    version = current_champion(model_name, alias)
    if version is None:
        return None
    where = f"{model_name} version {version.version} ({alias})"
    if not version.run_id:
        raise LineageError(f"{where} has no source run")
    run = client.get_run(version.run_id)
    training = [dataset_input.dataset for dataset_input in run.inputs.dataset_inputs
                if any(tag.key == MLFLOW_DATASET_CONTEXT and tag.value == TRAINING_CONTEXT
                       for tag in dataset_input.tags)]
    if len(training) != 1:
        raise LineageError(f"{where}: its run {version.run_id} has {len(training)} dataset inputs "
                           f"with context {TRAINING_CONTEXT!r}, expected one")
    # promotion.py records each version's test score as `candidate_<metric>_test`.
    scores = {key.removeprefix("candidate_"): float(value) for key, value in version.tags.items()
              if key.startswith("candidate_") and key.endswith("_test")}
    return ChampionLineage(
        model_name=model_name, version=str(version.version), run_id=version.run_id,
        training_data_uri=source_uri(json.loads(training[0].source)),
        data_version=run.data.tags.get(DATA_VERSION_TAG), recorded_scores=scores)
