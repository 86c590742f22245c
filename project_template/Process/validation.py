"""Parse the raw CSV and check it against the project's schema; name the problem when it fails."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from .. import config


class DataValidationError(ValueError):
    """The dataset breaks the schema; the message says what is wrong and where."""


def parse_csv(raw: bytes, delimiter: str = config.CSV_DELIMITER) -> pd.DataFrame:
    """Read `raw` as a delimited CSV with a header; an empty file is a validation error."""
    if not raw.strip():
        raise DataValidationError("the dataset is empty (0 bytes of content)")
    try:
        return pd.read_csv(io.BytesIO(raw), sep=delimiter, quotechar='"')
    except pd.errors.EmptyDataError as error:
        raise DataValidationError("the dataset is empty: no header and no rows") from error
    except pd.errors.ParserError as error:
        raise DataValidationError(f"the dataset is not a valid {delimiter!r}-separated CSV: "
                                  f"{error}") from error


def validate_frame(
    frame: pd.DataFrame,
    feature_columns: Sequence[str] = config.FEATURE_COLUMNS,
    target_column: str = config.TARGET_COLUMN,
    min_rows: int = config.MIN_ROWS,
    delimiter: str = config.CSV_DELIMITER,
) -> pd.DataFrame:
    """Return the frame with only the schema's columns, all numeric; raise on any violation."""
    required = [*feature_columns, target_column]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        if len(frame.columns) == 1 and delimiter not in str(frame.columns[0]):
            raise DataValidationError(
                f"the header has a single column {str(frame.columns[0])[:80]!r}: the file is "
                f"probably not {delimiter!r}-separated (wrong delimiter)")
        raise DataValidationError(f"missing required column(s): {', '.join(missing)} "
                                  f"(found: {', '.join(map(str, frame.columns))})")
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataValidationError(f"duplicated column(s): {', '.join(duplicated)}")
    frame = frame[required]
    if len(frame) == 0:
        raise DataValidationError("the dataset has a header but no rows")

    for column in required:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column].notna() & numbers.isna()
        if bad.any():
            row = int(bad.idxmax())
            raise DataValidationError(
                f"column {column!r} must be numeric but has {int(bad.sum())} non-numeric "
                f"value(s), first {frame[column][row]!r} in data row {row + 1}")

    # NaN policy: reject. Silently dropping or imputing would hide a broken upstream export.
    missing_counts = frame.isna().sum()
    missing_counts = missing_counts[missing_counts > 0]
    if not missing_counts.empty:
        detail = ", ".join(f"{column} ({count})" for column, count in missing_counts.items())
        raise DataValidationError(f"missing values (NaN) in column(s): {detail}; the NaN policy "
                                  f"is to reject incomplete datasets")
    if len(frame) < min_rows:
        raise DataValidationError(f"the dataset has {len(frame)} rows; at least {min_rows} "
                                  f"are needed for a train/validation/test split")
    return frame.astype("float64")


def parse_and_validate(raw: bytes) -> pd.DataFrame:
    """The dataset in `raw` as a validated, all-numeric frame."""
    return validate_frame(parse_csv(raw))
