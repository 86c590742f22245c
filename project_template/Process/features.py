"""The feature steps every candidate shares, fitted inside the model so it takes raw rows."""

from __future__ import annotations

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .. import config
from ..mlops_platform.description import Schema


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The feature columns (in the schema's order) and the target of a validated frame."""
    return frame[list(config.FEATURE_COLUMNS)], frame[config.TARGET_COLUMN]


def feature_steps(schema: Schema = config.SCHEMA) -> ColumnTransformer:
    """Scale numeric columns, one-hot encode categorical ones, pass booleans through.

    Missing values (only in columns the schema marks nullable) are imputed first: the median of a
    number, the most frequent category. A category never seen in training encodes as all zeros.
    """
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="most_frequent"),
                                OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    boolean = SimpleImputer(strategy="most_frequent")
    return ColumnTransformer([
        ("numeric", numeric, schema.features_of_type("numeric")),
        ("categorical", categorical, schema.features_of_type("categorical")),
        ("boolean", boolean, schema.features_of_type("boolean")),
    ])


def build_model(estimator: BaseEstimator) -> Pipeline:
    """The feature steps and the estimator in one pipeline: the logged model takes raw columns."""
    return Pipeline([("features", feature_steps()), ("model", estimator)])
