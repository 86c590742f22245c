"""Parse a raw dataset and check it against the project's schema (pandera); name what is wrong.

Nothing is left to pandas' guessing: the bytes are decoded strictly, the header and every row are
read with the csv module first (pandas would rename a duplicate column to `x.1`, fill a short row
with NaN and skip a blank line without a word), and each cell is checked as text against its
column's type and rules before it is converted.
"""

from __future__ import annotations

import csv
import io
from collections import Counter

import pandas as pd
import pandera.pandas as pa

from .description import ColumnSpec, Schema

# The cells that mean "missing". Only these: "NA" may be a category (North America).
MISSING_MARKERS = frozenset({"", "NaN", "nan", "null"})
TRUE_WORDS = frozenset({"true", "True", "TRUE", "1", "yes"})
FALSE_WORDS = frozenset({"false", "False", "FALSE", "0", "no"})
_SHOWN = 5  # rows and values shown per rule in an error message


class DataValidationError(ValueError):
    """The dataset breaks the schema; the message says what is wrong and where."""


def decode(raw: bytes, encoding: str) -> str:
    """`raw` as text; an undecodable byte is an error naming its line, never a replacement."""
    if not raw.strip():
        raise DataValidationError("the dataset is empty (0 bytes of content)")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise DataValidationError(
            f"the dataset is not valid {encoding}: byte {raw[error.start]:#04x} at line {line} "
            f"(offset {error.start}); export it as {encoding} or set [data] encoding in "
            f"project.toml") from error
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the first column name


def _plural(items: list, limit: int = _SHOWN) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_header(header: list[str], schema: Schema, delimiter: str) -> None:
    """Blank, duplicated, missing (or renamed) columns, before pandas could rename or drop any."""
    required = [column.name for column in schema.columns]
    blank = [position + 1 for position, name in enumerate(header) if not name.strip()]
    if blank:
        raise DataValidationError(f"the header has blank column name(s) at position(s) "
                                  f"{_plural(blank)}")
    duplicated = [name for name, count in Counter(header).items() if count > 1]
    if duplicated:
        raise DataValidationError(f"duplicated column(s) in the header: {_plural(duplicated)}")
    missing = [name for name in required if name not in header]
    if missing:
        if len(header) == 1 and delimiter not in header[0]:
            raise DataValidationError(
                f"the header has a single column {header[0][:80]!r}: the file is probably not "
                f"{delimiter!r}-separated (wrong delimiter)")
        unexpected = [name for name in header if name not in required]
        hint = f"; columns not in the schema: {_plural(unexpected)} (renamed?)" if unexpected else ""
        # Every missing column, not the first few: the list is the to-do list of the fix.
        raise DataValidationError(f"missing required column(s): {', '.join(missing)}{hint}")


def read_rows(text: str, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows as text; every row must have one cell per header column."""
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                                quotechar='"', strict=True))
    except csv.Error as error:
        raise DataValidationError(f"the dataset is not a valid {delimiter!r}-separated CSV: "
                                  f"{error}") from error
    if not lines:
        raise DataValidationError("the dataset is empty: no header and no rows")
    header, rows = lines[0], lines[1:]
    while rows and not rows[-1]:
        rows.pop()  # trailing empty lines
    blank = [number for number, row in enumerate(rows, 1) if not row]
    if blank:
        raise DataValidationError(f"blank line(s) at data row(s) {_plural(blank)}")
    ragged = [f"{number} ({len(row)})" for number, row in enumerate(rows, 1) if len(row) != len(header)]
    if ragged:
        raise DataValidationError(f"the header has {len(header)} columns but data row(s) "
                                  f"{_plural(ragged)} have another number of cells")
    return header, rows


def _is_number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce").notna()


def _checks(column: ColumnSpec) -> list[pa.Check]:
    """The rules a column's text cells must pass (missing cells are checked by `nullable`)."""
    if column.type == "boolean":
        words = sorted(TRUE_WORDS | FALSE_WORDS)
        return [pa.Check(lambda s: s.isin(words), name="is_boolean", error=f"boolean ({'/'.join(words)})")]
    if column.type == "categorical":
        if column.categories is None:
            return []
        return [pa.Check.isin(list(column.categories), error=f"one of {list(column.categories)}")]
    checks = [pa.Check(_is_number, name="is_numeric", error="numeric")]
    low, high = column.min, column.max
    if low is not None or high is not None:
        def within_bounds(s: pd.Series, low=low, high=high) -> pd.Series:
            numbers = pd.to_numeric(s, errors="coerce")
            inside = numbers.between(-float("inf") if low is None else low,
                                     float("inf") if high is None else high)
            return inside | numbers.isna()  # a non-number is the numeric rule's failure
        rule = f"in range [{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        checks.append(pa.Check(within_bounds, name="value_range", error=rule))
    return checks


def _pandera_schema(schema: Schema) -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        column.name: pa.Column(None, checks=_checks(column), nullable=column.nullable)
        for column in schema.columns
    })


def _describe_failures(failures: pd.DataFrame) -> str:
    """One line per column and rule: the data rows (1-based) and the first offending values."""
    lines = []
    for (column, rule), group in failures.groupby(["column", "check"], sort=False):
        rows = [int(index) + 1 for index in group["index"] if pd.notna(index)]
        values = [repr(value) for value in group["failure_case"].head(_SHOWN)]
        rule = "not missing" if rule == "not_nullable" else rule
        lines.append(f"column {column!r} must be {rule}: {len(rows)} row(s) fail, data row(s) "
                     f"{_plural(rows)}" + (f" (values {', '.join(values)})"
                                           if rule != "not missing" else ""))
    return "; ".join(lines)


def _typed(text: pd.Series, column: ColumnSpec) -> pd.Series:
    if column.type == "numeric":
        return pd.to_numeric(text, errors="raise").astype("float64")
    if column.type == "boolean":
        return text.map(lambda cell: None if pd.isna(cell) else cell in TRUE_WORDS).astype("boolean")
    return text.astype(object)  # categories stay text, exactly as written


def validate_text_frame(frame: pd.DataFrame, schema: Schema, min_rows: int) -> pd.DataFrame:
    """Check a frame of text cells (missing as None) and return it typed, schema columns only."""
    if len(frame) == 0:
        raise DataValidationError("the dataset has a header but no rows")
    try:
        _pandera_schema(schema).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        raise DataValidationError(_describe_failures(errors.failure_cases)) from None
    if len(frame) < min_rows:
        raise DataValidationError(f"the dataset has {len(frame)} rows; at least {min_rows} are "
                                  f"needed for a train/validation/test split")
    return pd.DataFrame({column.name: _typed(frame[column.name], column)
                         for column in schema.columns}, index=frame.index)


def parse_dataset(raw: bytes, schema: Schema, delimiter: str = ";", encoding: str = "utf-8",
                  min_rows: int = 1) -> pd.DataFrame:
    """The dataset in `raw` as a validated frame of the schema's columns (features, then target).

    Columns that the schema does not name are left out; everything else that does not fit the
    schema is a `DataValidationError` naming the column, the rows and the rule.
    """
    header, rows = read_rows(decode(raw, encoding), delimiter)
    check_header(header, schema, delimiter)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame[[column.name for column in schema.columns]]
    frame = frame.where(~frame.isin(MISSING_MARKERS), None)
    return validate_text_frame(frame, schema, min_rows)


def to_csv_bytes(frame: pd.DataFrame, delimiter: str = ";", encoding: str = "utf-8") -> bytes:
    """`frame` as the CSV `parse_dataset` reads back to the same values."""
    return frame.to_csv(sep=delimiter, index=False, lineterminator="\n").encode(encoding)
