"""A classifier as an MLflow model: class labels by default, class probabilities on request.

Logged as "models from code": MLflow stores this file inside the model, so whoever loads the
model (the model server, `mlflow.pyfunc.load_model`) needs only MLflow, scikit-learn, skops and
pandas, none of the project's code. A request asks for probabilities with the scoring protocol's
params: `{"dataframe_split": ..., "params": {"predict_method": "predict_proba"}}`.
"""

import json
from pathlib import Path

import mlflow
import pandas as pd
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PythonModel

PREDICT_METHODS = ("predict", "predict_proba")


class ClassifierModel(PythonModel):
    def load_context(self, context) -> None:
        trusted = json.loads(Path(context.artifacts["trusted_types"]).read_text())
        self.classifier = skops.io.load(context.artifacts["classifier"], trusted=trusted)

    def predict(self, context, model_input, params=None):
        method = (params or {}).get("predict_method") or "predict"
        if method == "predict":
            return self.classifier.predict(model_input)
        if method == "predict_proba":
            return pd.DataFrame(self.classifier.predict_proba(model_input),
                                columns=[str(label) for label in self.classifier.classes_])
        raise MlflowException.invalid_parameter_value(
            f"params.predict_method {method!r}: use one of {', '.join(PREDICT_METHODS)}")


mlflow.models.set_model(ClassifierModel())
