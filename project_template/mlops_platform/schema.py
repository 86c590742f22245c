"""Parse a raw dataset and check it against the project's schema (pandera); name what is wrong.

Nothing is left to pandas' guessing: the bytes are decoded strictly, the header and every row are
read with the csv module first (pandas would rename a duplicate column to `x.1`, fill a short row
with NaN and skip a blank line without a word), and each cell is checked as text against its
column's type and rules before it is converted.
"""

from __future__ import annotations

import codecs
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
_SHOWN_CHARS = 40  # characters shown of one value or column name
# The largest magnitude a number may have. Beyond it, squares and sums of squares (a scaler's
# variance, a squared error) overflow float64 (max 1.8e308) on up to 1e8 rows and turn to inf or
# NaN inside training instead of failing here with the row's number.
MAX_MAGNITUDE = 1e150
# Byte-order marks of encodings that are not ASCII-compatible: a file in one of them is mistaken
# for binary garbage unless the message says what it probably is.
_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
         codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}


class DataValidationError(ValueError):
    """The dataset breaks the schema; the message says what is wrong and where."""


def _shown(value: object) -> str:
    """`value` for a message: quoted, so that spaces show, and cut short if long."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}... ({len(str(value))} chars)"


def check_size(raw: bytes, max_bytes: int | None) -> None:
    if max_bytes is not None and len(raw) > max_bytes:
        raise DataValidationError(
            f"the dataset is too large: {len(raw) / 1e6:.1f} MB, more than the {max_bytes / 1e6:g} "
            f"MB allowed; raise [data] max_mb in project.toml if the machine has the memory")


def decode(raw: bytes, encoding: str) -> str:
    """`raw` as text; an undecodable byte is an error naming its line, never a replacement."""
    if not raw.strip():
        raise DataValidationError("the dataset is empty (0 bytes of content)")
    fix = f"export it as {encoding} or set [data] encoding in project.toml"
    bom = next((name for mark, name in _BOMS.items() if raw.startswith(mark)), None)
    if bom and not encoding.lower().replace("_", "-").startswith(bom.lower()):
        raise DataValidationError(f"the dataset is not valid {encoding}: it starts with a {bom} "
                                  f"byte-order mark (encoding error); {fix}")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise DataValidationError(
            f"the dataset is not valid {encoding}: byte {raw[error.start]:#04x} at line {line} "
            f"(offset {error.start}); {fix}") from error
    if "\x00" in text:
        # Valid UTF-8, but no text file holds NUL: UTF-16 or UTF-32 without a byte-order mark,
        # or binary data.
        line = text[:text.index("\x00")].count("\n") + 1
        raise DataValidationError(f"the dataset is not valid {encoding} text: a NUL byte at line "
                                  f"{line} (UTF-16/UTF-32 or binary data?); {fix}")
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the first column name


def _plural(items: list, limit: int = _SHOWN) -> str:
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_header(header: list[str], schema: Schema, delimiter: str) -> None:
    """Blank, duplicated, missing (or renamed) columns, before pandas could rename or drop any."""
    required = [column.name for column in schema.columns]
    if len(header) == 1 and header[0] not in required and delimiter not in header[0]:
        raise DataValidationError(
            f"the header has a single column {_shown(header[0])}: the file is probably not "
            f"{delimiter!r}-separated (wrong delimiter); export it with {delimiter!r} or set "
            f"[data] delimiter in project.toml")
    blank = [position + 1 for position, name in enumerate(header) if not name.strip()]
    if blank:
        raise DataValidationError(f"the header has blank column name(s) at position(s) "
                                  f"{_plural(blank)}")
    duplicated = [_shown(name) for name, count in Counter(header).items() if count > 1]
    if duplicated:
        raise DataValidationError(f"duplicated column(s) in the header: {_plural(duplicated)}")
    missing = [name for name in required if name not in header]
    if missing:
        unexpected = [name for name in header if name not in required]
        hint = ""
        if unexpected and all(_is_number(pd.Series(unexpected, dtype=object))):
            hint = "; the first line holds numbers, not column names: the header is missing"
        elif unexpected:
            hint = (f"; columns not in the schema: "
                    f"{_plural([_shown(name) for name in unexpected])} (renamed?)")
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
    if not header:
        raise DataValidationError("the first line is blank: the header (the column names) must "
                                  "be the first line")
    while rows and not rows[-1]:
        rows.pop()  # trailing empty lines
    blank = [number for number, row in enumerate(rows, 1) if not row]
    if blank:
        raise DataValidationError(f"blank line(s) at data row(s) {_plural(blank)}")
    repeated = [number for number, row in enumerate(rows, 1) if row == header]
    if repeated:
        raise DataValidationError(f"the header appears again at data row(s) {_plural(repeated)}: "
                                  f"files joined together? keep one header line")
    ragged = [f"{number} ({len(row)})" for number, row in enumerate(rows, 1) if len(row) != len(header)]
    if ragged:
        raise DataValidationError(f"the header has {len(header)} columns but data row(s) "
                                  f"{_plural(ragged)} have another number of cells")
    return header, rows


def _is_number(text: pd.Series) -> pd.Series:
    return pd.to_numeric(text, errors="coerce").notna()


def _is_finite(text: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(text, errors="coerce")
    # A non-number is the numeric rule's failure, not this one's.
    return numbers.isna() | (numbers.abs() <= MAX_MAGNITUDE)


def _checks(column: ColumnSpec) -> list[pa.Check]:
    """The rules a column's text cells must pass (missing cells are checked by `nullable`)."""
    if column.type == "boolean":
        words = sorted(TRUE_WORDS | FALSE_WORDS)
        return [pa.Check(lambda s: s.isin(words), name="is_boolean", error=f"boolean ({'/'.join(words)})")]
    if column.type == "categorical":
        if column.categories is None:
            return []
        return [pa.Check.isin(list(column.categories), error=f"one of {list(column.categories)}")]
    checks = [pa.Check(_is_number, name="is_numeric", error="numeric"),
              pa.Check(_is_finite, name="is_finite",
                       error=f"finite (no inf, magnitude at most {MAX_MAGNITUDE:g})")]
    low, high = column.min, column.max
    if low is not None or high is not None:
        def within_bounds(s: pd.Series, low=low, high=high) -> pd.Series:
            numbers = pd.to_numeric(s, errors="coerce")
            inside = numbers.between(-float("inf") if low is None else low,
                                     float("inf") if high is None else high)
            # A non-number or an infinity is another rule's failure.
            return inside | numbers.isna() | numbers.abs().eq(float("inf"))
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
        values = [_shown(value) for value in group["failure_case"].head(_SHOWN)]
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


def check_duplicate_rows(frame: pd.DataFrame) -> None:
    """Repeated rows: a file appended to itself, or rows that would sit in train and test both."""
    repeats = frame.duplicated(keep="first")
    if repeats.any():
        first = frame.groupby(list(frame.columns), dropna=False, sort=False).ngroup()
        origin = {group: index for index, group in reversed(list(first.items()))}
        pairs = [f"{index + 1} (= {origin[first[index]] + 1})" for index in frame.index[repeats]]
        raise DataValidationError(
            f"{len(pairs)} duplicate row(s): data row(s) {_plural(pairs)} repeat an earlier row; "
            f"remove them, or set [data] allow_duplicate_rows = true in project.toml if repeats "
            f"are real observations")


def check_classes(target: pd.Series, min_rows_per_class: int) -> None:
    """A classifier needs two classes or more, each with enough rows for every split part."""
    counts = target.astype(str).value_counts()
    if len(counts) < 2:
        raise DataValidationError(f"the target {target.name!r} has a single class "
                                  f"{_shown(counts.index[0])}: a classifier needs at least two")
    rare = [f"{_shown(label)} ({count})" for label, count in counts.items()
            if count < min_rows_per_class]
    if rare:
        raise DataValidationError(
            f"target {target.name!r}: class(es) {_plural(rare)} have fewer than "
            f"{min_rows_per_class} rows, the least that gives each of the train, validation and "
            f"test parts every class; add rows of those classes or leave them out")


def parse_dataset(raw: bytes, schema: Schema, delimiter: str = ";", encoding: str = "utf-8",
                  min_rows: int = 1, *, max_bytes: int | None = None,
                  allow_duplicate_rows: bool = True, min_rows_per_class: int = 0) -> pd.DataFrame:
    """The dataset in `raw` as a validated frame of the schema's columns (features, then target).

    Columns that the schema does not name are left out; everything else that does not fit the
    schema is a `DataValidationError` naming the column, the rows and the rule. The keyword
    rules are the whole dataset's (`dataset_store.read_dataset`): its size, repeated rows, and
    for a classification target (categorical or boolean) the rows of each class.
    """
    check_size(raw, max_bytes)
    header, rows = read_rows(decode(raw, encoding), delimiter)
    check_header(header, schema, delimiter)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame[[column.name for column in schema.columns]]
    frame = frame.where(~frame.isin(MISSING_MARKERS), None)
    typed = validate_text_frame(frame, schema, min_rows)
    if not allow_duplicate_rows:
        check_duplicate_rows(typed)
    if min_rows_per_class and schema.target.type != "numeric":
        check_classes(typed[schema.target.name], min_rows_per_class)
    return typed


def to_csv_bytes(frame: pd.DataFrame, delimiter: str = ";", encoding: str = "utf-8") -> bytes:
    """`frame` as the CSV `parse_dataset` reads back to the same values."""
    return frame.to_csv(sep=delimiter, index=False, lineterminator="\n").encode(encoding)
