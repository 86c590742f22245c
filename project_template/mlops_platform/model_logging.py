"""How a fitted model is saved to MLflow (skops, signature, pinned requirements) and scored."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
import skops.io
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from .metrics import Predictions

CLASSIFIER_CODE = Path(__file__).with_name("classifier_model.py")
# The request parameter of a classifier's model, with its default (labels).
PREDICT_METHOD = {"predict_method": "predict"}


def skops_trusted_types(model: object) -> list[str]:
    # skops refuses to load types it does not trust (tree models hold `sklearn.tree._tree.Tree`).
    # Trust exactly the types this model contains; MLflow checks the model loads before logging.
    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def _requirements() -> list[str]:
    # Stated, not inferred: inference loads the model in a subprocess (about 20 s on two cores)
    # only to find scikit-learn and skops, which is what these pin.
    return mlflow.sklearn.get_default_pip_requirements(include_skops=True)


def log_fitted_model(model, task: str, features: pd.DataFrame) -> ModelInfo:
    """Log `model` as the active run's `model`; a classifier answers labels or probabilities."""
    example = features.head(5)
    if task != "classification":
        return mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(features, model.predict(features)),
            input_example=example, serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=skops_trusted_types(model), pip_requirements=_requirements())
    with tempfile.TemporaryDirectory() as folder:
        saved, trusted = Path(folder) / "classifier.skops", Path(folder) / "trusted_types.json"
        skops.io.dump(model, saved)
        trusted.write_text(json.dumps(skops_trusted_types(model)))
        return mlflow.pyfunc.log_model(
            name="model", python_model=str(CLASSIFIER_CODE),
            artifacts={"classifier": str(saved), "trusted_types": str(trusted)},
            signature=infer_signature(features, model.predict(features), params=PREDICT_METHOD),
            input_example=example, pip_requirements=[*_requirements(), f"pandas=={pd.__version__}"],
            # MLflow would copy the uv.lock and pyproject.toml of the process's working directory
            # (the repository, when run from there) into the model; the requirements are stated.
            uv_project_path=str(CLASSIFIER_CODE.parent))


def fitted_predictions(model, features: pd.DataFrame) -> Predictions:
    """A fitted estimator's predictions, and its class probabilities if it has any."""
    probabilities = None
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        probabilities = pd.DataFrame(model.predict_proba(features),
                                     columns=[str(label) for label in model.classes_])
    return Predictions(model.predict(features), probabilities)


def logged_predictions(model_uri: str, task: str, features: pd.DataFrame) -> Predictions:
    """The predictions of a logged model as a client loads it (labels and probabilities)."""
    model = mlflow.pyfunc.load_model(model_uri)
    values = model.predict(features)
    if task != "classification":
        return Predictions(values)
    probabilities = model.predict(features, params={"predict_method": "predict_proba"})
    return Predictions(values, probabilities)
