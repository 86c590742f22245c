"""The `model_training` step's own part: fit one candidate on the training frame.

The platform (mlops_platform/training.py) loads the split, calls this, scores the fitted model
and logs it to MLflow with its lineage.
"""

from __future__ import annotations

import pandas as pd
from sklearn.pipeline import Pipeline

from ..Process.features import build_model
from .candidates import build_estimator


def train_model(candidate: dict, features: pd.DataFrame, target: pd.Series) -> Pipeline:
    """The candidate's estimator inside the feature steps, fitted on raw feature columns."""
    return build_model(build_estimator(candidate)).fit(features, target)
