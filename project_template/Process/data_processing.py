"""The `data_processing` step: split the validated dataset into train, validation and test."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import config


def split_dataset(
    frame: pd.DataFrame,
    validation_fraction: float = config.VALIDATION_FRACTION,
    test_fraction: float = config.TEST_FRACTION,
    seed: int = config.RANDOM_SEED,
) -> dict[str, pd.DataFrame]:
    """Split rows into train, validation and test; the same data and seed give the same split.

    A classification split is stratified by the target, so every part holds every class in the
    same proportions (its metrics, ROC AUC above all, need them).
    """
    def stratify(part: pd.DataFrame) -> pd.Series | None:
        return part[config.TARGET_COLUMN] if config.TASK == "classification" else None

    rest, test = train_test_split(frame, test_size=test_fraction, random_state=seed,
                                  stratify=stratify(frame))
    validation, train = train_test_split(
        rest, train_size=validation_fraction / (1 - test_fraction), random_state=seed,
        stratify=stratify(rest))
    return {"train": train, "validation": validation, "test": test}
