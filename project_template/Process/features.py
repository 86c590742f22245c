"""The seeded train/validation/test split and the feature pipeline every candidate shares."""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .. import config


def split_dataset(
    frame: pd.DataFrame,
    validation_fraction: float = config.VALIDATION_FRACTION,
    test_fraction: float = config.TEST_FRACTION,
    seed: int = config.RANDOM_SEED,
) -> dict[str, pd.DataFrame]:
    """Split rows into train, validation and test; the same data and seed give the same split."""
    rest, test = train_test_split(frame, test_size=test_fraction, random_state=seed)
    validation, train = train_test_split(
        rest, train_size=validation_fraction / (1 - test_fraction), random_state=seed)
    return {"train": train, "validation": validation, "test": test}


def features_and_target(
    frame: pd.DataFrame, target_column: str = config.TARGET_COLUMN
) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[target_column]), frame[target_column]


def build_feature_pipeline(estimator: BaseEstimator) -> Pipeline:
    """Scaling and the estimator in one pipeline, so the logged model takes raw feature columns."""
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])
